#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! SyncML read and write next to quick-xml's raw event scan of the same
//! bytes (the floor any typed reader on quick-xml pays).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::windows::syncml::{
    Command, Container, Data, Format, Item, ItemCommand, Meta, SyncHdr, SyncMl,
};
use quick_xml::Reader;
use quick_xml::events::Event;

/// A server message of `n` commands shaped like a policy push: mostly
/// Replace of a Policy CSP node, every tenth an Add of an escaped WLAN
/// profile, every twentieth an Atomic of two.
fn message(n: usize) -> SyncMl {
    let mut commands = Vec::with_capacity(n);
    for i in 0..n {
        let c = if i % 10 == 9 {
            Command::Add(ItemCommand::new(
                i as u64,
                Item::target(format!("./Vendor/MSFT/WiFi/Profile/Net{i}/WlanXml"))
                    .with_meta(Meta::format(Format::Chr))
                    .with_data(Data::text(format!(
                        "<WLANProfile xmlns=\"http://www.microsoft.com/networking/WLAN/profile/v1\"><name>Net{i} &amp; co</name><SSIDConfig><SSID><name>Net{i}</name></SSID></SSIDConfig></WLANProfile>"
                    ))),
            ))
        } else if i % 20 == 4 {
            Command::Atomic(Container {
                cmd_id: Some((i as u64).into()),
                commands: vec![
                    Command::Replace(ItemCommand::new(
                        format!("{i}a").as_str(),
                        Item::target(format!("./Device/Vendor/MSFT/Policy/Config/Area{i}/A"))
                            .with_meta(Meta::format(Format::Int))
                            .with_data("1"),
                    )),
                    Command::Replace(ItemCommand::new(
                        format!("{i}b").as_str(),
                        Item::target(format!("./Device/Vendor/MSFT/Policy/Config/Area{i}/B"))
                            .with_meta(Meta::format(Format::Chr))
                            .with_data(Data::cdata("<enabled/><data id=\"x\" value=\"1\"/>")),
                    )),
                ],
                ..Container::default()
            })
        } else {
            Command::Replace(ItemCommand::new(
                i as u64,
                Item::target(format!(
                    "./Device/Vendor/MSFT/Policy/Config/Area{}/Setting{i}",
                    i % 17
                ))
                .with_meta(Meta::format(Format::Int))
                .with_data((i % 3).to_string()),
            ))
        };
        commands.push(c);
    }
    SyncMl {
        header: SyncHdr::new(
            "1",
            "2",
            "{7BA748C8-703E-4DF2-A74A-92984117346A}",
            "https://mdm.example.org/ManagementServer/MDM.svc",
        ),
        commands,
        final_: true,
    }
}

/// quick-xml's raw scan: every event read, nothing decoded or built.
fn raw_scan(bytes: &[u8]) -> usize {
    let mut r = Reader::from_reader(bytes);
    let mut n = 0usize;
    loop {
        match r.read_event().unwrap() {
            Event::Eof => return n,
            _ => n += 1,
        }
    }
}

/// The median time of one raw scan and one typed read, measured in
/// alternation so that a busy machine slows both alike; returns the typed
/// read's rate as a share of the raw scan's.
fn interleaved_share(xml: &[u8], rounds: usize) -> (Duration, Duration, f64) {
    let mut raw = Vec::with_capacity(rounds);
    let mut typed = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(raw_scan(black_box(xml)));
        raw.push(t.elapsed());
        let t = Instant::now();
        black_box(SyncMl::read(black_box(xml)).unwrap());
        typed.push(t.elapsed());
    }
    raw.sort();
    typed.sort();
    let (r, t) = (raw[rounds / 2], typed[rounds / 2]);
    (r, t, r.as_secs_f64() / t.as_secs_f64())
}

/// `WINDOWS_BENCH_COUNT=KIND:N:K` (KIND `raw` or `read`) runs K passes
/// over the N-command message and exits: the entry point for counting
/// instructions with `valgrind --tool=callgrind`, which a busy machine does
/// not disturb (see docs/performance.md).
fn count_mode() {
    let Ok(spec) = std::env::var("WINDOWS_BENCH_COUNT") else {
        return;
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let n: usize = parts[1].parse().unwrap();
    let k: usize = parts[2].parse().unwrap();
    let xml = message(n).to_xml();
    for _ in 0..k {
        match parts[0] {
            "raw" => {
                black_box(raw_scan(black_box(xml.as_bytes())));
            }
            _ => {
                black_box(SyncMl::read(black_box(xml.as_bytes())).unwrap());
            }
        }
    }
    std::process::exit(0);
}

fn bench(c: &mut Criterion) {
    count_mode();
    for n in [10usize, 100, 1000] {
        let msg = message(n);
        let xml = msg.to_xml();
        assert_eq!(SyncMl::read(xml.as_bytes()).unwrap(), msg);
        let rounds = 20_000 / n.max(1) + 50;
        let (r, t, share) = interleaved_share(xml.as_bytes(), rounds);
        println!(
            "windows_syncml/{n}_commands interleaved medians over {rounds} rounds: raw scan {r:?}, typed read {t:?}: typed read runs at {:.0}% of the raw scan rate",
            share * 100.0
        );
        let mut g = c.benchmark_group(format!("windows_syncml/{n}_commands"));
        g.throughput(Throughput::Bytes(xml.len() as u64));
        g.bench_function(BenchmarkId::new("quick_xml_raw_scan", xml.len()), |b| {
            b.iter(|| raw_scan(black_box(xml.as_bytes())))
        });
        g.bench_function(BenchmarkId::new("read", xml.len()), |b| {
            b.iter(|| SyncMl::read(black_box(xml.as_bytes())).unwrap())
        });
        g.bench_function(BenchmarkId::new("write", xml.len()), |b| {
            b.iter(|| black_box(&msg).to_xml())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
