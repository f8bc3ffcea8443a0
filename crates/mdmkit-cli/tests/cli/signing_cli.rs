#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `mdmkit policy keygen | sign | verify` and the signature part of
//! `policy check`, run as a user runs them on a copy of the example region
//! whose tree declares authors and requires signatures.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::support::{copy_dir, mdmkit, region, stderr, stdout};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `keygen` output: (key id, public key hex).
fn keygen(out: &Path) -> (String, String) {
    let o = mdmkit(&["policy", "keygen", "--out", s(out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap()
            .to_owned()
    };
    (field("key_id"), field("public_key"))
}

/// A copy of the region whose tree requires signatures, with the
/// rectorat (author + lock at the root) and one school (author at
/// ecole-jules-ferry) declared.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    rectorat: PathBuf,
    ecole: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let rectorat = tmp.path().join("rectorat.key");
    let ecole = tmp.path().join("ecole.key");
    let (_, rpub) = keygen(&rectorat);
    let (_, epub) = keygen(&ecole);
    let tree = fs::read_to_string(dir.join("tree.toml")).unwrap().replacen(
        "id = \"academie-hauts-de-lys\"\n",
        "id = \"academie-hauts-de-lys\"\nrequire_signatures = true\n",
        1,
    ) + &format!(
        "\n[[author]]\nkey = \"rectorat\"\nname = \"Rectorat\"\npublic_key = \"{rpub}\"\nnode = \"academie-hauts-de-lys\"\nmay = [\"author\", \"lock\"]\n\n[[author]]\nkey = \"jules-ferry\"\npublic_key = \"{epub}\"\nnode = \"ecole-jules-ferry\"\n"
    );
    fs::write(dir.join("tree.toml"), tree).unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        rectorat,
        ecole,
    }
}

fn sign(f: &Fixture, key: &Path, key_id: &str, policy: &str) -> Output {
    let file = f.dir.join("policies").join(format!("{policy}.toml"));
    mdmkit(&[
        "policy",
        "sign",
        "--key",
        s(key),
        "--key-id",
        key_id,
        "--tenant",
        s(&f.dir),
        s(&file),
    ])
}

fn policies(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir.join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn sign_all(f: &Fixture) {
    for p in policies(&f.dir) {
        let o = sign(f, &f.rectorat, "rectorat", &p);
        assert!(o.status.success(), "{p}: {}", stderr(&o));
        assert!(stdout(&o).trim().ends_with(&format!("{p}.toml.sig")));
    }
}

#[test]
fn keygen_writes_a_private_seed_and_never_overwrites_it() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k.key");
    let (id, public) = keygen(&key);
    assert!(id.starts_with("ed25519-"));
    assert_eq!(public.len(), 64);
    assert_eq!(fs::read_to_string(&key).unwrap().trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let o = mdmkit(&["policy", "keygen", "--out", s(&key)]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_region_signed_by_the_rectorat_verifies_and_checks() {
    let f = fixture();
    // Before signing: the tree requires signatures, so check fails and
    // names the files.
    let o = mdmkit(&["policy", "check", s(&f.dir)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(
            "securite-socle.toml: policy securite-socle at node academie-hauts-de-lys: unsigned"
        ),
        "{}",
        stdout(&o)
    );

    sign_all(&f);
    let o = mdmkit(&["policy", "verify", s(&f.dir)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("securite-socle: signed by rectorat (Rectorat)"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains(
            "ok: tenant academie-hauts-de-lys: 14 of 14 layers signed, signatures required"
        )
    );

    let o = mdmkit(&["policy", "verify", "--json", s(&f.dir)]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["layers"].as_array().unwrap().len(), 14);
    assert!(
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["state"] == "signed" && l["key"] == "rectorat")
    );

    let o = mdmkit(&["policy", "check", s(&f.dir)]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn a_tampered_layer_fails_verify_and_check_naming_file_and_node() {
    let f = fixture();
    sign_all(&f);
    let file = f.dir.join("policies/tablettes-cp.toml");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, format!("{text}\n# edited after signing\n")).unwrap();
    let o = mdmkit(&["policy", "verify", s(&f.dir)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("tablettes-cp.toml: policy tablettes-cp at node victor-hugo-cp: the file was changed after it was signed"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("1 signature failure"), "{}", stderr(&o));
    let o = mdmkit(&["policy", "verify", "--json", s(&f.dir)]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["problem"], "tampered");
    let o = mdmkit(&["policy", "check", s(&f.dir)]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_school_key_signs_its_own_layer_but_not_the_regions() {
    let f = fixture();
    sign_all(&f);
    let o = sign(&f, &f.ecole, "jules-ferry", "ecole-jules-ferry");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sign(&f, &f.ecole, "jules-ferry", "securite-socle");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mdmkit(&["policy", "verify", s(&f.dir)]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("policy securite-socle at node academie-hauts-de-lys: key jules-ferry may not author policies at node academie-hauts-de-lys"), "{out}");
    assert!(!out.contains("policy ecole-jules-ferry"), "{out}");
}

#[test]
fn signing_with_a_key_the_tree_does_not_declare_is_refused() {
    let f = fixture();
    let stranger = f.dir.join("stranger.key");
    keygen(&stranger);
    let file = f.dir.join("policies/securite-socle.toml");
    let o = mdmkit(&[
        "policy",
        "sign",
        "--key",
        s(&stranger),
        "--tenant",
        s(&f.dir),
        s(&file),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not declared in the tree"),
        "{}",
        stderr(&o)
    );
    // The right id with the wrong key file.
    let o = sign(&f, &stranger, "rectorat", "securite-socle");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("declared with another public key"),
        "{}",
        stderr(&o)
    );
    assert!(!f.dir.join("policies/securite-socle.toml.sig").exists());
}

#[test]
fn without_the_requirement_verify_reports_signed_and_unsigned_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let key = tmp.path().join("r.key");
    let (id, public) = keygen(&key);
    let tree = fs::read_to_string(dir.join("tree.toml")).unwrap()
        + &format!(
            "\n[[author]]\nkey = \"{id}\"\npublic_key = \"{public}\"\nnode = \"academie-hauts-de-lys\"\nmay = [\"author\", \"lock\"]\n"
        );
    fs::write(dir.join("tree.toml"), tree).unwrap();
    // No --key-id: the id derived from the key, as keygen printed it.
    let file = dir.join("policies/securite-socle.toml");
    let o = mdmkit(&[
        "policy",
        "sign",
        "--key",
        s(&key),
        "--tenant",
        s(&dir),
        s(&file),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mdmkit(&["policy", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("securite-socle: signed by {id}")),
        "{out}"
    );
    assert!(
        out.contains("tablettes-cp: unsigned [node victor-hugo-cp]"),
        "{out}"
    );
    assert!(
        out.contains("ok: tenant academie-hauts-de-lys: 1 of 14 layers signed\n"),
        "{out}"
    );
    // The loader and the checker ignore the .sig sidecar.
    let o = mdmkit(&["policy", "check", s(&dir)]);
    assert!(o.status.success(), "{}", stdout(&o));
}
