//! Apple: plist decode and encode of a corpus of profiles, check-in messages
//! and command reports next to Python's plistlib, and profile signing next
//! to Python cryptography's PKCS#7 signer. The Python sides run in a
//! subprocess that times its own loop (interpreter start-up excluded) and
//! report through `iter_custom`, so both appear in one criterion run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::apple::declarative::StatusReport;
use mdmkit::apple::plist_io::{self, Format, Limits};
use mdmkit::apple::profile::{ProfileBuilder, ProfileId};
use mdmkit::apple::{Checkin, CommandReport, Dictionary, Profile, SigningIdentity, Value};
use mdmkit::core::TenantId;

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/mdmkit-apple/tests/fixtures");
    let mut out = Vec::new();
    for dir in ["profile", "response", "checkin", "command"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension()
                .is_some_and(|x| x == "plist" || x == "mobileconfig")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs a Python loop `iters` times and returns the time it measured.
fn python(script: &str, iters: u64, args: &[String]) -> Duration {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(iters.to_string())
        .args(args)
        .output()
        .expect("python3 runs (scripts/bench installs it)");
    assert!(
        out.status.success(),
        "the Python baseline failed (scripts/bench installs python3-cryptography): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    Duration::from_secs_f64(secs)
}

const PY_DECODE: &str = r#"
import plistlib, sys, time
n = int(sys.argv[1]); blobs = [open(p, "rb").read() for p in sys.argv[2:]]
t = time.perf_counter()
for _ in range(n):
    for b in blobs:
        plistlib.loads(b)
print(time.perf_counter() - t)
"#;

const PY_ENCODE: &str = r#"
import plistlib, sys, time
n = int(sys.argv[1]); values = [plistlib.loads(open(p, "rb").read()) for p in sys.argv[2:]]
t = time.perf_counter()
for _ in range(n):
    for v in values:
        plistlib.dumps(v, fmt=plistlib.FMT_XML)
        plistlib.dumps(v, fmt=plistlib.FMT_BINARY)
print(time.perf_counter() - t)
"#;

const PY_SIGN: &str = r#"
import sys, time
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
n = int(sys.argv[1])
cert = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
data = open(sys.argv[4], "rb").read()
opts = [pkcs7.PKCS7Options.Binary]
t = time.perf_counter()
for _ in range(n):
    pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256()).sign(serialization.Encoding.DER, opts)
print(time.perf_counter() - t)
"#;

fn plist_codec(c: &mut Criterion) {
    let files = corpus_files();
    let args: Vec<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let blobs: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let total: u64 = blobs.iter().map(|b| b.len() as u64).sum();
    let values: Vec<_> = blobs
        .iter()
        .map(|b| plist_io::read(b, &Limits::DEFAULT).unwrap().0)
        .collect();

    let mut g = c.benchmark_group("apple_plist_decode");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("mdmkit", |b| {
        b.iter(|| {
            for blob in &blobs {
                std::hint::black_box(plist_io::read(blob, &Limits::DEFAULT).unwrap());
            }
        });
    });
    g.bench_function("python_plistlib", |b| {
        b.iter_custom(|iters| python(PY_DECODE, iters, &args));
    });
    g.finish();

    let mut g = c.benchmark_group("apple_plist_encode_xml_and_binary");
    g.bench_function("mdmkit", |b| {
        b.iter(|| {
            for v in &values {
                std::hint::black_box(plist_io::write(v, Format::Xml));
                std::hint::black_box(plist_io::write(v, Format::Binary));
            }
        });
    });
    g.bench_function("python_plistlib", |b| {
        b.iter_custom(|iters| python(PY_ENCODE, iters, &args));
    });
    g.finish();

    // Typed decoding (checks every key's type) on top of the plist parse.
    let reports: Vec<&Vec<u8>> = files
        .iter()
        .zip(&blobs)
        .filter(|(p, _)| p.to_string_lossy().contains("/response/"))
        .map(|(_, b)| b)
        .collect();
    let profiles: Vec<&Vec<u8>> = files
        .iter()
        .zip(&blobs)
        .filter(|(p, _)| p.to_string_lossy().contains("/profile/"))
        .map(|(_, b)| b)
        .collect();
    let mut g = c.benchmark_group("apple_typed_decode");
    g.bench_function("command_reports", |b| {
        b.iter(|| {
            for r in &reports {
                std::hint::black_box(CommandReport::from_bytes(r, &Limits::DEFAULT).unwrap());
            }
        });
    });
    g.bench_function("profiles_with_validation", |b| {
        b.iter(|| {
            for p in &profiles {
                let p = Profile::from_bytes(p, &Limits::DEFAULT).unwrap();
                std::hint::black_box(p.validate());
            }
        });
    });
    g.finish();
}

const PY_JSON: &str = r#"
import json, sys, time
n = int(sys.argv[1]); blobs = [open(p, "rb").read() for p in sys.argv[2:]]
t = time.perf_counter()
for _ in range(n):
    for b in blobs:
        json.loads(b)
print(time.perf_counter() - t)
"#;

/// The device-message path alone: check-in messages and command reports,
/// typed (every key's type checked) by mdmkit, against `plistlib.loads` of
/// the same files (untyped).
fn device_messages(c: &mut Criterion) {
    let files: Vec<PathBuf> = corpus_files()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("/checkin/") || s.contains("/response/")
        })
        .collect();
    let args: Vec<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let blobs: Vec<(bool, Vec<u8>)> = files
        .iter()
        .map(|p| {
            (
                p.to_string_lossy().contains("/checkin/"),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    let mut g = c.benchmark_group("apple_device_messages_typed_decode");
    g.throughput(Throughput::Elements(blobs.len() as u64));
    g.bench_function("mdmkit", |b| {
        b.iter(|| {
            for (checkin, blob) in &blobs {
                if *checkin {
                    std::hint::black_box(Checkin::from_bytes(blob, &Limits::DEFAULT).unwrap());
                } else {
                    std::hint::black_box(
                        CommandReport::from_bytes(blob, &Limits::DEFAULT).unwrap(),
                    );
                }
            }
        });
    });
    g.bench_function("python_plistlib", |b| {
        b.iter_custom(|iters| python(PY_DECODE, iters, &args));
    });
    g.finish();

    // Declarative status reports (JSON) into typed declaration states,
    // against `json.loads` of the same files.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/apple_ddm_status");
    let reports: Vec<PathBuf> = [
        "full_report.json",
        "partial_invalid.json",
        "errors_only.json",
    ]
    .iter()
    .map(|n| root.join(n))
    .collect();
    let args: Vec<String> = reports
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let blobs: Vec<Vec<u8>> = reports.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut g = c.benchmark_group("apple_ddm_status_decode");
    g.bench_function("mdmkit", |b| {
        b.iter(|| {
            for blob in &blobs {
                std::hint::black_box(StatusReport::from_json(blob, &Limits::DEFAULT).unwrap());
            }
        });
    });
    g.bench_function("python_json", |b| {
        b.iter_custom(|iters| python(PY_JSON, iters, &args));
    });
    g.finish();
}

fn openssl(args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "openssl {args:?}");
}

fn signing(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mdmkit-apple-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tenant = TenantId::new("town-a").unwrap();
    let mut wifi = Dictionary::new();
    wifi.insert("SSID_STR".into(), Value::String("Staff".into()));
    let profile = ProfileBuilder::new(ProfileId::new("com.example.mdm", &tenant, "wifi").unwrap())
        .payload("com.apple.wifi.managed", "staff", wifi)
        .build()
        .unwrap();
    let content = dir.join("profile.mobileconfig");
    std::fs::write(&content, profile.to_bytes(Format::Xml)).unwrap();
    for (name, newkey) in [("rsa2048", "rsa:2048"), ("p256", "ec")] {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let mut args = vec!["req", "-x509", "-newkey", newkey];
        if name == "p256" {
            args.extend(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
        }
        args.extend([
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
            "-days",
            "2",
            "-subj",
            "/CN=bench",
        ]);
        openssl(&args);
        let id = SigningIdentity::from_pem(
            &std::fs::read(&cert).unwrap(),
            &std::fs::read(&key).unwrap(),
        )
        .unwrap();
        let mut g = c.benchmark_group(format!("apple_profile_sign_{name}"));
        g.bench_function("mdmkit", |b| {
            b.iter(|| std::hint::black_box(profile.sign(&id).unwrap()))
        });
        let py_args = [
            cert.to_string_lossy().into_owned(),
            key.to_string_lossy().into_owned(),
            content.to_string_lossy().into_owned(),
        ];
        g.bench_function("python_cryptography_pkcs7", |b| {
            b.iter_custom(|iters| python(PY_SIGN, iters, &py_args));
        });
        g.finish();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, plist_codec, device_messages, signing);
criterion_main!(benches);
