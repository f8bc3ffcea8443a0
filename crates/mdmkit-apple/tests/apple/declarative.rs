//! Declarative management: property laws (JSON round-trips, tokens that
//! follow content, manifests that list exactly the set), the check-in path
//! from a device's `DeclarativeManagement` message to a typed status
//! report, and python3's json module reading what we write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command as Process;

use mdmkit_apple::declarative::{
    DdmRequest, Declaration, DeclarationKind, DeclarationSet, DeclarationStatus, DeclarativeMapper,
    Endpoint, StatusItemError, StatusReason, StatusReport, Validity, read_object, server_token,
    write_object,
};
use mdmkit_apple::generated::commands::DeclarativeManagementCommand;
use mdmkit_apple::schema::Os;
use mdmkit_apple::support::{DeviceContext, OsVersion};
use mdmkit_apple::{Checkin, Limits};
use mdmkit_core::TenantId;
use mdmkit_policy::Policy;
use plist::{Date, Dictionary, Value};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        "[ -~À-ÿ\t\n\"\\\\]{0,16}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map("[A-Za-z.-]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Dictionary(m.into_iter().collect())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Dictionary> {
    proptest::collection::btree_map("[A-Za-z]{1,12}", json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

fn kind() -> impl Strategy<Value = DeclarationKind> {
    prop_oneof![
        Just(DeclarationKind::Activation),
        Just(DeclarationKind::Configuration),
        Just(DeclarationKind::Asset),
        Just(DeclarationKind::Management),
    ]
}

fn reason() -> impl Strategy<Value = StatusReason> {
    (
        "Error\\.[A-Za-z]{1,12}",
        proptest::option::of("[ -~]{0,20}"),
        payload(),
    )
        .prop_map(|(code, description, details)| {
            let mut r = StatusReason::new(code);
            r.description = description;
            r.details = details;
            r
        })
}

fn validity() -> impl Strategy<Value = Validity> {
    prop_oneof![
        Just(Validity::Valid),
        Just(Validity::Invalid),
        Just(Validity::Unknown),
    ]
}

fn status_report() -> impl Strategy<Value = StatusReport> {
    let decl = (
        kind(),
        "[a-z.]{1,20}",
        "[0-9a-f]{32}",
        any::<bool>(),
        validity(),
        proptest::collection::vec(reason(), 0..3),
    )
        .prop_map(|(k, id, token, active, valid, reasons)| {
            let mut d = DeclarationStatus::new(k, id, token, active, valid);
            d.reasons = reasons;
            d
        });
    let error =
        ("[a-z.-]{1,20}", proptest::collection::vec(reason(), 0..3)).prop_map(|(item, reasons)| {
            let mut e: StatusItemError = serde_like_error(item);
            e.reasons = reasons;
            e
        });
    // Item names are distinct dotted paths none of which prefixes another,
    // holding scalars (a dictionary under an unknown name is read as more
    // names).
    let items = proptest::collection::btree_map("x[a-z]{1,6}\\.[a-z-]{1,8}", leaf(), 0..5);
    (
        any::<bool>(),
        proptest::collection::vec(decl, 0..6),
        proptest::collection::vec(error, 0..3),
        items,
    )
        .prop_map(|(full, mut declarations, errors, items)| {
            // The device lists declarations by kind.
            declarations.sort_by_key(|d| d.kind);
            let mut r = StatusReport::default();
            r.full_report = full;
            r.declarations = declarations;
            r.errors = errors;
            r.items = items;
            r
        })
}

/// A status item error for the strategy (the struct is non-exhaustive).
fn serde_like_error(item: String) -> StatusItemError {
    let json = format!(
        r#"{{"StatusItems":{{}},"Errors":[{{"StatusItem":{}}}]}}"#,
        serde_json::to_string(&item).unwrap()
    );
    StatusReport::from_json(json.as_bytes(), &Limits::DEFAULT)
        .unwrap()
        .errors
        .remove(0)
}

fn ipad() -> DeviceContext {
    DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true)
}

fn settings(toml: &str) -> mdmkit_policy::Settings {
    Policy::from_toml(&format!("[policy]\nid = \"p\"\n{toml}"))
        .unwrap()
        .settings
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(256)))]

    #[test]
    fn declarations_round_trip_through_json_and_keep_their_token(
        p in payload(),
        id in "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}",
    ) {
        let d = Declaration::from_parts("com.apple.configuration.test", id, p);
        let back = Declaration::from_json(&d.to_json(), &Limits::DEFAULT).unwrap();
        prop_assert_eq!(&back, &d);
        // The token recomputed from what the device received is the same.
        prop_assert_eq!(
            server_token(&back.declaration_type, &back.identifier, &back.payload, &[]),
            d.server_token
        );
    }

    #[test]
    fn status_reports_round_trip_through_json(r in status_report()) {
        let back = StatusReport::from_json(&r.to_json(), &Limits::DEFAULT).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn mutated_status_reports_are_refused_or_written_stably(
        pick in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/apple_ddm_status");
        let name = ["full_report.json", "partial_invalid.json", "errors_only.json", "flat_names.json"][pick];
        let mut doc = std::fs::read(root.join(name)).unwrap();
        for (at, byte, op) in edits {
            let i = at % doc.len();
            let alphabet = b"{}[]\",:.-0t\\ ";
            let b = alphabet[usize::from(byte) % alphabet.len()];
            match op {
                0 => doc[i] = b,
                1 => { doc.remove(i); }
                _ => doc.insert(i, b),
            }
        }
        if let Ok(r) = StatusReport::from_json(&doc, &Limits::DEFAULT) {
            let once = r.to_json();
            let twice = StatusReport::from_json(&once, &Limits::DEFAULT).unwrap().to_json();
            let thrice = StatusReport::from_json(&twice, &Limits::DEFAULT).unwrap().to_json();
            prop_assert_eq!(twice, thrice);
        }
    }

    #[test]
    fn json_objects_round_trip_through_plist_values(p in payload()) {
        let bytes = write_object(&p);
        prop_assert_eq!(read_object(&bytes, &Limits::DEFAULT).unwrap(), p);
    }

    #[test]
    fn a_token_changes_exactly_when_its_declarations_content_does(
        a in 4u32..16, b in 4u32..16, camera in any::<bool>(),
    ) {
        let rule = if camera { "allow" } else { "deny" };
        let sa = settings(&format!("[passcode]\nmin_length = {a}\n[restrictions]\ncamera = \"{rule}\""));
        let sb = settings(&format!("[passcode]\nmin_length = {b}\n[restrictions]\ncamera = \"{rule}\""));
        let m = DeclarativeMapper::new(TenantId::new("t").unwrap());
        let ca = m.compile(&sa, &ipad()).unwrap();
        let cb = m.compile(&sb, &ipad()).unwrap();
        let pa = ca.set.get("org.mdmkit.t.passcode").unwrap();
        let pb = cb.set.get("org.mdmkit.t.passcode").unwrap();
        prop_assert_eq!(a == b, pa.server_token == pb.server_token);
        prop_assert_eq!(a == b, ca.set.declarations_token() == cb.set.declarations_token());
        for id in ["org.mdmkit.t.activation", "org.mdmkit.t.legacy.restrictions"] {
            prop_assert_eq!(
                &ca.set.get(id).unwrap().server_token,
                &cb.set.get(id).unwrap().server_token
            );
        }
    }

    #[test]
    fn the_manifest_lists_exactly_the_set(min in 4u32..16, deny in any::<bool>(), wifi in any::<bool>()) {
        let mut toml = format!("[passcode]\nmin_length = {min}\n");
        if deny { toml.push_str("[restrictions]\ncamera = \"deny\"\n"); }
        if wifi { toml.push_str("[wifi.ECOLE]\nsecurity = \"wpa2-personal\"\npassword = \"secret123\"\n"); }
        let c = DeclarativeMapper::new(TenantId::new("t").unwrap())
            .compile(&settings(&toml), &ipad())
            .unwrap();
        let manifest = c.set.manifest();
        let lists = manifest.declarations.unwrap();
        let mut listed: Vec<(String, String)> = [lists.activations, lists.configurations, lists.assets, lists.management]
            .into_iter()
            .flatten()
            .flatten()
            .map(|i| (i.identifier.unwrap(), i.server_token.unwrap()))
            .collect();
        listed.sort();
        let mut have: Vec<(String, String)> = c.set.declarations().iter()
            .map(|d| (d.identifier.clone(), d.server_token.clone()))
            .collect();
        have.sort();
        prop_assert_eq!(listed, have);
        prop_assert_eq!(c.profiles.len(), usize::from(deny) + usize::from(wifi));
    }
}

#[test]
fn a_declarative_management_checkin_gives_a_typed_status_report() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/checkin/declarative_management.plist"),
    )
    .unwrap();
    let checkin = Checkin::from_bytes(&bytes, &Limits::DEFAULT).unwrap();
    let req = DdmRequest::from_checkin(&checkin).unwrap().unwrap();
    assert_eq!(req.endpoint, Endpoint::Status);
    let report = req.status_report(&Limits::DEFAULT).unwrap().unwrap();
    assert_eq!(
        report.items.get("device.operating-system.version"),
        Some(&Value::String("18.1".into()))
    );
    assert!(report.declarations.is_empty());
}

#[test]
fn a_full_report_tells_which_declarations_are_not_applied_yet() {
    let c = DeclarativeMapper::new(TenantId::new("t").unwrap())
        .compile(
            &settings("[passcode]\nmin_length = 6\n[restrictions]\ncamera = \"deny\""),
            &ipad(),
        )
        .unwrap();
    let mut report = StatusReport::default();
    for d in c.set.declarations() {
        let valid = if d.identifier.ends_with("legacy.restrictions") {
            Validity::Invalid
        } else {
            Validity::Valid
        };
        report.declarations.push(DeclarationStatus::new(
            d.kind().unwrap(),
            d.identifier.clone(),
            d.server_token.clone(),
            true,
            valid,
        ));
    }
    assert_eq!(
        report.not_applied(&c.set),
        ["org.mdmkit.t.legacy.restrictions"]
    );
    // An older token is not applied either.
    let passcode = report
        .declarations
        .iter_mut()
        .find(|d| d.identifier == "org.mdmkit.t.passcode")
        .unwrap();
    passcode.server_token = "old".into();
    assert_eq!(report.not_applied(&c.set).len(), 2);
}

#[test]
fn the_sync_command_carries_the_tokens_response() {
    let c = DeclarativeMapper::new(TenantId::new("t").unwrap())
        .compile(&settings("[passcode]\nmin_length = 6"), &ipad())
        .unwrap();
    let ts = Date::from_xml_format("2026-11-28T12:00:00Z").unwrap();
    let cmd = c.set.sync_command(ts);
    let typed: DeclarativeManagementCommand = cmd.decode().unwrap();
    let tokens = read_object(&typed.data.unwrap(), &Limits::DEFAULT).unwrap();
    let sync = tokens.get("SyncTokens").unwrap().as_dictionary().unwrap();
    assert_eq!(
        sync.get("DeclarationsToken").unwrap().as_string(),
        Some(c.set.declarations_token().as_str())
    );
    assert_eq!(
        c.set.respond(&Endpoint::Tokens, Some(ts)),
        Some(write_object(&tokens))
    );
}

/// python3's json module reads every declaration, the manifest and a status
/// report to the same values (compared as sorted, compact JSON).
#[test]
fn python_json_reads_declarations_manifest_and_reports_alike() {
    let c = DeclarativeMapper::new(TenantId::new("t").unwrap())
        .compile(
            &settings(
                "[passcode]\nmin_length = 6\ncomplexity = \"alphanumeric\"\n[restrictions]\ncamera = \"deny\"\n\
                 [device]\nlock_screen_message = \"Rendre à l'accueil « merci »\"\n\
                 [apps.pages]\ninstall = \"required\"\napple = { bundle_id = \"com.apple.Pages\" }",
            ),
            &ipad(),
        )
        .unwrap();
    let mut docs: Vec<Vec<u8>> = c
        .set
        .declarations()
        .iter()
        .map(Declaration::to_json)
        .collect();
    docs.push(c.set.respond(&Endpoint::DeclarationItems, None).unwrap());
    docs.push(c.to_json());
    let mut report = StatusReport::default();
    report.full_report = true;
    report.declarations.push(DeclarationStatus::new(
        DeclarationKind::Configuration,
        "org.mdmkit.t.passcode",
        "ab",
        false,
        Validity::Invalid,
    ));
    report.items = BTreeMap::from([(
        "device.operating-system.version".into(),
        Value::String("18.1".into()),
    )]);
    docs.push(report.to_json());

    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    let mut ours = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let p = dir.path().join(format!("{i}.json"));
        std::fs::write(&p, doc).unwrap();
        args.push(p);
        // Our own reading, re-written with sorted keys.
        let v = sorted(Value::Dictionary(
            read_object(doc, &Limits::DEFAULT).unwrap(),
        ));
        ours.push(String::from_utf8(write_object(v.as_dictionary().unwrap())).unwrap());
    }
    let out = Process::new("python3")
        .arg("-c")
        .arg(
            "import json,sys\n\
             for p in sys.argv[1:]:\n\
             \x20   print(json.dumps(json.load(open(p, encoding='utf-8')), sort_keys=True, separators=(',',':'), ensure_ascii=False))",
        )
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(theirs.len(), ours.len());
    for (a, b) in theirs.iter().zip(&ours) {
        assert_eq!(a, b);
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Dictionary(d) => {
            let mut out: Dictionary = d.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            out.sort_keys();
            Value::Dictionary(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[test]
fn set_rejects_unknown_types_and_duplicates() {
    let bad = Declaration::from_parts("com.example.thing", "x", Dictionary::new());
    assert!(DeclarationSet::new(vec![bad]).is_err());
}
