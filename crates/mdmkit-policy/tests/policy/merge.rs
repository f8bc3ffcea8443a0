#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The merge rules: most restrictive, nearest, unions, keyed unions, locks,
//! same-level conflicts, provenance, and the incremental cache.

use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_policy::{
    ConflictKind, Device, EffectiveCache, NodeId, Policy, PolicyId, Reason, Rule, Scope,
    SettingPath, Tenant,
};

fn policy(id: &str, toml: &str) -> Policy {
    let text = format!("[policy]\nid = \"{id}\"\n{toml}");
    Policy::from_toml(&text).unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn d(s: &str) -> DeviceId {
    s.parse().unwrap()
}

fn path(s: &str) -> SettingPath {
    s.parse().unwrap()
}

/// region > town > school > class, one device in the class and one at the
/// town.
fn tenant(policies: &[(&str, &str, &str)]) -> Tenant {
    let mut t = Tenant::new(TenantId::new("region").unwrap());
    t.add_node(n("town"), &n("region"), None, None).unwrap();
    t.add_node(n("school"), &n("town"), None, None).unwrap();
    t.add_node(n("class"), &n("school"), None, None).unwrap();
    t.add_node(n("other-school"), &n("town"), None, None)
        .unwrap();
    t.add_device(Device::new(d("pupil"), n("class"), Platform::Apple))
        .unwrap();
    t.add_device(Device::new(d("clerk"), n("town"), Platform::Windows))
        .unwrap();
    t.add_device(Device::new(
        d("other"),
        n("other-school"),
        Platform::Android,
    ))
    .unwrap();
    for (node, id, body) in policies {
        t.set_policy(policy(id, body));
        t.assign(&n(node), id.parse().unwrap()).unwrap();
    }
    t
}

#[test]
fn the_most_restrictive_value_wins_whatever_its_level() {
    let t = tenant(&[
        (
            "region",
            "floor",
            "[passcode]\nmin_length = 8\nauto_lock_minutes = 2\n[restrictions]\ncamera = \"deny\"",
        ),
        (
            "class",
            "class",
            "[passcode]\nmin_length = 4\nauto_lock_minutes = 10\n[restrictions]\ncamera = \"allow\"",
        ),
    ]);
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(eff.settings().passcode.min_length, Some(8));
    assert_eq!(eff.settings().passcode.auto_lock_minutes, Some(2));
    assert_eq!(eff.settings().restrictions.camera, Some(Rule::Deny));
    let cam = &eff.values()[&path("restrictions.camera")].provenance;
    assert_eq!(cam.source.policy.as_str(), "floor");
    assert_eq!(cam.overridden[0].reason, Reason::LessRestrictive);
    assert_eq!(cam.overridden[0].source.scope, Scope::Node(n("class")));
    assert!(eff.conflicts().is_empty());
}

#[test]
fn the_nearest_definition_wins_for_cosmetic_values() {
    let t = tenant(&[
        (
            "region",
            "r",
            "[device]\ntime_zone = \"Europe/Paris\"\nlock_screen_message = \"region\"",
        ),
        ("school", "s", "[device]\nlock_screen_message = \"school\""),
    ]);
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(
        eff.settings().device.lock_screen_message.as_deref(),
        Some("school")
    );
    assert_eq!(
        eff.settings().device.time_zone.as_deref(),
        Some("Europe/Paris")
    );
    let clerk = t.effective(&d("clerk")).unwrap();
    assert_eq!(
        clerk.settings().device.lock_screen_message.as_deref(),
        Some("region")
    );
    let ex = eff.explain(&path("device.lock_screen_message"));
    assert_eq!(
        ex.entries[0].provenance.overridden[0].reason,
        Reason::ReplacedByNearer
    );
}

#[test]
fn keyed_maps_merge_key_by_key_and_the_nearest_entry_wins_whole() {
    let t = tenant(&[
        (
            "region",
            "r",
            "[wifi.A]\nsecurity = \"wpa2-personal\"\npassword = \"region-pass\"\nhidden = true\n[wifi.B]\nsecurity = \"open\"",
        ),
        (
            "school",
            "s",
            "[wifi.A]\nsecurity = \"wpa3-personal\"\npassword = \"school-pass\"",
        ),
    ]);
    let s = t.effective(&d("pupil")).unwrap().settings().clone();
    assert_eq!(s.wifi.len(), 2);
    let a = &s.wifi["A"];
    assert_eq!(
        a.password.as_ref().and_then(|p| p.expose()),
        Some("school-pass")
    );
    // The whole entry is replaced: `hidden` from the region does not leak in.
    assert_eq!(a.hidden, None);
}

#[test]
fn url_lists_are_joined_across_levels() {
    let t = tenant(&[
        (
            "region",
            "r",
            "[web_filter]\ndenied_urls = [\"https://a.example\", \"https://b.example\"]",
        ),
        (
            "class",
            "c",
            "[web_filter]\ndenied_urls = [\"https://b.example\", \"https://c.example\"]",
        ),
    ]);
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(
        eff.settings().web_filter.denied_urls.as_deref().unwrap(),
        [
            "https://a.example",
            "https://b.example",
            "https://c.example"
        ]
    );
    let prov = &eff.values()[&path("web_filter.denied_urls")].provenance;
    assert_eq!(prov.contributors.len(), 2);
}

#[test]
fn a_lock_keeps_a_value_and_reports_the_attempt_to_relax_it() {
    let t = tenant(&[
        (
            "town",
            "town",
            "[device]\ntime_zone = \"Europe/Paris\"\n[wifi.TOWN]\nsecurity = \"wpa2-personal\"\npassword = \"town-password\"",
        ),
        (
            "class",
            "class",
            "[device]\ntime_zone = \"America/Cayenne\"\n[wifi.TOWN]\nsecurity = \"open\"",
        ),
    ]);
    // Without locks the class wins.
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(
        eff.settings().device.time_zone.as_deref(),
        Some("America/Cayenne")
    );

    let mut locked = policy(
        "town",
        "[device]\ntime_zone = \"Europe/Paris\"\n[wifi.TOWN]\nsecurity = \"wpa2-personal\"\npassword = \"town-password\"",
    );
    locked.locks = vec![path("device.time_zone"), path("wifi[\"TOWN\"].security")];
    let mut t = t;
    t.set_policy(locked);
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(
        eff.settings().device.time_zone.as_deref(),
        Some("Europe/Paris")
    );
    assert_eq!(
        eff.settings().wifi["TOWN"]
            .password
            .as_ref()
            .and_then(|p| p.expose()),
        Some("town-password")
    );
    assert_eq!(eff.conflicts().len(), 2);
    for c in eff.conflicts() {
        match &c.kind {
            ConflictKind::LockViolation {
                lock, attempted, ..
            } => {
                assert_eq!(lock.scope, Scope::Node(n("town")));
                assert_eq!(attempted.scope, Scope::Node(n("class")));
            }
            other => panic!("{other:?}"),
        }
    }
    let ex = eff.explain(&path("device.time_zone"));
    let prov = &ex.entries[0].provenance;
    assert!(matches!(prov.overridden[0].reason, Reason::Locked { .. }));
    assert_eq!(prov.locked_by.as_ref().unwrap().policy.as_str(), "town");
    assert_eq!(ex.conflicts.len(), 1);
    // The check of the tenant reports them.
    assert_eq!(t.check().len(), 2);
}

#[test]
fn a_lock_does_not_stop_a_stricter_value_below() {
    let mut floor = policy("floor", "[passcode]\nmin_length = 6");
    floor.locks = vec![path("passcode")];
    let mut t = tenant(&[("class", "class", "[passcode]\nmin_length = 8\nhistory = 3")]);
    t.set_policy(floor);
    t.assign(&n("region"), "floor".parse().unwrap()).unwrap();
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(eff.settings().passcode.min_length, Some(8));
    assert_eq!(eff.settings().passcode.history, Some(3));
    assert!(eff.conflicts().is_empty());
}

#[test]
fn two_policies_of_one_node_that_disagree_are_a_conflict_and_the_later_wins() {
    let t = tenant(&[
        (
            "school",
            "first",
            "[device]\nname_template = \"A-{serial}\"",
        ),
        (
            "school",
            "second",
            "[device]\nname_template = \"B-{serial}\"",
        ),
    ]);
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(
        eff.settings().device.name_template.as_deref(),
        Some("B-{serial}")
    );
    assert!(matches!(
        &eff.conflicts()[0].kind,
        ConflictKind::SameLevel { kept, dropped }
            if kept.policy.as_str() == "second" && dropped.policy.as_str() == "first"
    ));
}

#[test]
fn a_device_policy_is_the_nearest_level() {
    let mut t = tenant(&[(
        "class",
        "class",
        "[device]\nlock_screen_message = \"class\"",
    )]);
    t.set_policy(policy("mine", "[device]\nlock_screen_message = \"mine\""));
    t.assign_to_device(&d("pupil"), PolicyId::new("mine").unwrap())
        .unwrap();
    let eff = t.effective(&d("pupil")).unwrap();
    assert_eq!(
        eff.settings().device.lock_screen_message.as_deref(),
        Some("mine")
    );
    assert_eq!(
        eff.values()[&path("device.lock_screen_message")]
            .provenance
            .source
            .scope,
        Scope::Device(d("pupil"))
    );
}

#[test]
fn dangling_references_in_an_effective_policy_are_reported() {
    let t = tenant(&[(
        "class",
        "kiosk",
        "[kiosk]\nmode = \"single-app\"\napp = \"missing\"\n[wifi.X]\nsecurity = \"wpa2-enterprise\"\neap = \"tls\"\nidentity_certificate = \"nope\"",
    )]);
    let issues = t.check();
    let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(issues.len(), 2, "{text:?}");
    assert!(
        text.iter()
            .any(|t| t.contains("kiosk.app") && t.contains("missing"))
    );
    assert!(
        text.iter()
            .any(|t| t.contains("wifi[\"X\"].identity_certificate"))
    );
}

#[test]
fn a_change_at_one_school_recomputes_only_its_devices() {
    let mut t = tenant(&[
        ("region", "r", "[restrictions]\ncamera = \"allow\""),
        ("school", "s", "[device]\nlock_screen_message = \"v1\""),
    ]);
    let mut cache = EffectiveCache::build(&t).unwrap();
    assert_eq!(t.affected_devices(&n("school")).unwrap(), vec![d("pupil")]);
    let before_other = cache.get(&d("other")).unwrap().clone();

    t.set_policy(policy("s", "[device]\nlock_screen_message = \"v2\""));
    let r = cache.refresh(&t, &n("school")).unwrap();
    assert_eq!(r.devices, 1);
    assert_eq!(r.nodes, 2);
    assert_eq!(r.changed.len(), 1);
    let (dev, changes) = &r.changed[0];
    assert_eq!(dev, &d("pupil"));
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes.changes()[0].path,
        path("device.lock_screen_message")
    );
    assert!(std::sync::Arc::ptr_eq(
        &before_other,
        cache.get(&d("other")).unwrap()
    ));
    assert_eq!(
        **cache.get(&d("pupil")).unwrap(),
        t.effective(&d("pupil")).unwrap()
    );

    // A policy change finds its nodes by itself.
    t.set_policy(policy("r", "[restrictions]\ncamera = \"deny\""));
    let r = cache.refresh_policy(&t, &"r".parse().unwrap()).unwrap();
    assert_eq!(r.devices, 3);
    assert_eq!(r.changed.len(), 3);
}
