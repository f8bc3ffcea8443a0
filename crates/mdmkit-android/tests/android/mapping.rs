#![allow(clippy::unwrap_used, clippy::expect_used)]
//! mdmkit-policy settings to AMAPI Policy JSON: the examples give JSON
//! Google's description accepts, every mapping is checked, diffs give
//! minimal update masks, and layer conflicts carry provenance.

use std::path::{Path, PathBuf};

use mdmkit_android::mapping::{self, Mapped, patch, patch_json, to_policy};
use mdmkit_android::{parse, schema};
use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_policy::{Device, Policy, Tenant, load_dir};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn region() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region")
}

fn assert_valid(mapped: &Mapped, what: &str) {
    let v = mapped.to_value();
    let findings = schema::check(&v, "Policy").unwrap();
    assert!(findings.is_empty(), "{what}: {findings:?}\n{v:#}");
    // And the typed model reads it.
    parse::policy(mapped.to_json_pretty().as_bytes()).unwrap();
    mapped.to_model().unwrap();
}

fn mapped(toml: &str) -> Mapped {
    let p = Policy::from_toml(&format!("[policy]\nid = \"p\"\n{toml}")).unwrap();
    to_policy(&p.settings)
}

#[test]
fn every_android_device_of_the_region_example_compiles_to_valid_policy_json() {
    let tenant = load_dir(&region()).unwrap();
    let mut n = 0;
    for device in tenant.devices().filter(|d| d.platform == Platform::Android) {
        let eff = tenant.effective(&device.id).unwrap();
        let m = mapping::from_effective(&eff);
        assert_valid(&m, device.id.as_str());
        assert!(!m.policy.is_empty());
        n += 1;
    }
    assert!(n > 0, "the example has android devices");
}

#[test]
fn every_policy_file_of_the_region_example_compiles_to_valid_policy_json() {
    let mut n = 0;
    for entry in std::fs::read_dir(region().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        let p = Policy::from_path(&path).unwrap();
        // Its Wi-Fi keys are file references (examples/region/secrets/).
        let settings = p
            .settings
            .resolve_secrets(&mdmkit_policy::EnvFileResolver::new(region()))
            .unwrap();
        assert_valid(&to_policy(&settings), &path.display().to_string());
        n += 1;
    }
    assert!(n > 10);
}

#[test]
fn passcode_becomes_device_scoped_password_requirements() {
    let m = mapped(
        "[passcode]\nrequired = true\nmin_length = 8\ncomplexity = \"complex\"\nmin_complex_chars = 1\n\
         max_failed_attempts = 10\nauto_lock_minutes = 5\nmax_age_days = 90\nhistory = 5",
    );
    assert_eq!(
        m.policy["passwordPolicies"],
        json!([{
            "maximumFailedPasswordsForWipe": 10,
            "passwordExpirationTimeout": "7776000s",
            "passwordHistoryLength": 5,
            "passwordMinimumLength": 8,
            "passwordMinimumSymbols": 1,
            "passwordQuality": "COMPLEX",
            "passwordScope": "SCOPE_DEVICE",
        }])
    );
    assert_eq!(m.policy["maximumTimeToLock"], "300000");
    assert!(m.unsupported.is_empty());
    assert_valid(&m, "passcode");
}

#[test]
fn a_minimum_length_alone_raises_quality_to_numeric_so_android_applies_it() {
    let m = mapped("[passcode]\nmin_length = 6");
    assert_eq!(
        m.policy["passwordPolicies"][0]["passwordQuality"],
        "NUMERIC"
    );
}

#[test]
fn symbols_without_complex_quality_are_reported_not_dropped() {
    let m = mapped("[passcode]\ncomplexity = \"alphanumeric\"\nmin_complex_chars = 2");
    assert_eq!(
        m.unsupported[0].path.to_string(),
        "passcode.min_complex_chars"
    );
}

#[test]
fn restrictions_become_their_booleans_and_enums() {
    let m = mapped(
        "[restrictions]\ncamera = \"deny\"\nscreen_capture = \"deny\"\napp_installation = \"deny\"\n\
         app_removal = \"allow\"\nbluetooth_changes = \"deny\"\nusb_mass_storage = \"deny\"\n\
         account_changes = \"deny\"\nfactory_reset = \"deny\"\ndeveloper_mode = \"deny\"\n\
         voice_assistant = \"deny\"\nin_app_purchases = \"deny\"",
    );
    let p = &m.policy;
    assert_eq!(p["cameraAccess"], "CAMERA_ACCESS_DISABLED");
    assert_eq!(p["screenCaptureDisabled"], true);
    assert_eq!(p["installAppsDisabled"], true);
    assert_eq!(p["uninstallAppsDisabled"], false);
    assert_eq!(p["bluetoothConfigDisabled"], true);
    assert_eq!(
        p["deviceConnectivityManagement"]["usbDataAccess"],
        "DISALLOW_USB_FILE_TRANSFER"
    );
    assert_eq!(p["modifyAccountsDisabled"], true);
    assert_eq!(p["factoryResetDisabled"], true);
    assert_eq!(
        p["advancedSecurityOverrides"]["developerSettings"],
        "DEVELOPER_SETTINGS_DISABLED"
    );
    let unsupported: Vec<String> = m.unsupported.iter().map(|u| u.path.to_string()).collect();
    assert_eq!(
        unsupported,
        [
            "restrictions.in_app_purchases",
            "restrictions.voice_assistant"
        ]
    );
    assert_valid(&m, "restrictions");
}

#[test]
fn apps_get_install_types_and_managed_configuration() {
    let m = mapped(
        r#"
[apps.a]
install = "required"
android = { package = "org.example.a" }
config = { server = "https://a.example", level = 3 }
[apps.b]
install = "available"
android = { package = "org.example.b" }
[apps.c]
install = "blocked"
android = { package = "org.example.c" }
[apps.d]
install = "removed"
android = { package = "org.example.d" }
[apps.ios-only]
install = "required"
apple = { bundle_id = "org.example.ios" }
"#,
    );
    assert_eq!(
        m.policy["applications"],
        json!([
            {"packageName": "org.example.a", "installType": "FORCE_INSTALLED",
             "managedConfiguration": {"server": "https://a.example", "level": 3}},
            {"packageName": "org.example.b", "installType": "AVAILABLE"},
            {"packageName": "org.example.c", "installType": "BLOCKED"},
            {"packageName": "org.example.d", "installType": "BLOCKED"},
        ])
    );
    let reported: Vec<(String, bool)> = m
        .unsupported
        .iter()
        .map(|u| (u.path.to_string(), u.partial))
        .collect();
    assert_eq!(
        reported,
        [
            (r#"apps["d"]"#.to_owned(), true),
            (r#"apps["ios-only"]"#.to_owned(), false)
        ]
    );
    assert_valid(&m, "apps");
}

#[test]
fn a_single_app_kiosk_makes_that_app_the_kiosk_app() {
    let m = mapped(
        "[apps.k]\ninstall = \"required\"\nandroid = { package = \"fr.canope.esidoc\" }\n\
         [kiosk]\nmode = \"single-app\"\napp = \"k\"",
    );
    assert_eq!(
        m.policy["applications"],
        json!([{"packageName": "fr.canope.esidoc", "installType": "KIOSK"}])
    );
}

#[test]
fn wifi_becomes_open_network_configuration() {
    let m = mapped(
        r#"
[wifi."ECOLE"]
security = "wpa2-personal"
password = "correct horse battery"
hidden = true
[wifi."ECOLE-PROFS"]
security = "wpa2-enterprise"
eap = "peap"
username = "prof"
trusted_server_certificates = ["radius-ca"]
server_names = ["radius.example.org"]
[certificates.roots.radius-ca]
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
pem = "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n"
"#,
    );
    let onc = &m.policy["openNetworkConfiguration"];
    let nets = onc["NetworkConfigurations"].as_array().unwrap();
    assert_eq!(
        nets[0],
        json!({"GUID": "mdmkit-wifi-ECOLE", "Name": "ECOLE", "Type": "WiFi",
               "WiFi": {"SSID": "ECOLE", "Security": "WPA-PSK", "Passphrase": "correct horse battery",
                        "AutoConnect": true, "HiddenSSID": true}})
    );
    assert_eq!(nets[1]["WiFi"]["Security"], "WPA-EAP");
    assert_eq!(nets[1]["WiFi"]["EAP"]["Outer"], "PEAP");
    assert_eq!(
        nets[1]["WiFi"]["EAP"]["ServerCARefs"],
        json!(["mdmkit-ca-radius-ca"])
    );
    assert_eq!(
        onc["Certificates"],
        json!([{"GUID": "mdmkit-ca-radius-ca", "Type": "Authority", "X509": "AAAABBBB"}])
    );
    assert_valid(&m, "wifi");
}

#[test]
fn os_updates_lock_screen_and_unenforceable_settings() {
    let m = mapped(
        "[os_updates]\nmaintenance_window = { start = \"02:00\", end = \"05:30\" }\n\
         minimum_version = { android = { version = \"13\" } }\n\
         [device]\nlock_screen_message = \"Rapporter au secrétariat\"\nname_template = \"T-{serial}\"\n\
         [web_filter]\ndenied_urls = [\"https://x.example\"]",
    );
    assert_eq!(
        m.policy["systemUpdate"],
        json!({"type": "WINDOWED", "startMinutes": 120, "endMinutes": 330})
    );
    assert_eq!(m.policy["minimumApiLevel"], 33);
    assert_eq!(
        m.policy["deviceOwnerLockScreenInfo"]["defaultMessage"],
        "Rapporter au secrétariat"
    );
    let reported: Vec<String> = m.unsupported.iter().map(|u| u.path.to_string()).collect();
    assert_eq!(reported, ["device.name_template", "web_filter"]);
    assert_valid(&m, "os updates");
}

#[test]
fn vendor_passthrough_wins_and_unknown_keys_are_reported() {
    let m = mapped(
        "[restrictions]\ncamera = \"deny\"\n[vendor.android]\ncameraAccess = \"CAMERA_ACCESS_ENFORCED\"\n\
         statusBarDisabled = true\nnoSuchField = 1\nplayStoreMode = \"NOPE\"",
    );
    assert_eq!(m.policy["cameraAccess"], "CAMERA_ACCESS_ENFORCED");
    assert_eq!(m.policy["statusBarDisabled"], true);
    assert!(!m.policy.contains_key("noSuchField"));
    assert!(!m.policy.contains_key("playStoreMode"));
    let reported: Vec<String> = m.unsupported.iter().map(|u| u.path.to_string()).collect();
    assert_eq!(
        reported,
        [
            r#"vendor.android["noSuchField"]"#,
            r#"vendor.android["playStoreMode"]"#
        ]
    );
    assert_valid(&m, "vendor");
}

#[test]
fn mapping_is_deterministic() {
    let a = Policy::from_path(&region().join("policies/securite-socle.toml")).unwrap();
    let b = Policy::from_path(&region().join("policies/securite-socle.toml")).unwrap();
    assert_eq!(
        to_policy(&a.settings).to_json_pretty(),
        to_policy(&b.settings).to_json_pretty()
    );
}

#[test]
fn a_change_patches_only_the_changed_top_level_fields() {
    let old = mapped("[restrictions]\ncamera = \"allow\"\nscreen_capture = \"deny\"");
    let new = mapped(
        "[restrictions]\ncamera = \"deny\"\nscreen_capture = \"deny\"\n[device]\nlock_screen_message = \"x\"",
    );
    let p = patch(&old, &new);
    assert_eq!(p.update_mask, ["cameraAccess", "deviceOwnerLockScreenInfo"]);
    assert_eq!(
        p.update_mask_param(),
        "cameraAccess,deviceOwnerLockScreenInfo"
    );
    assert!(!p.body.contains_key("screenCaptureDisabled"));
    assert_eq!(p.apply(&old.policy), new.policy);
    assert!(patch(&new, &new).is_empty());
}

#[test]
fn a_removed_setting_is_masked_and_absent_from_the_body_so_google_clears_it() {
    let old = mapped("[restrictions]\ncamera = \"deny\"");
    let new = mapped("");
    let p = patch(&old, &new);
    assert_eq!(p.update_mask, ["cameraAccess"]);
    assert!(p.body.is_empty());
    assert_eq!(p.apply(&old.policy), new.policy);
}

#[test]
fn two_layers_naming_different_kiosk_apps_are_reported_with_both_sources() {
    let mut tenant = Tenant::new(TenantId::new("t").unwrap());
    let apps = r#"
[apps.a]
install = "required"
android = { package = "org.example.a" }
[apps.b]
install = "required"
android = { package = "org.example.b" }
"#;
    let outer = Policy::from_toml(&format!(
        "[policy]\nid = \"outer\"\n{apps}\n[kiosk]\nmode = \"single-app\"\napp = \"a\""
    ))
    .unwrap();
    let inner =
        Policy::from_toml("[policy]\nid = \"inner\"\n[kiosk]\nmode = \"single-app\"\napp = \"b\"")
            .unwrap();
    tenant.set_policy(outer);
    tenant.set_policy(inner);
    let school = "school".parse().unwrap();
    tenant
        .add_node(Clone::clone(&school), &"t".parse().unwrap(), None, None)
        .unwrap();
    tenant
        .assign(&"t".parse().unwrap(), "outer".parse().unwrap())
        .unwrap();
    tenant.assign(&school, "inner".parse().unwrap()).unwrap();
    let id = DeviceId::new("enterprises/e/devices/d1").unwrap();
    tenant
        .add_device(Device::new(id.clone(), school, Platform::Android))
        .unwrap();
    let m = mapping::from_effective(&tenant.effective(&id).unwrap());
    let c = m
        .conflicts
        .iter()
        .find(|c| c.path.to_string() == "kiosk.app")
        .expect("a kiosk conflict");
    assert_eq!(c.field, "applications[KIOSK]");
    assert_eq!(c.kept.policy.as_str(), "inner");
    assert_eq!(c.dropped[0].policy.as_str(), "outer");
    assert!(c.to_string().contains("policy outer"), "{c}");
    let kiosk: Vec<&Value> = m.policy["applications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["installType"] == "KIOSK")
        .collect();
    assert_eq!(kiosk.len(), 1);
    assert_eq!(kiosk[0]["packageName"], "org.example.b");
}

fn policy_map() -> impl Strategy<Value = Map<String, Value>> {
    let keys = prop::sample::select(vec![
        "cameraAccess",
        "screenCaptureDisabled",
        "applications",
        "systemUpdate",
        "passwordPolicies",
        "statusBarDisabled",
    ]);
    let values = prop_oneof![
        any::<bool>().prop_map(Value::from),
        (0u32..4).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
        prop::collection::vec(0u8..3, 0..3).prop_map(|v| json!(v)),
    ];
    prop::collection::btree_map(keys, values, 0..6)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

proptest! {
    #[test]
    fn applying_the_patch_gives_the_new_policy_and_the_mask_names_exactly_the_differences(
        old in policy_map(), new in policy_map()
    ) {
        let p = patch_json(&old, &new);
        prop_assert_eq!(&p.apply(&old), &new);
        for key in old.keys().chain(new.keys()) {
            let differs = old.get(key) != new.get(key);
            prop_assert_eq!(p.update_mask.contains(key), differs, "{}", key);
        }
        let mut sorted = p.update_mask.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&sorted, &p.update_mask);
        prop_assert_eq!(p.is_empty(), old == new);
    }
}

#[test]
fn two_layers_giving_one_package_to_different_apps_are_reported_with_both_sources() {
    let mut tenant = Tenant::new(TenantId::new("t").unwrap());
    let outer = Policy::from_toml(
        "[policy]\nid = \"outer\"\n[apps.ent]\ninstall = \"required\"\nandroid = { package = \"org.example.ent\" }",
    )
    .unwrap();
    let inner = Policy::from_toml(
        "[policy]\nid = \"inner\"\n[apps.ent-v2]\ninstall = \"available\"\nandroid = { package = \"org.example.ent\" }",
    )
    .unwrap();
    tenant.set_policy(outer);
    tenant.set_policy(inner);
    let school: mdmkit_policy::NodeId = "school".parse().unwrap();
    tenant
        .add_node(school.clone(), &"t".parse().unwrap(), None, None)
        .unwrap();
    tenant
        .assign(&"t".parse().unwrap(), "outer".parse().unwrap())
        .unwrap();
    tenant.assign(&school, "inner".parse().unwrap()).unwrap();
    let id = DeviceId::new("enterprises/e/devices/d2").unwrap();
    tenant
        .add_device(Device::new(id.clone(), school, Platform::Android))
        .unwrap();
    let m = mapping::from_effective(&tenant.effective(&id).unwrap());
    assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
    let c = &m.conflicts[0];
    assert_eq!(c.field, "applications");
    assert_eq!(c.path.to_string(), r#"apps["ent-v2"]"#);
    assert_eq!(c.kept.policy.as_str(), "outer");
    assert_eq!(c.dropped[0].policy.as_str(), "inner");
    assert_eq!(m.policy["applications"].as_array().unwrap().len(), 1);
}

#[test]
fn every_restriction_is_mapped_or_reported_never_dropped() {
    for field in mdmkit_policy::Restrictions::FIELDS {
        for rule in ["allow", "deny"] {
            let m = mapped(&format!("[restrictions]\n{field} = \"{rule}\""));
            let reported = m
                .unsupported
                .iter()
                .any(|u| u.path.to_string() == format!("restrictions.{field}"));
            assert!(
                !m.policy.is_empty() || reported,
                "{field} = {rule} vanished"
            );
            assert_valid(&m, field);
        }
    }
}

proptest! {
    #[test]
    fn random_passcodes_and_updates_give_json_google_describes(
        min_length in prop::option::of(1u32..=64),
        complexity in prop::option::of(prop::sample::select(vec!["numeric", "alphanumeric", "complex"])),
        symbols in prop::option::of(0u32..=4),
        failed in prop::option::of(2u32..=11),
        lock in prop::option::of(1u32..=60),
        age in prop::option::of(1u32..=730),
        history in prop::option::of(1u32..=50),
        deferral in prop::option::of(0u32..=90),
        window in prop::option::of((0u32..24, 0u32..60, 0u32..24, 0u32..60)),
    ) {
        let mut toml = String::from("[passcode]\nrequired = true\n");
        let opt = |t: &mut String, k: &str, v: Option<u32>| {
            if let Some(v) = v { t.push_str(&format!("{k} = {v}\n")); }
        };
        opt(&mut toml, "min_length", min_length);
        opt(&mut toml, "min_complex_chars", symbols);
        opt(&mut toml, "max_failed_attempts", failed);
        opt(&mut toml, "auto_lock_minutes", lock);
        opt(&mut toml, "max_age_days", age);
        opt(&mut toml, "history", history);
        if let Some(c) = complexity { toml.push_str(&format!("complexity = \"{c}\"\n")); }
        toml.push_str("[os_updates]\n");
        opt(&mut toml, "deferral_days", deferral);
        if let Some((a, b, c, d)) = window {
            toml.push_str(&format!("maintenance_window = {{ start = \"{a:02}:{b:02}\", end = \"{c:02}:{d:02}\" }}\n"));
        }
        let p = Policy::from_toml(&format!("[policy]\nid = \"p\"\n{toml}"));
        prop_assume!(p.is_ok(), "{:?}", p);
        let p = p.unwrap();
        let m = to_policy(&p.settings);
        let findings = schema::check(&m.to_value(), "Policy").unwrap();
        prop_assert!(findings.is_empty(), "{:?}", findings);
        prop_assert_eq!(to_policy(&p.settings), m);
    }
}

#[test]
fn a_multi_app_kiosk_enables_the_custom_launcher_and_reports_apps_android_lacks() {
    let m = mapped(
        "[apps.a]\ninstall = \"required\"\nandroid = { package = \"org.example.a\" }\n\
         [apps.w]\ninstall = \"required\"\nwindows = { package_family_name = \"Microsoft.WindowsCalculator_8wekyb3d8bbwe\" }\n\
         [kiosk]\nmode = \"multi-app\"\napps = [\"a\", \"w\"]",
    );
    assert_eq!(m.policy["kioskCustomLauncherEnabled"], true);
    let reported: Vec<String> = m.unsupported.iter().map(|u| u.path.to_string()).collect();
    assert_eq!(reported, [r#"apps["w"]"#, "kiosk.apps"]);
    assert_valid(&m, "multi-app kiosk");
}

#[test]
fn an_open_network_with_a_manual_proxy_becomes_onc_proxy_settings() {
    let m = mapped(
        "[wifi.\"CDI libre\"]\nsecurity = \"open\"\nauto_join = false\n\
         proxy = { mode = \"manual\", host = \"proxy.example\", port = 3128 }",
    );
    let net = &m.policy["openNetworkConfiguration"]["NetworkConfigurations"][0];
    assert_eq!(net["GUID"], "mdmkit-wifi-CDI%20libre");
    assert_eq!(net["WiFi"]["Security"], "None");
    assert_eq!(net["WiFi"]["AutoConnect"], false);
    assert_eq!(
        net["ProxySettings"],
        json!({"Type": "Manual", "Manual": {"HTTPProxy": {"Host": "proxy.example", "Port": 3128}}})
    );
}
