#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Signed policy layers: a signed tree is accepted; unsigned, tampered,
//! wrongly keyed, out-of-scope and unauthorised-lock layers are rejected
//! with the file, the node and the reason.

use std::fs;
use std::path::{Path, PathBuf};

use mdmkit::identity::{EnvelopeSigner, KeyId};
use mdmkit::policy::load_dir;
use mdmkit::signing::{
    LayerProblem, LayerStatus, SigningError, sign_policy_file, verify_layers, write_signature,
};
use proptest::prelude::*;

fn signer(name: &str, seed: u8) -> EnvelopeSigner {
    EnvelopeSigner::from_seed(KeyId::new(name).unwrap(), [seed; 32])
}

fn pubhex(s: &EnvelopeSigner) -> String {
    s.public_key().to_hex()
}

/// A tenant `t` with a school and a class, one device in the class; the
/// rectorat may author and lock everywhere, the school may author below
/// itself.
fn tenant_dir(require: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("policies")).unwrap();
    fs::write(
        d.join("tree.toml"),
        format!(
            r#"[tenant]
id = "t"
require_signatures = {require}
policies = ["floor"]

[[node]]
id = "school"
policies = ["school-rules"]

[[node]]
id = "class"
parent = "school"

[[author]]
key = "rectorat"
name = "Rectorat"
public_key = "{r}"
node = "t"
may = ["author", "lock"]

[[author]]
key = "ecole"
name = "École Jules-Ferry"
public_key = "{e}"
node = "school"
"#,
            r = pubhex(&signer("rectorat", 1)),
            e = pubhex(&signer("ecole", 2)),
        ),
    )
    .unwrap();
    fs::write(
        d.join("devices.toml"),
        "[[device]]\nid = \"ipad-1\"\nnode = \"class\"\nplatform = \"apple\"\npolicies = [\"kiosk\"]\n",
    )
    .unwrap();
    fs::write(
        d.join("policies/floor.toml"),
        "[policy]\nlocks = [\"restrictions.camera\"]\n\n[restrictions]\ncamera = \"deny\"\n",
    )
    .unwrap();
    fs::write(
        d.join("policies/school-rules.toml"),
        "[device]\ntime_zone = \"Europe/Paris\"\n",
    )
    .unwrap();
    fs::write(
        d.join("policies/kiosk.toml"),
        "[device]\nlock_screen_message = \"CP\"\n",
    )
    .unwrap();
    dir
}

fn sign(d: &Path, policy: &str, who: &EnvelopeSigner) -> PathBuf {
    let file = d.join(format!("policies/{policy}.toml"));
    let signed = sign_policy_file(&file, &"t".parse().unwrap(), who).unwrap();
    write_signature(&file, &signed).unwrap()
}

fn sign_all(d: &Path) {
    sign(d, "floor", &signer("rectorat", 1));
    sign(d, "school-rules", &signer("ecole", 2));
    sign(d, "kiosk", &signer("ecole", 2));
}

fn rejected(d: &Path) -> Vec<mdmkit::signing::LayerFailure> {
    let tenant = load_dir(d).unwrap();
    match verify_layers(d, &tenant) {
        Err(SigningError::Rejected { failures }) => failures,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_fully_signed_tree_is_accepted_and_says_who_signed_what() {
    let dir = tenant_dir(true);
    sign_all(dir.path());
    let tenant = load_dir(dir.path()).unwrap();
    let report = verify_layers(dir.path(), &tenant).unwrap();
    assert!(report.problems.is_empty());
    assert_eq!(report.signed_count(), 3);
    assert_eq!(report.signed_by("floor"), Some("rectorat"));
    assert_eq!(report.signed_by("kiosk"), Some("ecole"));
    let floor = report
        .layers
        .iter()
        .find(|l| l.policy.as_str() == "floor")
        .unwrap();
    assert!(
        matches!(&floor.status, LayerStatus::Signed { author: Some(a), .. } if a == "Rectorat")
    );
}

#[test]
fn an_unsigned_layer_is_rejected_naming_its_file() {
    let dir = tenant_dir(true);
    sign(dir.path(), "floor", &signer("rectorat", 1));
    sign(dir.path(), "kiosk", &signer("ecole", 2));
    let failures = rejected(dir.path());
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].problem, LayerProblem::Unsigned);
    assert_eq!(failures[0].policy.as_str(), "school-rules");
    let msg = failures[0].to_string();
    assert!(
        msg.contains("policies/school-rules.toml: policy school-rules"),
        "{msg}"
    );
}

#[test]
fn a_layer_changed_after_signing_is_rejected_as_tampered() {
    let dir = tenant_dir(true);
    sign_all(dir.path());
    fs::write(
        dir.path().join("policies/floor.toml"),
        "[policy]\nlocks = [\"restrictions.camera\"]\n\n[restrictions]\ncamera = \"allow\"\n",
    )
    .unwrap();
    let failures = rejected(dir.path());
    assert_eq!(failures.len(), 1);
    assert!(matches!(failures[0].problem, LayerProblem::Tampered { .. }));
    assert!(
        failures[0]
            .to_string()
            .contains("changed after it was signed")
    );
}

#[test]
fn a_signature_by_an_undeclared_key_or_a_forged_key_is_rejected() {
    let dir = tenant_dir(true);
    sign_all(dir.path());
    // A key the tree does not know.
    sign(dir.path(), "school-rules", &signer("intrus", 9));
    // A key that claims a declared id with another secret.
    sign(dir.path(), "kiosk", &signer("ecole", 3));
    let failures = rejected(dir.path());
    let problems: Vec<_> = failures
        .iter()
        .map(|f| (f.policy.as_str(), &f.problem))
        .collect();
    assert!(
        problems.contains(&(
            "school-rules",
            &LayerProblem::UnknownKey {
                key: "intrus".into()
            }
        )),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(
            "kiosk",
            &LayerProblem::BadSignature {
                key: "ecole".into()
            }
        )),
        "{problems:?}"
    );
}

#[test]
fn a_school_key_may_not_sign_a_layer_assigned_above_the_school() {
    let dir = tenant_dir(true);
    sign_all(dir.path());
    // The floor has locks and is assigned at the root: the school key has
    // no author grant there.
    sign(dir.path(), "floor", &signer("ecole", 2));
    let failures = rejected(dir.path());
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].problem,
        LayerProblem::OutOfScope {
            key: "ecole".into(),
            node: "t".parse().unwrap()
        }
    );
    assert!(
        failures[0]
            .to_string()
            .contains("at node t: key ecole may not author policies at node t")
    );
}

#[test]
fn locking_settings_needs_the_lock_grant_where_the_layer_is_assigned() {
    let dir = tenant_dir(true);
    fs::write(
        dir.path().join("policies/school-rules.toml"),
        "[policy]\nlocks = [\"device.time_zone\"]\n\n[device]\ntime_zone = \"Europe/Paris\"\n",
    )
    .unwrap();
    sign_all(dir.path());
    let failures = rejected(dir.path());
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].problem,
        LayerProblem::NoLockRight {
            key: "ecole".into(),
            node: "school".parse().unwrap()
        }
    );
    // The rectorat holds `lock` at the root, which covers the school.
    sign(dir.path(), "school-rules", &signer("rectorat", 1));
    let tenant = load_dir(dir.path()).unwrap();
    assert!(verify_layers(dir.path(), &tenant).is_ok());
}

#[test]
fn a_devices_own_policy_needs_a_grant_at_the_devices_node() {
    let dir = tenant_dir(true);
    sign_all(dir.path());
    // Move the school key's grant to a sibling: the class device is no
    // longer covered.
    let tree = fs::read_to_string(dir.path().join("tree.toml")).unwrap();
    let tree =
        tree.replace("node = \"school\"\n", "node = \"other\"\n") + "\n[[node]]\nid = \"other\"\n";
    fs::write(dir.path().join("tree.toml"), tree).unwrap();
    let failures = rejected(dir.path());
    let kiosk = failures
        .iter()
        .find(|f| f.policy.as_str() == "kiosk")
        .unwrap();
    assert!(
        kiosk.to_string().contains("at device ipad-1 (node class)"),
        "{kiosk}"
    );
}

#[test]
fn a_signature_copied_onto_another_policy_is_rejected() {
    let dir = tenant_dir(true);
    sign_all(dir.path());
    fs::copy(
        dir.path().join("policies/kiosk.toml.sig"),
        dir.path().join("policies/school-rules.toml.sig"),
    )
    .unwrap();
    let failures = rejected(dir.path());
    assert_eq!(
        failures[0].problem,
        LayerProblem::WrongPolicy {
            found: "kiosk".into()
        }
    );
}

#[test]
fn without_the_requirement_the_report_lists_signed_and_unsigned_layers() {
    let dir = tenant_dir(false);
    sign(dir.path(), "floor", &signer("rectorat", 1));
    fs::write(dir.path().join("policies/kiosk.toml.sig"), "not json").unwrap();
    let tenant = load_dir(dir.path()).unwrap();
    let report = verify_layers(dir.path(), &tenant).unwrap();
    assert_eq!(report.signed_by("floor"), Some("rectorat"));
    let status = |p: &str| {
        report
            .layers
            .iter()
            .find(|l| l.policy.as_str() == p)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(status("school-rules"), LayerStatus::Unsigned);
    assert_eq!(status("kiosk"), LayerStatus::Invalid);
    // A broken signature is a problem even when signatures are optional;
    // a missing one is not.
    assert_eq!(report.problems.len(), 1);
    assert!(matches!(
        report.problems[0].problem,
        LayerProblem::Malformed { .. }
    ));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["layers"][0]["state"], "signed");
}

#[test]
fn signing_an_invalid_policy_is_refused() {
    let dir = tenant_dir(true);
    let file = dir.path().join("policies/bad.toml");
    fs::write(&file, "[passcode]\nmin_length = 100\n").unwrap();
    let e = sign_policy_file(&file, &"t".parse().unwrap(), &signer("rectorat", 1)).unwrap_err();
    assert!(matches!(e, SigningError::InvalidPolicy { .. }), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit::core::proptest_cases(64)))]
    #[test]
    fn any_single_byte_change_to_a_signed_file_fails_verification(
        pos in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let dir = tenant_dir(true);
        sign_all(dir.path());
        let tenant = load_dir(dir.path()).unwrap();
        let file = dir.path().join("policies/floor.toml");
        let mut bytes = fs::read(&file).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] = bytes[i].wrapping_add(delta);
        fs::write(&file, &bytes).unwrap();
        let e = verify_layers(dir.path(), &tenant).unwrap_err();
        let SigningError::Rejected { failures } = e else { panic!("{e}") };
        let tampered = matches!(failures[0].problem, LayerProblem::Tampered { .. });
        prop_assert!(tampered, "{}", failures[0]);
    }
}
