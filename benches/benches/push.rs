//! MDM pushes per second to the APNs emulator on loopback (HTTP/2 over
//! TLS, the push certificate as the client certificate), through
//! `mdmkit_apple::apns::client::ApnsClient::push_all`, against a bare
//! HTTP/2 client sending the same requests in the same run.
//!
//! The baseline is hyper's HTTP/2 connection API on one tokio-rustls
//! connection with the same TLS configuration (aws-lc-rs, the same client
//! certificate), every request of a batch in flight at once, each answer's
//! status read and its body drained: what any provider must do at least,
//! without request building from a `PushRequest`, outcome typing, the
//! semaphore or the connection pool.
//!
//! A batch is 1,000 pushes to distinct tokens (the emulator answers 200 and
//! does not record them). `push_paired`, printed, is mdmkit's rate as a
//! share of the baseline's, measured in alternating blocks so that both
//! see the same machine; the target is at least 80 %.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mdmkit::apple::apns::OutcomeClass;
use mdmkit::apple::apns::PushRequest;
use mdmkit::apple::apns::certificate::PushCertificate;
use mdmkit::apple::apns::client::ApnsClient;
use mdmkit::apple::apns::emulator::{ApnsEmulator, test_push_certificate};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::runtime::Runtime;

const TOPIC: &str = "com.apple.mgmt.External.bench0000-0000-4000-8000-000000000000";
const BATCH: usize = 1_000;

fn requests() -> Vec<PushRequest> {
    (0..BATCH)
        .map(|i| {
            PushRequest::from_hex(TOPIC, "bench-magic", &format!("{i:064x}"))
                .unwrap()
                .with_expiration(4_000_000_000)
        })
        .collect()
}

/// The bare client: one HTTP/2 connection over tokio-rustls.
#[derive(Clone)]
struct Bare {
    send: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    base: String,
}

impl Bare {
    async fn connect(emu: &ApnsEmulator, cert_pem: &str, key_pem: &str) -> Bare {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(emu.root_der())).unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let base = emu.url();
        let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tcp.set_nodelay(true).unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap();
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        Bare { send, base }
    }

    /// The same requests, all in flight at once; how many answered 200.
    async fn push_all(&self, reqs: &[PushRequest]) -> usize {
        let mut set = tokio::task::JoinSet::new();
        for r in reqs {
            let mut b =
                hyper::Request::builder()
                    .method("POST")
                    .uri(format!("{}{}", self.base, r.path()));
            for (k, v) in r.headers() {
                b = b.header(k, v);
            }
            let req = b
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(r.body())))
                .unwrap();
            let mut send = self.send.clone();
            set.spawn(async move {
                let resp = send.send_request(req).await.unwrap();
                let ok = resp.status() == 200;
                let _ = resp.into_body().collect().await.unwrap();
                ok
            });
        }
        let mut ok = 0;
        while let Some(r) = set.join_next().await {
            ok += usize::from(r.unwrap());
        }
        ok
    }
}

struct Setup {
    rt: Runtime,
    client: ApnsClient,
    bare: Bare,
    reqs: Vec<PushRequest>,
    _emu: ApnsEmulator,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let (emu, client, bare) = rt.block_on(async {
        let emu = ApnsEmulator::start().await.unwrap();
        emu.set_recording(false);
        let t = test_push_certificate(TOPIC, 30);
        let cert = PushCertificate::from_pem(t.cert_pem.as_bytes(), t.key_pem.as_bytes()).unwrap();
        let client = ApnsClient::new(&cert, &emu.config()).unwrap();
        let bare = Bare::connect(&emu, &t.cert_pem, &t.key_pem).await;
        (emu, client, bare)
    });
    let s = Setup {
        rt,
        client,
        bare,
        reqs: requests(),
        _emu: emu,
    };
    // Warm both: connections, TLS sessions, HPACK tables.
    for _ in 0..3 {
        s.mdmkit_batch();
        s.bare_batch();
    }
    s
}

impl Setup {
    fn mdmkit_batch(&self) {
        let out = self.rt.block_on(self.client.push_all(self.reqs.clone()));
        assert!(out.iter().all(|o| o.class() == OutcomeClass::Delivered));
    }

    fn bare_batch(&self) {
        let ok = self.rt.block_on(self.bare.push_all(&self.reqs));
        assert_eq!(ok, BATCH);
    }
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("push");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("apns_client_1000", |b| b.iter(|| s.mdmkit_batch()));
    g.bench_function("bare_h2_1000", |b| b.iter(|| s.bare_batch()));
    g.finish();

    // Paired: alternating blocks of five batches each, twenty rounds.
    let (mut ours, mut base) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..20 {
        let t = Instant::now();
        for _ in 0..5 {
            s.mdmkit_batch();
        }
        ours += t.elapsed();
        let t = Instant::now();
        for _ in 0..5 {
            s.bare_batch();
        }
        base += t.elapsed();
    }
    let n = (20 * 5 * BATCH) as f64;
    let (r_ours, r_base) = (n / ours.as_secs_f64(), n / base.as_secs_f64());
    println!(
        "push_paired: mdmkit {r_ours:.0} pushes/s, bare HTTP/2 {r_base:.0} pushes/s, ratio {:.1} %",
        100.0 * r_ours / r_base
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
