#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Secret settings: references parse with their errors at the setting,
//! resolving puts the value where encoders read it and only a digest where
//! hashes and stores see it, and redaction leaves no value in clear.

use std::collections::BTreeMap;

use mdmkit_policy::{
    Category, Policy, Secret, SecretError, SecretResolver, SecretSource, SecretValue, SettingPath,
    Settings, category_hashes,
};
use proptest::prelude::*;

/// A resolver over a fixed map, as an integrator's vault would be.
struct Fixed(BTreeMap<String, String>);

impl SecretResolver for Fixed {
    fn resolve(
        &self,
        setting: &SettingPath,
        reference: &SecretSource,
    ) -> Result<SecretValue, SecretError> {
        let key = match reference {
            SecretSource::Env(n) => n.clone(),
            SecretSource::File(p) => p.clone(),
            _ => unreachable!(),
        };
        self.0
            .get(&key)
            .map(SecretValue::new)
            .ok_or_else(|| SecretError::MissingEnv {
                setting: setting.clone(),
                reference: reference.clone(),
            })
    }
}

fn doc(password: &str) -> String {
    format!(
        "[policy]\nid = \"t\"\n[wifi.ECOLE]\nsecurity = \"wpa2-personal\"\npassword = {password}\n"
    )
}

fn issues_of(text: &str) -> Vec<String> {
    match Policy::from_toml(text) {
        Ok(_) => Vec::new(),
        Err(i) => i.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn references_parse_and_round_trip_in_toml_and_json() {
    for (text, want) in [
        (
            r#"{ env = "MDMKIT_SECRET_ECOLE" }"#,
            Secret::env("MDMKIT_SECRET_ECOLE"),
        ),
        (
            r#"{ file = "secrets/ecole.key" }"#,
            Secret::file("secrets/ecole.key"),
        ),
        (r#""Cartable-2025""#, Secret::literal("Cartable-2025")),
    ] {
        let p = Policy::from_toml(&doc(text)).unwrap();
        assert_eq!(p.settings.wifi["ECOLE"].password.as_ref(), Some(&want));
        assert_eq!(Policy::from_json(&p.to_json()).unwrap(), p);
        assert_eq!(Policy::from_toml(&p.to_toml().unwrap()).unwrap(), p);
    }
}

#[test]
fn malformed_references_are_reported_at_the_setting() {
    let cases = [
        (r#"{ env = "MDMKIT_SECRET_A", file = "b" }"#, "not both"),
        (r#"{ vault = "kv/ecole" }"#, "unknown field `vault`"),
        ("{}", "needs `env` or `file`"),
        (r#"{ env = "DATABASE_URL" }"#, "MDMKIT_SECRET_"),
        (r#"{ file = "../../etc/shadow" }"#, "relative path"),
        (r#"{ file = "/etc/shadow" }"#, "relative path"),
        (
            r#"{ env = "MDMKIT_SECRET_A", sha256 = "00" }"#,
            "set by mdmkit",
        ),
        ("12", "a string, or a reference"),
    ];
    for (text, want) in cases {
        let issues = issues_of(&doc(text));
        // A value of the wrong shape is dropped, and its absence reported
        // too (`required when security = ...`), as for any setting.
        assert!(
            issues
                .iter()
                .any(|i| i.contains("wifi[\"ECOLE\"].password") && i.contains(want)),
            "{text}: {issues:?}"
        );
    }
}

#[test]
fn a_missing_secret_names_the_setting_and_the_reference() {
    let p = Policy::from_toml(&doc(r#"{ env = "MDMKIT_SECRET_ECOLE" }"#)).unwrap();
    let err = p
        .settings
        .resolve_secrets(&Fixed(BTreeMap::new()))
        .unwrap_err();
    assert_eq!(err.setting().to_string(), "wifi[\"ECOLE\"].password");
    assert_eq!(
        err.to_string(),
        "wifi[\"ECOLE\"].password: secret { env = \"MDMKIT_SECRET_ECOLE\" }: the environment variable is not set"
    );
}

#[test]
fn a_resolved_key_must_be_a_valid_wifi_key() {
    let p = Policy::from_toml(&doc(r#"{ env = "MDMKIT_SECRET_ECOLE" }"#)).unwrap();
    let short = Fixed([("MDMKIT_SECRET_ECOLE".into(), "short".into())].into());
    let err = p.settings.resolve_secrets(&short).unwrap_err();
    assert!(err.to_string().contains("8 to 63"), "{err}");
    assert!(!err.to_string().contains("short"), "{err}");
}

/// Settings with a Wi-Fi network per entry, each secret a reference.
fn with_references(names: &[String]) -> Settings {
    let mut text = String::from("[policy]\nid = \"t\"\n");
    for (i, n) in names.iter().enumerate() {
        let r = if i % 2 == 0 {
            format!(r#"{{ env = "MDMKIT_SECRET_{n}" }}"#)
        } else {
            format!(r#"{{ file = "secrets/{n}" }}"#)
        };
        text.push_str(&format!(
            "[wifi.\"NET-{n}\"]\nsecurity = \"wpa2-personal\"\npassword = {r}\n"
        ));
    }
    text.push_str("[restrictions]\ncamera = \"deny\"\n");
    Policy::from_toml(&text).unwrap().settings
}

fn resolver(names: &[String], value: &str) -> Fixed {
    Fixed(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let key = if i % 2 == 0 {
                    format!("MDMKIT_SECRET_{n}")
                } else {
                    format!("secrets/{n}")
                };
                (key, format!("{value}-{n}"))
            })
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(64)))]

    /// Encoders read the value; what is serialised (stores, journal,
    /// outputs) is the reference and a digest, never the value.
    #[test]
    fn resolving_exposes_the_value_to_encoders_and_serialises_only_the_reference(
        names in proptest::collection::btree_set("[A-Z]{1,6}", 1..4),
        value in "[a-zA-Z0-9]{8,20}",
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let s = with_references(&names);
        let resolved = s.resolve_secrets(&resolver(&names, &value)).unwrap();
        for n in &names {
            let p = resolved.wifi[&format!("NET-{n}")].password.as_ref().unwrap();
            let want = format!("{value}-{n}");
            prop_assert_eq!(p.expose(), Some(want.as_str()));
        }
        let text = serde_json::to_string(&resolved).unwrap();
        prop_assert!(!text.contains(&value), "{}", text);
        prop_assert!(text.contains("\"sha256\""), "{}", text);
        // The stored form reads back equal (same reference, same digest).
        let back: Settings = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &resolved);
        prop_assert_eq!(back.wifi.values().next().unwrap().password.as_ref().unwrap().expose(), None);
    }

    /// The law behind rotation: the Wi-Fi hash changes exactly when a
    /// value behind an unchanged reference changes; other categories never.
    #[test]
    fn the_wifi_hash_changes_exactly_when_a_resolved_value_changes(
        names in proptest::collection::btree_set("[A-Z]{1,6}", 1..4),
        a in "[a-z0-9]{8,12}",
        b in "[a-z0-9]{8,12}",
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let s = with_references(&names);
        let ha = category_hashes(&s.resolve_secrets(&resolver(&names, &a)).unwrap());
        let hb = category_hashes(&s.resolve_secrets(&resolver(&names, &b)).unwrap());
        prop_assert_eq!(ha[&Category::Wifi] != hb[&Category::Wifi], a != b);
        for c in Category::ALL.into_iter().filter(|c| *c != Category::Wifi) {
            prop_assert_eq!(ha[&c], hb[&c]);
        }
    }

    /// Redaction leaves no value in clear and keeps references as they are.
    #[test]
    fn redacted_settings_hold_no_secret_in_clear(
        literal in "[a-zA-Z0-9]{8,20}",
        names in proptest::collection::btree_set("[A-Z]{1,6}", 1..4),
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let mut s = with_references(&names);
        let mut lit = mdmkit_policy::WifiNetwork::default();
        lit.security = Some(mdmkit_policy::WifiSecurity::Wpa2Personal);
        lit.password = Some(Secret::literal(literal.clone()));
        s.wifi.insert("IN-CLEAR".into(), lit);
        let before = s.clone();
        s.redact_secrets();
        let text = serde_json::to_string(&s).unwrap();
        prop_assert!(!text.contains(&literal), "{}", text);
        prop_assert_eq!(s.wifi["IN-CLEAR"].password.as_ref().unwrap().expose(), Some("***"));
        for n in &names {
            let k = format!("NET-{n}");
            prop_assert_eq!(&s.wifi[&k], &before.wifi[&k]);
        }
    }
}

/// What a console or the admin API shows of an effective policy holds no
/// key written in clear: neither the one in effect nor the one it
/// overrode; a reference is shown as it is.
#[test]
fn a_redacted_effective_policy_shows_no_key_in_clear() {
    use mdmkit_policy::{Device, NodeId, Tenant};
    let mut t = Tenant::new(mdmkit_core::TenantId::new("region").unwrap());
    let root: NodeId = "region".parse().unwrap();
    let school: NodeId = "school".parse().unwrap();
    t.add_node(school.clone(), &root, None, None).unwrap();
    let policy = |id: &str, network: &str, password: &str| {
        Policy::from_toml(&format!(
            "[policy]\nid = \"{id}\"\n[wifi.{network}]\nsecurity = \"wpa2-personal\"\npassword = {password}\n"
        ))
        .unwrap()
    };
    t.set_policy(policy("outer", "ECOLE", "\"outer-key-1234\""));
    t.set_policy(policy("inner", "ECOLE", "\"inner-key-5678\""));
    t.set_policy(policy(
        "ref",
        "INVITES",
        r#"{ env = "MDMKIT_SECRET_INVITES" }"#,
    ));
    t.assign(&root, "outer".parse().unwrap()).unwrap();
    t.assign(&school, "inner".parse().unwrap()).unwrap();
    t.assign(&school, "ref".parse().unwrap()).unwrap();
    let d = mdmkit_core::DeviceId::new("ipad-1").unwrap();
    t.add_device(Device::new(d.clone(), school, mdmkit_core::Platform::Apple))
        .unwrap();
    let mut eff = t.effective(&d).unwrap();
    let clear = eff.to_json_explained().to_string();
    assert!(clear.contains("inner-key-5678") && clear.contains("outer-key-1234"));
    eff.redact_secrets();
    let shown = eff.to_json_explained().to_string();
    assert!(!shown.contains("inner-key-5678"), "{shown}");
    assert!(!shown.contains("outer-key-1234"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    assert!(shown.contains("MDMKIT_SECRET_INVITES"), "{shown}");
}
