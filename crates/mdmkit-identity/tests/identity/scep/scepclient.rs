//! micromdm's `scepclient` (Debian package `scep`) enrolls against the
//! library over a minimal loopback HTTP server: GetCACaps, GetCACert and a
//! PKIOperation whose request is parsed, decrypted, issued and answered.
//! `scripts/test` installs the package; without `scepclient` the test
//! fails.
//!
//! It also saves the captured request as a seed of the `identity_scep` fuzz
//! target when `MDMKIT_SCEP_SEED` names a file; `MDMKIT_SCEP_RA=path` then
//! answers as the RA in `path.pem` and `path.key` (the fuzz target's).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use mdmkit_core::DeviceId;
use mdmkit_identity::IssueRequest;
use mdmkit_identity::scep::{self, Limits, PkiMessage, RaIdentity};

use super::fixture;

fn respond(stream: &mut impl Write, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    let s = s.replace(' ', "+");
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s.trim()))
        .unwrap()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn scepclient_enrolls_through_the_library() {
    let f = fixture();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let captured: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = Arc::clone(&captured);
    let ra: &'static RaIdentity = match std::env::var("MDMKIT_SCEP_RA") {
        Ok(path) => Box::leak(Box::new(
            RaIdentity::from_pem(&mdmkit_identity::scep::RaPem::new(
                std::fs::read_to_string(format!("{path}.pem")).unwrap(),
                std::fs::read_to_string(format!("{path}.key")).unwrap(),
            ))
            .unwrap(),
        )),
        Err(_) => &f.ra,
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            eprintln!("scepclient: {}", request_line.trim());
            let target = request_line.split(' ').nth(1).unwrap_or("");
            let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
            let param = |name: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .map(percent_decode)
            };
            match param("operation").as_deref() {
                Some("GetCACaps") => {
                    respond(&mut stream, "text/plain", scep::capabilities().as_bytes())
                }
                Some("GetCACert") => {
                    let f = fixture();
                    let body = scep::ca_certs(
                        &[f.ca.root_der(), f.ca.intermediate_der().unwrap()],
                        ra.certificate_der(),
                    );
                    respond(&mut stream, scep::CA_RA_CERT_CONTENT_TYPE, &body);
                }
                Some("PKIOperation") => {
                    let der = if body.is_empty() {
                        base64_decode(&param("message").unwrap())
                    } else {
                        body
                    };
                    seen.lock().unwrap().push(der.clone());
                    let f = fixture();
                    let reply = match PkiMessage::parse(&der, &Limits::default()) {
                        Ok(msg) => match msg.decrypt(ra) {
                            Ok(csr) => {
                                assert_eq!(csr.challenge_password(), Some("otp-scepclient"));
                                let cert =
                                    f.ca.issue(
                                        &csr,
                                        &IssueRequest::new(DeviceId::new("scepclient-1").unwrap()),
                                    )
                                    .unwrap();
                                msg.success(ra, &cert.der, &[]).unwrap()
                            }
                            Err(e) => {
                                eprintln!("decrypt: {e}");
                                msg.failure(ra, e.fail_info()).unwrap()
                            }
                        },
                        Err(e) => panic!("scepclient's request does not parse: {e}"),
                    };
                    respond(&mut stream, scep::PKI_MESSAGE_CONTENT_TYPE, &reply);
                }
                other => panic!("unexpected operation {other:?}"),
            }
        }
    });

    // scepclient 2.1 encrypts to every certificate of GetCACert unless told
    // which one: with a P-256 tenant CA it must be pointed at the RA.
    let ra_fingerprint = mdmkit_identity::Fingerprint::of(ra.certificate_der()).to_hex();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("scepclient")
        .args([
            "-ca-fingerprint",
            &ra_fingerprint,
            "-server-url",
            &format!("http://127.0.0.1:{port}/scep"),
            "-challenge",
            "otp-scepclient",
            "-private-key",
            "device.key",
            "-certificate",
            "device.pem",
            "-cn",
            "scepclient-device",
            "-debug",
        ])
        .current_dir(dir.path())
        .output()
        .expect("scepclient is installed (apt-get install scep)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{log}");
    assert!(out.status.success(), "scepclient failed: {log}");
    let pem = std::fs::read_to_string(dir.path().join("device.pem")).unwrap();
    let id =
        f.ca.verifier()
            .verify(
                pem.as_bytes(),
                mdmkit_identity::time::OffsetDateTime::now_utc(),
            )
            .unwrap();
    assert_eq!(id.device_id.as_str(), "scepclient-1");
    let requests = captured.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let msg = PkiMessage::parse(&requests[0], &Limits::default()).unwrap();
    eprintln!(
        "scepclient signs with {} and encrypts with {}",
        msg.digest_algorithm(),
        msg.content_cipher().unwrap()
    );
    if let Ok(path) = std::env::var("MDMKIT_SCEP_SEED") {
        std::fs::write(path, &requests[0]).unwrap();
    }
}
