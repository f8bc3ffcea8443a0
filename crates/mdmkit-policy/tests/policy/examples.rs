#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The tenant under `examples/region/` loads and checks clean, and its
//! effective policies say what the files mean.

use std::path::{Path, PathBuf};

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{
    EffectiveCache, KioskMode, Reason, Rule, Scope, SettingPath, Tenant, WebFilterMode, load_dir,
};

fn region() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region")
}

fn tenant() -> Tenant {
    match load_dir(&region()) {
        Ok(t) => t,
        Err(mdmkit_policy::Error::Invalid(issues)) => {
            panic!(
                "{}",
                issues
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }
        Err(e) => panic!("{e}"),
    }
}

fn device_at(t: &Tenant, node: &str, platform: Platform) -> DeviceId {
    t.devices()
        .find(|d| d.node.as_str() == node && d.platform == platform)
        .unwrap_or_else(|| panic!("no {platform} device at {node}"))
        .id
        .clone()
}

#[test]
fn the_region_example_loads_and_checks_clean() {
    let t = tenant();
    let issues = t.check();
    assert!(
        issues.is_empty(),
        "{}",
        issues
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(t.root().id().as_str(), "academie-hauts-de-lys");
    let kinds = |k: &str| t.nodes().iter().filter(|n| n.kind() == Some(k)).count();
    assert_eq!((kinds("group"), kinds("town"), kinds("school")), (2, 4, 6));
    for p in Platform::ALL {
        assert!(t.devices().any(|d| d.platform == p), "no {p} device");
    }
    let policies = std::fs::read_dir(region().join("policies"))
        .unwrap()
        .count();
    assert_eq!(t.policies().count(), policies);
}

#[test]
fn a_kiosk_class_gets_single_app_mode_with_the_whole_path_merged() {
    let t = tenant();
    let d = device_at(&t, "sainte-marie-cdi", Platform::Android);
    let eff = t.effective(&d).unwrap();
    let s = eff.settings();
    assert_eq!(s.kiosk.mode, Some(KioskMode::SingleApp));
    assert_eq!(s.kiosk.app.as_deref(), Some("esidoc"));
    // From the root, the school and the class.
    assert_eq!(s.passcode.min_length, Some(8));
    assert_eq!(s.restrictions.camera, Some(Rule::Deny));
    assert_eq!(s.restrictions.app_store, Some(Rule::Deny));
    assert!(s.apps.contains_key("pronote") && s.apps.contains_key("esidoc"));
    assert!(
        s.wifi.contains_key("EDU-MONTS-FLANDRE") && s.wifi.contains_key("SAINTE-MARIE-INVITES")
    );
    assert!(!s.wifi.contains_key("ECOLES-VDL"));
    assert_eq!(s.web_filter.mode, Some(WebFilterMode::Automatic));
}

#[test]
fn explain_names_the_school_that_set_the_longer_passcode() {
    let t = tenant();
    let d = device_at(&t, "sainte-marie-seconde-2", Platform::Windows);
    let ex = t
        .explain(&d, &"passcode.min_length".parse::<SettingPath>().unwrap())
        .unwrap();
    assert_eq!(ex.entries.len(), 1);
    let e = &ex.entries[0];
    assert_eq!(e.value, Some(serde_json::json!(8)));
    assert_eq!(e.provenance.source.policy.as_str(), "lycee-sainte-marie");
    assert_eq!(e.provenance.overridden.len(), 1);
    assert_eq!(
        e.provenance.overridden[0].source.policy.as_str(),
        "securite-socle"
    );
    assert_eq!(e.provenance.overridden[0].reason, Reason::LessRestrictive);
    assert_eq!(
        e.provenance.locked_by.as_ref().map(|s| s.scope.clone()),
        Some(Scope::Node("academie-hauts-de-lys".parse().unwrap()))
    );
}

#[test]
fn the_head_teachers_pc_gets_its_own_policy_on_top_of_the_school() {
    let t = tenant();
    let d = t
        .devices()
        .find(|d| !d.policies.is_empty())
        .unwrap()
        .id
        .clone();
    let s = t.effective(&d).unwrap().settings().clone();
    assert_eq!(s.passcode.min_length, Some(10));
    assert!(s.apps.contains_key("suite-bureautique"));
    assert_eq!(s.passcode.auto_lock_minutes, Some(2));
}

#[test]
fn the_cache_agrees_with_a_direct_merge_for_every_device() {
    let t = tenant();
    let cache = EffectiveCache::build(&t).unwrap();
    assert_eq!(cache.len(), t.devices().count());
    for d in t.devices() {
        assert_eq!(
            **cache.get(&d.id).unwrap(),
            t.effective(&d.id).unwrap(),
            "{}",
            d.id
        );
    }
}

/// Planning a few devices merges only their paths, with the same result
/// as the whole cache; a narrowed tree keeps only the devices it is given.
#[test]
fn a_cache_for_some_devices_agrees_with_the_whole_one() {
    let t = tenant();
    let whole = EffectiveCache::build(&t).unwrap();
    let ids: Vec<DeviceId> = t.devices().map(|d| d.id.clone()).collect();
    // Every device alone, then every other device together (shared paths
    // are merged once and reused).
    for id in &ids {
        let one = EffectiveCache::build_for(&t, [id]).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(**one.get(id).unwrap(), **whole.get(id).unwrap(), "{id}");
    }
    let some: Vec<&DeviceId> = ids.iter().step_by(2).collect();
    let part = EffectiveCache::build_for(&t, some.iter().copied()).unwrap();
    assert_eq!(part.len(), some.len());
    for id in &some {
        assert_eq!(**part.get(id).unwrap(), **whole.get(id).unwrap(), "{id}");
    }
    let narrow = t.only_devices(some.iter().copied());
    assert_eq!(narrow.devices().count(), some.len());
    let from_narrow = EffectiveCache::build(&narrow).unwrap();
    for id in &some {
        assert_eq!(
            **from_narrow.get(id).unwrap(),
            **whole.get(id).unwrap(),
            "{id}"
        );
        assert_eq!(narrow.device(id), t.device(id));
    }
    // An unknown device is an error naming it, not an empty cache.
    let nobody: DeviceId = "nobody".parse().unwrap();
    let e = EffectiveCache::build_for(&t, [&nobody]).unwrap_err();
    assert!(e.to_string().contains("nobody"), "{e}");
}

#[test]
fn an_unsupervised_ipad_reports_what_it_cannot_enforce() {
    let t = tenant();
    let id: DeviceId = "00008030-001A2B3C4D5E802E".parse().unwrap();
    let device = t.device(&id).unwrap();
    let eff = t.effective(&id).unwrap();
    let report = mdmkit_policy::unsupported(&eff.flatten(), device);
    let paths: Vec<String> = report.iter().map(|u| u.path.to_string()).collect();
    // Supervised-only restrictions, and a minimum OS check that needs iOS 17.
    assert!(
        paths.contains(&"restrictions.factory_reset".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"restrictions.multiplayer_gaming".to_owned()),
        "{paths:?}"
    );
    assert!(
        !paths.contains(&"restrictions.camera".to_owned()),
        "{paths:?}"
    );
    // Windows and Android rows are not about this device.
    assert!(
        !paths.iter().any(|p| p.starts_with("vendor.windows")),
        "{paths:?}"
    );
    let supervised = t
        .devices()
        .find(|d| d.platform == Platform::Apple && d.supervised == Some(true))
        .unwrap();
    let eff = t.effective(&supervised.id).unwrap();
    let report = mdmkit_policy::unsupported(&eff.flatten(), supervised);
    assert!(
        !report
            .iter()
            .any(|u| u.path.to_string() == "restrictions.factory_reset")
    );
}
