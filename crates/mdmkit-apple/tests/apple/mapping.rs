#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The policy → Apple mapping against the region example and small edits.

use std::path::PathBuf;

use mdmkit_apple::mapping::{self, Mapper, any_supervised_ios, device_context};
use mdmkit_apple::schema::{self, Os, SchemaKind};
use mdmkit_apple::support::{DeviceContext, OsVersion};
use mdmkit_apple::{Format, Limits, Profile};
use mdmkit_core::{Platform, TenantId};
use mdmkit_policy::{Category, Policy, Rule, Settings, load_dir};
use proptest::prelude::*;

fn region() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/region")
}

fn tenant() -> TenantId {
    TenantId::new("region").unwrap()
}

fn ipad(supervised: bool) -> DeviceContext {
    DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), supervised)
}

fn assert_valid(p: &Profile, what: &str) {
    let errors: Vec<_> = p.validate().into_iter().filter(|i| i.is_error()).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
    let bytes = p.to_bytes(Format::Xml);
    assert_eq!(&Profile::from_bytes(&bytes, &Limits::DEFAULT).unwrap(), p);
}

#[test]
fn every_apple_device_of_the_region_compiles_to_valid_profiles() {
    let t = load_dir(&region()).unwrap();
    let mut devices = 0;
    for d in t.devices() {
        if d.platform != Platform::Apple {
            continue;
        }
        devices += 1;
        let ctx = device_context(d).unwrap();
        let eff = t.effective(&d.id).unwrap();
        // Its Wi-Fi keys are file references (examples/region/secrets/).
        let settings = eff
            .settings()
            .resolve_secrets(&mdmkit_policy::EnvFileResolver::for_tenant(&t))
            .unwrap();
        let c = mapping::compile(t.id(), &settings, &ctx).unwrap();
        assert!(
            !c.unsupported
                .iter()
                .any(|u| u.path.to_string().ends_with(".password")),
            "{:?}",
            c.unsupported
        );
        assert!(!c.profiles.is_empty(), "{}", d.id);
        for (cat, p) in &c.profiles {
            assert_valid(p, &format!("{} {cat}", d.id));
            assert_eq!(
                p.identifier,
                format!("org.mdmkit.{}.{}", t.id(), cat.as_str())
            );
        }
        let single = Mapper::new(t.id().clone())
            .single_profile(&c, "policy")
            .unwrap();
        assert_valid(&single, "single");
    }
    assert!(devices > 0);
}

#[test]
fn every_policy_file_compiles_to_valid_profiles() {
    let mut n = 0;
    for f in std::fs::read_dir(region().join("policies")).unwrap() {
        let path = f.unwrap().path();
        let p = Policy::from_path(&path).unwrap();
        let settings = p
            .settings
            .resolve_secrets(&mdmkit_policy::EnvFileResolver::new(region()))
            .unwrap();
        let c = mapping::compile(&tenant(), &settings, &any_supervised_ios()).unwrap();
        for (cat, prof) in &c.profiles {
            assert_valid(prof, &format!("{} {cat}", path.display()));
        }
        n += 1;
    }
    assert!(n > 5);
}

#[test]
fn every_mapped_apple_key_exists_in_the_schema() {
    for (ty, keys) in [
        (
            "com.apple.mobiledevice.passwordpolicy",
            &[
                "forcePIN",
                "minLength",
                "requireAlphanumeric",
                "minComplexChars",
                "maxFailedAttempts",
                "maxInactivity",
                "maxPINAgeInDays",
                "pinHistory",
                "allowSimple",
            ][..],
        ),
        (
            "com.apple.applicationaccess",
            &[
                "allowCamera",
                "allowScreenShot",
                "allowAppInstallation",
                "allowAppRemoval",
                "allowInAppPurchases",
                "allowExplicitContent",
                "allowAirDrop",
                "allowBluetoothModification",
                "allowAccountModification",
                "allowEraseContentAndSettings",
                "allowAssistant",
                "allowMultiplayerGaming",
                "allowUIAppInstallation",
                "enforcedSoftwareUpdateDelay",
                "forceDelayedSoftwareUpdates",
            ][..],
        ),
        (
            "com.apple.wifi.managed",
            &[
                "SSID_STR",
                "EncryptionType",
                "Password",
                "HIDDEN_NETWORK",
                "AutoJoin",
                "EAPClientConfiguration",
                "ProxyType",
                "ProxyServer",
                "ProxyServerPort",
                "ProxyPACURL",
            ][..],
        ),
        (
            "com.apple.webcontent-filter",
            &[
                "FilterType",
                "AutoFilterEnabled",
                "AllowListBookmarks",
                "DenyListURLs",
                "PermittedURLs",
            ][..],
        ),
        ("com.apple.app.lock", &["App"][..]),
        (
            "com.apple.shareddeviceconfiguration",
            &["LockScreenFootnote"][..],
        ),
        ("com.apple.security.root", &["PayloadContent"][..]),
    ] {
        let e = schema::find(SchemaKind::Profile, ty).unwrap();
        for k in keys {
            assert!(e.key(k).is_some(), "{ty} {k}");
        }
    }
}

fn base() -> Settings {
    Policy::from_toml(
        r#"
        [policy]
        id = "p"
        [passcode]
        min_length = 6
        [restrictions]
        camera = "deny"
        app_store = "deny"
        [wifi."ECOLE"]
        security = "wpa2-personal"
        password = "correct horse battery"
        [device]
        lock_screen_message = "Propriété de la région"
        "#,
    )
    .unwrap()
    .settings
}

#[test]
fn recompiling_unchanged_input_is_byte_identical() {
    let a = mapping::compile(&tenant(), &base(), &ipad(true)).unwrap();
    let b = mapping::compile(&tenant(), &base(), &ipad(true)).unwrap();
    assert_eq!(a.profiles.len(), b.profiles.len());
    for ((_, x), (_, y)) in a.profiles.iter().zip(&b.profiles) {
        assert_eq!(x.to_bytes(Format::Xml), y.to_bytes(Format::Xml));
        assert_eq!(x.to_bytes(Format::Binary), y.to_bytes(Format::Binary));
    }
}

#[test]
fn changing_one_setting_yields_exactly_one_install_profile() {
    let old = base();
    let mut new = old.clone();
    new.passcode.min_length = Some(8);
    let plan = mapping::plan_diff(&tenant(), &old, &new, &ipad(true)).unwrap();
    assert_eq!(plan.install.len(), 1);
    assert_eq!(plan.install[0].0, Category::Passcode);
    assert!(plan.remove.is_empty());
    let cmds = plan.commands();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].request_type, "InstallProfile");
}

#[test]
fn removing_a_category_yields_exactly_one_remove_profile() {
    let old = base();
    let mut new = old.clone();
    new.wifi.clear();
    let plan = mapping::plan_diff(&tenant(), &old, &new, &ipad(true)).unwrap();
    assert!(plan.install.is_empty());
    assert_eq!(
        plan.remove,
        vec![(Category::Wifi, "org.mdmkit.region.wifi".to_owned())]
    );
    let cmds = plan.commands();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].request_type, "RemoveProfile");
}

#[test]
fn an_unchanged_policy_plans_nothing() {
    let plan = mapping::plan_diff(&tenant(), &base(), &base(), &ipad(true)).unwrap();
    assert!(plan.is_empty());
}

#[test]
fn an_unsupervised_ipad_gets_supervision_only_restrictions_reported() {
    let c = mapping::compile(&tenant(), &base(), &ipad(false)).unwrap();
    let r = c
        .unsupported
        .iter()
        .find(|u| u.path.to_string() == "restrictions.app_store")
        .expect("app_store reported");
    assert!(r.reason.contains("supervised"), "{r}");
    let restr = c.profile(Category::Restrictions).unwrap();
    assert!(
        !restr.payloads[0]
            .content
            .contains_key("allowUIAppInstallation")
    );
    assert!(restr.payloads[0].content.contains_key("allowCamera"));
    let sup = mapping::compile(&tenant(), &base(), &ipad(true)).unwrap();
    assert!(
        sup.unsupported
            .iter()
            .all(|u| u.path.to_string() != "restrictions.app_store")
    );
}

#[test]
fn keep_unsupported_sends_supervision_keys_and_still_reports_them() {
    let c = Mapper::new(tenant())
        .keep_unsupported(true)
        .compile(&base(), &ipad(false))
        .unwrap();
    let r = c
        .unsupported
        .iter()
        .find(|u| u.path.to_string() == "restrictions.app_store")
        .unwrap();
    assert!(r.sent);
    let restr = c.profile(Category::Restrictions).unwrap();
    assert!(
        restr.payloads[0]
            .content
            .contains_key("allowUIAppInstallation")
    );
}

#[test]
fn out_of_range_values_are_reported_not_sent() {
    let mut s = Settings::default();
    s.passcode.max_failed_attempts = Some(50);
    let c = mapping::compile(&tenant(), &s, &ipad(true)).unwrap();
    assert!(c.profiles.is_empty());
    assert_eq!(
        c.unsupported[0].path.to_string(),
        "passcode.max_failed_attempts"
    );
}

proptest! {
    #[test]
    fn any_single_restriction_change_touches_only_the_restrictions_profile(
        field in 0usize..4, deny in any::<bool>()
    ) {
        let old = base();
        let mut new = old.clone();
        let rule = if deny { Rule::Deny } else { Rule::Allow };
        match field {
            0 => new.restrictions.camera = Some(if old.restrictions.camera == Some(rule) { Rule::Allow } else { rule }),
            1 => new.restrictions.screen_capture = Some(rule),
            2 => new.restrictions.voice_assistant = Some(rule),
            _ => new.restrictions.in_app_purchases = Some(rule),
        }
        let plan = mapping::plan_diff(&tenant(), &old, &new, &ipad(true)).unwrap();
        prop_assert_eq!(plan.install.len(), 1);
        prop_assert_eq!(plan.install[0].0, Category::Restrictions);
        prop_assert!(plan.remove.is_empty());
    }
}

fn settings_from(min_len: Option<u32>, camera: Option<bool>, message: Option<u8>) -> Settings {
    let mut s = Settings::default();
    s.passcode.min_length = min_len;
    s.restrictions.camera = camera.map(|d| if d { Rule::Deny } else { Rule::Allow });
    s.device.lock_screen_message = message.map(|m| format!("message {m}"));
    s
}

proptest! {
    #[test]
    fn a_plan_installs_exactly_the_changed_categories_and_removes_the_emptied_ones(
        a in (proptest::option::of(4u32..16), proptest::option::of(any::<bool>()), proptest::option::of(0u8..3)),
        b in (proptest::option::of(4u32..16), proptest::option::of(any::<bool>()), proptest::option::of(0u8..3)),
    ) {
        let old = settings_from(a.0, a.1, a.2);
        let new = settings_from(b.0, b.1, b.2);
        let plan = mapping::plan_diff(&tenant(), &old, &new, &ipad(true)).unwrap();
        let mut want_install = Vec::new();
        let mut want_remove = Vec::new();
        for (cat, was, now) in [
            (Category::Passcode, a.0.is_some(), b.0.is_some()),
            (Category::Restrictions, a.1.is_some(), b.1.is_some()),
            (Category::Device, a.2.is_some(), b.2.is_some()),
        ] {
            let changed = match cat {
                Category::Passcode => a.0 != b.0,
                Category::Restrictions => a.1 != b.1,
                _ => a.2 != b.2,
            };
            if now && changed {
                want_install.push(cat);
            }
            if was && !now {
                want_remove.push(cat);
            }
        }
        let install: Vec<Category> = plan.install.iter().map(|(c, _)| *c).collect();
        let remove: Vec<Category> = plan.remove.iter().map(|(c, _)| *c).collect();
        prop_assert_eq!(install, want_install);
        prop_assert_eq!(remove, want_remove);
        prop_assert!(mapping::plan_diff(&tenant(), &new, &new, &ipad(true)).unwrap().is_empty());
    }
}
