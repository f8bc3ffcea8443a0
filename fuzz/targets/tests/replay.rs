//! Replays every committed fuzz corpus through its target body on stable, so
//! CI proves that no known input crashes a parser, and that every target has
//! a cargo-fuzz entry point and a non-empty seed corpus.

use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_corpus_input_runs_through_its_target_without_panicking() {
    let mut total = 0usize;
    for target in mdmkit_fuzz_targets::all() {
        let dir = fuzz_dir().join("corpus").join(target.name);
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: seed corpus missing: {e}", dir.display()));
        let mut n = 0usize;
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                let data = fs::read(&path).unwrap();
                let result = std::panic::catch_unwind(|| (target.body)(&data));
                assert!(
                    result.is_ok(),
                    "{} panicked on {}",
                    target.name,
                    path.display()
                );
                n += 1;
            }
        }
        assert!(n > 0, "{}: seed corpus is empty", dir.display());
        total += n;
    }
    assert!(total > 0);
}

#[test]
fn every_target_has_a_cargo_fuzz_entry_point_and_vice_versa() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let names: Vec<String> = mdmkit_fuzz_targets::all()
        .iter()
        .map(|t| t.name.to_owned())
        .collect();
    for name in &names {
        let src = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(src.is_file(), "missing {}", src.display());
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
    }
    for entry in fs::read_dir(fuzz_dir().join("fuzz_targets")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            names.contains(&stem),
            "{} is not listed in mdmkit_fuzz_targets::all()",
            path.display()
        );
    }
}

/// The signed seed of `server_presented` reaches the signature's success
/// path (a corpus that only exercised refusals would fuzz little). Its
/// layout: a flags byte, then two length-prefixed headers, then the body.
#[test]
fn the_signed_seed_presents_its_signer() {
    let seed = fs::read(fuzz_dir().join("corpus/server_presented/signed-idle")).unwrap();
    let field = |d: &[u8]| {
        let len = usize::from(u16::from_le_bytes([d[0], d[1]]));
        (d[2..2 + len].to_vec(), d[2 + len..].to_vec())
    };
    let (signature, rest) = field(&seed[1..]);
    let (_client_cert, body) = field(&rest);
    let header = String::from_utf8(signature).unwrap();
    assert!(mdmkit::apple::verify_mdm_signature(&header, &body).is_ok());
}

/// The seeds of the session path read as device messages and carry chunks
/// (`MoreData`), so the fuzzer starts inside large object reassembly.
#[test]
fn the_large_object_seeds_are_chunked_device_messages() {
    let dir = fuzz_dir().join("corpus").join("windows_syncml");
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("large-object-") {
            continue;
        }
        let m = mdmkit_windows::SyncMl::read(&fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let chunked = m
            .commands
            .iter()
            .any(|c| c.items().iter().any(|i| i.more_data));
        assert!(chunked || name.ends_with("-final"), "{name} has no chunk");
        n += 1;
    }
    assert!(n >= 8, "{n} large object seeds");
}
