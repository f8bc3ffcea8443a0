#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The laws of diffs, hashes and formats, on generated policies:
//! `apply(old, diff(old, new)) == new`, `diff(a, a)` is empty, change sets
//! are ordered and deterministic, TOML and JSON carry the same policy, and
//! hashes change exactly with their category.

use mdmkit_policy::{
    AndroidApp, App, AppleApp, Category, Complexity, EapMethod, InstallState, Kiosk, KioskMode,
    MaintenanceWindow, MinimumVersion, MinimumVersions, Op, Passcode, Policy, PolicyId,
    Restrictions, Rule, Secret, Settings, TrustedRoot, WebFilter, WebFilterMode, WifiNetwork,
    WifiSecurity, WindowsApp, WindowsValue, apply, category_hashes, diff,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn rule() -> impl Strategy<Value = Option<Rule>> {
    option::of(prop_oneof![Just(Rule::Allow), Just(Rule::Deny)])
}

fn passcode() -> impl Strategy<Value = Passcode> {
    (
        option::of(any::<bool>()),
        option::of(1u32..=64),
        option::of(prop_oneof![
            Just(Complexity::Numeric),
            Just(Complexity::Alphanumeric),
            Just(Complexity::Complex)
        ]),
        option::of(2u32..=11),
        option::of(1u32..=60),
        option::of(1u32..=50),
    )
        .prop_map(|(required, min_length, complexity, fails, lock, history)| {
            let mut p = Passcode::default();
            p.required = required;
            p.min_length = min_length;
            p.complexity = complexity;
            p.max_failed_attempts = fails;
            p.auto_lock_minutes = lock;
            p.history = history;
            p
        })
}

fn restrictions() -> impl Strategy<Value = Restrictions> {
    (rule(), rule(), rule(), rule(), rule(), rule()).prop_map(|(a, b, c, d, e, f)| {
        let mut r = Restrictions::default();
        r.camera = a;
        r.screen_capture = b;
        r.app_store = c;
        r.nearby_sharing = d;
        r.factory_reset = e;
        r.voice_assistant = f;
        r
    })
}

/// A secret in clear, or a reference to an environment variable or a file.
fn secret() -> impl Strategy<Value = Secret> {
    prop_oneof![
        "[a-zA-Z0-9 -]{8,20}".prop_map(Secret::literal),
        "[A-Z0-9_]{1,12}".prop_map(|n| Secret::env(format!("MDMKIT_SECRET_{n}"))),
        "[a-z0-9-]{1,8}(/[a-z0-9.-]{1,8}){0,2}"
            .prop_filter("plain components", |p| !p
                .split('/')
                .any(|c| c == "." || c == ".."))
            .prop_map(Secret::file),
    ]
}

fn wifi() -> impl Strategy<Value = WifiNetwork> {
    (
        prop_oneof![
            Just(WifiSecurity::Wpa2Personal),
            Just(WifiSecurity::Wpa3Enterprise),
            Just(WifiSecurity::Open)
        ],
        secret(),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    )
        .prop_map(|(security, password, hidden, auto_join)| {
            let mut w = WifiNetwork::default();
            w.security = Some(security);
            match security {
                WifiSecurity::Open => {}
                s if s.is_personal() => w.password = Some(password),
                _ => {
                    w.eap = Some(EapMethod::Tls);
                    w.identity_certificate = Some("device".into());
                }
            }
            w.hidden = hidden;
            w.auto_join = auto_join;
            w
        })
}

fn app() -> impl Strategy<Value = App> {
    (
        prop_oneof![
            Just(InstallState::Required),
            Just(InstallState::Available),
            Just(InstallState::Blocked),
            Just(InstallState::Removed)
        ],
        option::of("[a-z]{2,8}\\.[a-z]{2,8}\\.[a-z]{2,8}"),
        option::of(1u64..9_999_999_999),
        option::of("[a-z]{2,8}\\.[a-z]{2,8}"),
        option::of(any::<bool>()),
        option::of(btree_map("[a-z]{1,6}", any::<i32>(), 0..3)),
    )
        .prop_map(|(install, bundle, store, package, msi, config)| {
            let mut a = App::default();
            a.install = Some(install);
            if bundle.is_some() || store.is_some() {
                let mut apple = AppleApp::default();
                apple.bundle_id = bundle;
                apple.app_store_id = store;
                a.apple = Some(apple);
            }
            let mut android = AndroidApp::default();
            android.package = Some(package.unwrap_or_else(|| "org.example".into()));
            a.android = Some(android);
            if msi == Some(true) {
                let mut w = WindowsApp::default();
                w.msi_product_code = Some("{90160000-008C-0000-0000-0000000FF1CE}".into());
                a.windows = Some(w);
            }
            a.config = config.map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k, serde_json::Value::from(v)))
                    .collect()
            });
            a
        })
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        passcode(),
        restrictions(),
        btree_map("[A-Z][A-Z0-9-]{0,12}", wifi(), 0..3),
        btree_map("[a-z][a-z0-9-]{0,10}", app(), 0..3),
        (
            option::of(prop_oneof![
                Just(WebFilterMode::Allowlist),
                Just(WebFilterMode::Denylist),
                Just(WebFilterMode::Automatic)
            ]),
            option::of(vec("https://[a-z]{1,8}\\.example", 0..3)),
        ),
        (
            option::of(prop_oneof![
                Just(KioskMode::SingleApp),
                Just(KioskMode::MultiApp)
            ]),
            option::of("[a-z]{1,8}"),
        ),
        (
            option::of(0u32..=90),
            any::<bool>(),
            option::of("1[0-9]\\.[0-9]"),
        ),
        option::of("[A-Z][a-z]{2,8}/[A-Z][a-z]{2,8}"),
        btree_map("[a-z]{1,8}", "[0-9a-f]{64}", 0..2),
        (
            btree_map("\\./Device/Vendor/MSFT/[A-Za-z]{1,10}", any::<i64>(), 0..2),
            btree_map("[a-z][A-Za-z]{0,10}", any::<bool>(), 0..2),
        ),
    )
        .prop_map(
            |(
                passcode,
                restrictions,
                wifi,
                apps,
                (mode, urls),
                (kmode, kapp),
                (defer, window, minv),
                tz,
                roots,
                (win, android),
            )| {
                let mut s = Settings::default();
                s.passcode = passcode;
                s.restrictions = restrictions;
                s.wifi = wifi;
                s.apps = apps;
                let mut wf = WebFilter::default();
                wf.mode = mode;
                wf.denied_urls = urls;
                s.web_filter = wf;
                let mut k = Kiosk::default();
                k.mode = kmode;
                k.app = kapp;
                s.kiosk = k;
                s.os_updates.deferral_days = defer;
                if window {
                    s.os_updates.maintenance_window =
                        Some(MaintenanceWindow::new("22:00", "05:00"));
                }
                if let Some(v) = minv {
                    let mut mv = MinimumVersions::default();
                    mv.apple = Some(MinimumVersion::new(v));
                    s.os_updates.minimum_version = Some(mv);
                }
                s.device.time_zone = tz;
                s.certificates.roots = roots
                    .into_iter()
                    .map(|(k, sha)| {
                        let mut r = TrustedRoot::default();
                        r.sha256 = sha;
                        (k, r)
                    })
                    .collect();
                s.vendor.windows = win
                    .into_iter()
                    .map(|(k, v)| (k, WindowsValue::Int(v)))
                    .collect();
                s.vendor.android = android
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::Bool(v)))
                    .collect();
                s
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(128)))]

    #[test]
    fn applying_the_diff_gives_the_new_policy(old in settings(), new in settings()) {
        let changes = diff(&old, &new);
        prop_assert_eq!(apply(&old, &changes).unwrap(), new);
    }

    #[test]
    fn a_policy_has_no_diff_with_itself(a in settings()) {
        prop_assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn change_sets_are_ordered_by_path_and_deterministic(old in settings(), new in settings()) {
        let one = diff(&old, &new);
        let two = diff(&old.clone(), &new.clone());
        prop_assert_eq!(&one, &two);
        let paths: Vec<_> = one.iter().map(|c| c.path.clone()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(paths, sorted);
        for c in &one {
            match c.op {
                Op::Add => prop_assert!(c.old.is_none() && c.new.is_some()),
                Op::Remove => prop_assert!(c.old.is_some() && c.new.is_none()),
                Op::Change => prop_assert!(c.old.is_some() && c.new.is_some() && c.old != c.new),
            }
        }
        // The reverse diff undoes it.
        let back = diff(&new, &old);
        prop_assert_eq!(apply(&new, &back).unwrap(), old);
    }

    #[test]
    fn hashes_change_exactly_for_the_categories_that_changed(old in settings(), new in settings()) {
        let changed: Vec<Category> = diff(&old, &new).categories();
        let (ha, hb) = (category_hashes(&old), category_hashes(&new));
        for c in Category::ALL {
            prop_assert_eq!(ha[&c] != hb[&c], changed.contains(&c), "{}", c);
        }
    }

    #[test]
    fn toml_and_json_documents_carry_the_same_policy(s in settings()) {
        let mut p = Policy::new(PolicyId::new("generated").unwrap());
        p.settings = s;
        let from_json = Policy::from_json(&p.to_json());
        let toml = p.to_toml().unwrap();
        let from_toml = Policy::from_toml(&toml);
        // Generated settings are not always valid (a kiosk without its app is
        // fine in one document); compare what both formats make of them.
        match (from_json, from_toml) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(a, p);
            }
            (Err(a), Err(b)) => {
                let msgs = |i: &mdmkit_policy::Issues| i.iter().map(|x| (x.path.clone(), x.message.clone())).collect::<Vec<_>>();
                let (mut ma, mut mb) = (msgs(&a), msgs(&b));
                ma.sort(); mb.sort();
                prop_assert_eq!(ma, mb);
            }
            (a, b) => prop_assert!(false, "json {:?} vs toml {:?}", a.err(), b.err()),
        }
    }
}

#[test]
fn hashes_are_stable_across_runs() {
    let mut s = Settings::default();
    s.restrictions.camera = Some(Rule::Deny);
    s.passcode.min_length = Some(6);
    let h = category_hashes(&s);
    // Pinned: a change of the canonical encoding must be deliberate, as
    // callers store these hashes.
    assert_eq!(
        h[&Category::Restrictions].to_string(),
        "be7881a9839500870819e06f7b69d937a92fd3a822711c1e005ff7e41b54108d"
    );
    let empty = category_hashes(&Settings::default());
    assert_eq!(h[&Category::Wifi], empty[&Category::Wifi]);
    assert_ne!(h[&Category::Passcode], empty[&Category::Passcode]);
}
