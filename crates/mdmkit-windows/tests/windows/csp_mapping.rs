#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The CSP mapping: the region examples compile to SyncML the codec reads
//! back identically, values are encoded as Windows expects, and a policy
//! diff's commands take a device from the old state to the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mdmkit_core::Platform;
use mdmkit_policy::{
    Policy, Rule, Settings, WifiNetwork, WifiSecurity, WindowsValue, diff, load_dir,
};
use mdmkit_windows::SyncMl;
use mdmkit_windows::csp::{Compiled, compile, compile_changes, compile_diff};
use mdmkit_windows::syncml::Command;
use proptest::prelude::*;

fn region() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region")
}

fn round_trips(c: &Compiled) -> SyncMl {
    let msg = c.to_message("1", "1", "https://mdm.example/omadm", "device-1");
    let xml = msg.to_xml();
    let back = SyncMl::read(xml.as_bytes()).unwrap();
    assert_eq!(back, msg, "{xml}");
    msg
}

fn find<'a>(c: &'a Compiled, uri: &str) -> Option<&'a Command> {
    c.commands.iter().find(|cmd| {
        cmd.items()
            .first()
            .and_then(|i| i.uri())
            .is_some_and(|u| u.as_str() == uri)
    })
}

fn data(cmd: &Command) -> String {
    cmd.items()[0]
        .data
        .as_ref()
        .map(|d| d.as_str().to_owned())
        .unwrap_or_default()
}

#[test]
fn every_windows_device_of_the_region_compiles_to_syncml_that_reads_back_identically() {
    let tenant = load_dir(&region()).unwrap();
    let mut n = 0;
    for d in tenant.devices().filter(|d| d.platform == Platform::Windows) {
        let eff = tenant.effective(&d.id).unwrap();
        let c = mdmkit_windows::csp::compile_effective(&eff, d);
        assert!(!c.commands.is_empty(), "{}", d.id);
        round_trips(&c);
        n += 1;
    }
    assert!(n > 0, "the region has Windows devices");
}

#[test]
fn every_region_policy_file_compiles_to_syncml_that_reads_back_identically() {
    let mut n = 0;
    for entry in std::fs::read_dir(region().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        let policy = Policy::from_path(&path).unwrap();
        let c = compile(&policy.settings, None);
        round_trips(&c);
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn a_required_passcode_is_device_password_enabled_zero() {
    let mut s = Settings::default();
    s.passcode.required = Some(true);
    s.passcode.min_length = Some(30);
    let c = compile(&s, None);
    let cmd = find(
        &c,
        "./Device/Vendor/MSFT/Policy/Config/DeviceLock/DevicePasswordEnabled",
    )
    .unwrap();
    // Policy CSP - DeviceLock: Replace, not Add, on desktop editions.
    assert_eq!(cmd.name(), "Replace");
    assert_eq!(data(cmd), "0");
    let len = find(
        &c,
        "./Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordLength",
    )
    .unwrap();
    assert_eq!(data(len), "16", "clamped to Windows' maximum");
    assert!(
        c.notes
            .iter()
            .any(|n| n.path.to_string() == "passcode.min_length")
    );
}

#[test]
fn settings_windows_cannot_enforce_are_reported_with_their_path() {
    let mut s = Settings::default();
    s.restrictions.screen_capture = Some(Rule::Deny);
    s.restrictions.camera = Some(Rule::Deny);
    let c = compile(&s, None);
    assert_eq!(c.unsupported.len(), 1);
    assert_eq!(
        c.unsupported[0].path.to_string(),
        "restrictions.screen_capture"
    );
    let cam = find(&c, "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera").unwrap();
    assert_eq!(data(cam), "0");
}

#[test]
fn a_wlan_profile_with_markup_in_ssid_and_password_round_trips_inside_data() {
    let mut s = Settings::default();
    let mut net = WifiNetwork::default();
    net.security = Some(WifiSecurity::Wpa3Personal);
    net.password = Some(r#"p<a>&"ss]]>'"#.into());
    s.wifi.insert("Café & <Co>".into(), net);
    let c = compile(&s, None);
    let msg = round_trips(&c);
    let xml = msg.to_xml();
    assert!(
        xml.contains("&lt;WLANProfile"),
        "the profile is escaped: {xml}"
    );
    let cmd = &c.commands[0];
    assert!(
        cmd.items()[0]
            .uri()
            .unwrap()
            .as_str()
            .starts_with("./Vendor/MSFT/WiFi/Profile/Caf%C3%A9%20%26%20%3CCo%3E/WlanXml")
    );
    let profile = data(cmd);
    assert!(profile.contains("<authentication>WPA3SAE</authentication>"));
    assert!(profile.contains("<keyMaterial>p&lt;a&gt;&amp;&quot;ss]]&gt;&apos;</keyMaterial>"));
    assert!(profile.contains("<name>Café &amp; &lt;Co&gt;</name>"));
}

#[test]
fn enterprise_networks_carry_an_eap_configuration() {
    for (eap, ty) in [
        (mdmkit_policy::EapMethod::Tls, "13"),
        (mdmkit_policy::EapMethod::Peap, "25"),
    ] {
        let mut s = Settings::default();
        let mut net = WifiNetwork::default();
        net.security = Some(WifiSecurity::Wpa2Enterprise);
        net.eap = Some(eap);
        net.server_names = Some(vec!["radius.example".into()]);
        s.wifi.insert("EDU".into(), net);
        let c = compile(&s, None);
        round_trips(&c);
        let p = data(&c.commands[0]);
        assert!(p.contains("<useOneX>true</useOneX>"));
        assert!(p.contains(&format!("<Type>{ty}</Type>")));
    }
}

#[test]
fn the_web_filter_uses_the_admx_enabled_data_encoding() {
    let mut s = Settings::default();
    s.web_filter.denied_urls = Some(vec!["example.com".into(), "a&b.test".into()]);
    let c = compile(&s, None);
    round_trips(&c);
    let v = data(&c.commands[0]);
    assert_eq!(
        v,
        r#"<enabled/><data id="URLBlocklistDesc" value="1&#xF000;example.com&#xF000;2&#xF000;a&amp;b.test"/>"#
    );
}

#[test]
fn vendor_passthrough_keeps_the_typed_format() {
    let mut s = Settings::default();
    s.vendor.windows.insert(
        "./Device/Vendor/MSFT/Policy/Config/Start/HideSleep".into(),
        WindowsValue::Int(1),
    );
    s.vendor
        .windows
        .insert("/bad/uri".into(), WindowsValue::Bool(true));
    let c = compile(&s, None);
    assert_eq!(c.commands.len(), 1);
    let meta = c.commands[0].items()[0].meta.as_ref().unwrap();
    assert_eq!(meta.format.as_ref().unwrap().as_str(), "int");
    assert_eq!(c.unsupported.len(), 1);
}

#[test]
fn an_unchanged_policy_compiles_to_no_command() {
    let tenant = load_dir(&region()).unwrap();
    for d in tenant.devices().filter(|d| d.platform == Platform::Windows) {
        let eff = tenant.effective(&d.id).unwrap();
        let c = compile_diff(eff.settings(), eff.settings(), Some(d));
        assert!(c.commands.is_empty());
    }
}

#[test]
fn removed_settings_are_deleted_or_reset_with_a_note() {
    let mut old = Settings::default();
    old.restrictions.camera = Some(Rule::Deny);
    old.device.time_zone = Some("Europe/Paris".into());
    old.device.lock_screen_message = Some("Mairie".into());
    old.passcode.min_length = Some(6);
    let mut new = Settings::default();
    new.passcode.min_length = Some(8);
    new.restrictions.voice_assistant = Some(Rule::Deny);
    let changes = diff(&old, &new);
    let c = compile_changes(&old, &changes, None).unwrap();
    let names: Vec<_> = c.commands.iter().map(|c| c.name()).collect();
    // New and changed nodes first, then removals, each in setting-path order.
    assert_eq!(names, ["Replace", "Add", "Replace", "Delete"], "{c:#?}");
    assert_eq!(data(&c.commands[0]), "8");
    assert!(
        c.commands[2].items()[0]
            .uri()
            .unwrap()
            .as_str()
            .ends_with("InteractiveLogon_MessageTextForUsersAttemptingToLogOn")
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.path.to_string() == "device.time_zone")
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.path.to_string() == "device.lock_screen_message")
    );
    round_trips(&c);
}

/// Applies commands to a map of node → value the way a device would.
fn apply(state: &mut BTreeMap<String, String>, c: &Compiled) {
    for cmd in &c.commands {
        let item = &cmd.items()[0];
        let uri = item.uri().unwrap().as_str().to_owned();
        match cmd {
            Command::Add(_) => {
                assert!(!state.contains_key(&uri), "Add of an existing node {uri}");
                state.insert(uri, data(cmd));
            }
            Command::Replace(_) => {
                state.insert(uri, data(cmd));
            }
            Command::Delete(_) => {
                let prefix = format!("{uri}/");
                state.retain(|k, _| *k != uri && !k.starts_with(&prefix));
            }
            _ => {}
        }
    }
}

fn rule() -> impl Strategy<Value = Option<Rule>> {
    prop_oneof![Just(None), Just(Some(Rule::Allow)), Just(Some(Rule::Deny))]
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        proptest::option::of(0u32..40),
        proptest::option::of(any::<bool>()),
        (rule(), rule(), rule()),
        proptest::collection::btree_map("[A-Z][a-z &<]{0,6}", "[a-z<&]{8,12}", 0..3),
        proptest::collection::btree_map("[A-Z][a-z]{0,5}", any::<i64>(), 0..3),
        proptest::option::of(0u32..400),
        proptest::option::of(prop_oneof![Just("Europe/Paris"), Just("UTC")]),
        proptest::option::of("[a-z]{1,10}"),
    )
        .prop_map(|(len, req, (cam, bt, va), wifi, vendor, defer, tz, msg)| {
            let mut s = Settings::default();
            s.passcode.min_length = len;
            s.passcode.required = req;
            s.restrictions.camera = cam;
            s.restrictions.bluetooth_changes = bt;
            s.restrictions.voice_assistant = va;
            for (ssid, pw) in wifi {
                let mut n = WifiNetwork::default();
                n.security = Some(WifiSecurity::Wpa2Personal);
                n.password = Some(pw.into());
                s.wifi.insert(ssid, n);
            }
            for (k, v) in vendor {
                s.vendor.windows.insert(
                    format!("./Device/Vendor/MSFT/Policy/Config/Test/{k}"),
                    WindowsValue::Int(v),
                );
            }
            s.os_updates.deferral_days = defer;
            s.device.time_zone = tz.map(str::to_owned);
            s.device.lock_screen_message = msg;
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(128)))]

    #[test]
    fn diff_commands_take_the_old_state_to_the_new_one_modulo_noted_nodes(
        old in settings(),
        new in settings(),
    ) {
        let mut state = BTreeMap::new();
        apply(&mut state, &compile(&old, None));
        let d = compile_diff(&old, &new, None);
        apply(&mut state, &d);
        let mut want = BTreeMap::new();
        apply(&mut want, &compile(&new, None));
        let noted: Vec<&str> = d.notes.iter().map(|n| n.uri.as_str()).collect();
        state.retain(|k, _| !noted.contains(&k.as_str()) || want.contains_key(k));
        prop_assert_eq!(state, want);
        prop_assert!(compile_diff(&new, &new, None).commands.is_empty());
        round_trips(&d);
    }
}

#[test]
fn a_device_name_is_expanded_and_made_a_valid_computer_name() {
    let tenant = load_dir(&region()).unwrap();
    let d = tenant
        .devices()
        .find(|d| d.platform == Platform::Windows && d.serial.is_some())
        .unwrap();
    let mut s = Settings::default();
    s.device.name_template = Some("PC {serial}-école".into());
    let c = compile(&s, Some(d));
    let cmd = find(&c, "./DevDetail/Ext/Microsoft/DNSComputerName").unwrap();
    assert_eq!(cmd.name(), "Replace");
    let name = data(cmd);
    assert!(name.starts_with("PC-"), "{name}");
    assert!(name.len() <= 15);
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    // Without the device, the serial is unknown: reported, not guessed.
    let c = compile(&s, None);
    assert!(c.commands.is_empty());
    assert_eq!(c.unsupported[0].path.to_string(), "device.name_template");
}

#[test]
fn a_single_app_kiosk_becomes_an_assigned_access_configuration() {
    let policy = Policy::from_path(&region().join("policies/kiosque-cdi.toml")).unwrap();
    let c = compile(&policy.settings, None);
    let cmd = find(&c, "./Vendor/MSFT/AssignedAccess/Configuration").unwrap();
    assert!(
        data(cmd).contains(r#"<KioskModeApp AppUserModelId="Canope.eSidoc_8wekyb3d8bbwe!App"/>"#)
    );
    // StoreInstall needs the Store product ID, which the policy lacks.
    assert!(c.commands.iter().all(|c| c.name() != "Exec"));
    assert!(
        c.unsupported
            .iter()
            .any(|u| u.path.to_string().starts_with("apps"))
    );
}

#[test]
fn generated_profiles_and_kiosk_configurations_are_well_formed_xml() {
    use mdmkit_windows::syncml::Data;
    let mut s = Settings::default();
    for (i, sec) in [
        WifiSecurity::Open,
        WifiSecurity::Wpa2Personal,
        WifiSecurity::Wpa3Personal,
        WifiSecurity::Wpa2Enterprise,
        WifiSecurity::Wpa3Enterprise,
    ]
    .into_iter()
    .enumerate()
    {
        let mut n = WifiNetwork::default();
        n.security = Some(sec);
        n.password = Some("a&b<c>".into());
        n.eap = Some(mdmkit_policy::EapMethod::Peap);
        n.hidden = Some(true);
        n.server_names = Some(vec!["r&d.example".into()]);
        s.wifi.insert(format!("NET-{i} <&>"), n);
    }
    let kiosk = Policy::from_path(&region().join("policies/kiosque-cdi.toml")).unwrap();
    s.apps = kiosk.settings.apps.clone();
    s.kiosk = kiosk.settings.kiosk.clone();
    let c = compile(&s, None);
    // Only the Store install is unsupported (it needs a product ID).
    assert!(
        c.unsupported
            .iter()
            .all(|u| u.path.to_string().starts_with("apps")),
        "{:?}",
        c.unsupported
    );
    let mut checked = 0;
    for cmd in &c.commands {
        let v = data(cmd);
        if v.starts_with('<') {
            Data::xml(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn documented_nodes_and_encodings_are_used_for_store_symbols_and_edge() {
    let mut s = Settings::default();
    s.restrictions.app_store = Some(Rule::Deny);
    s.passcode.min_complex_chars = Some(2);
    s.web_filter.denied_urls = Some(vec!["example.com".into()]);
    s.device.lock_screen_message = Some("line one\nline two".into());
    let c = compile(&s, None);
    round_trips(&c);
    // ApplicationManagement/AllowStore is Mobile-only; desktop uses the ADMX policy.
    let store = find(
        &c,
        "./Device/Vendor/MSFT/Policy/Config/ADMX_WindowsStore/RemoveWindowsStore_2",
    )
    .unwrap();
    assert_eq!(data(store), "<enabled/>");
    // Desktop accepts 1 to 3 character classes, not 4.
    let classes = find(
        &c,
        "./Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordComplexCharacters",
    )
    .unwrap();
    assert_eq!(data(classes), "3");
    assert_eq!(classes.name(), "Replace");
    // URLBlocklist sits in the root "Microsoft Edge" category.
    assert!(
        find(
            &c,
            "./Device/Vendor/MSFT/Policy/Config/microsoft_edge~Policy~microsoft_edge/URLBlocklist"
        )
        .is_some()
    );
    // The logon message is a list of lines delimited by U+F000.
    let msg = find(
        &c,
        "./Device/Vendor/MSFT/Policy/Config/LocalPoliciesSecurityOptions/InteractiveLogon_MessageTextForUsersAttemptingToLogOn",
    )
    .unwrap();
    assert_eq!(data(msg), "line one\u{F000}line two");
}

#[test]
fn the_device_lock_rules_travel_in_one_atomic_that_rolls_back_on_a_refusal() {
    use mdmkit_windows::csp::atomic_device_lock;
    use mdmkit_windows::device::TestDevice;
    use mdmkit_windows::session::{QueuedCommand, ServerSession, SessionConfig};
    use mdmkit_windows::syncml::Command;

    let p = mdmkit_policy::Policy::from_toml(
        "[policy]\nid = \"p\"\n[passcode]\nrequired = true\nmin_length = 8\n[restrictions]\ncamera = \"deny\"\n",
    )
    .unwrap();
    let compiled = mdmkit_windows::csp::compile(&p.settings, None);
    let grouped = atomic_device_lock(compiled.commands.clone());
    let Command::Atomic(k) = &grouped[0] else {
        panic!("{grouped:?}")
    };
    assert!(k.commands.len() >= 2, "{k:?}");
    assert_eq!(
        grouped.len(),
        compiled.commands.len() - k.commands.len() + 1
    );
    assert!(
        grouped[1..]
            .iter()
            .all(|c| !matches!(c, Command::Atomic(_)))
    );

    // On the simulated PC: applied together.
    let server_uri = "https://mdm.example.org/MDM.svc";
    let mut device = TestDevice::new("dev-atomic");
    let mut s = ServerSession::new(SessionConfig::new(server_uri));
    let queued: Vec<QueuedCommand> = grouped
        .iter()
        .enumerate()
        .map(|(i, c)| QueuedCommand::new(format!("q{i}"), c.clone()))
        .collect();
    let open = device.open_session(server_uri);
    let r = s.respond(&open, &queued).unwrap();
    let answer = device.handle(&r.message).unwrap();
    let r = s.respond(&answer, &[]).unwrap();
    let atomic = r.statuses.iter().find(|st| st.cmd == "Atomic").unwrap();
    assert_eq!(atomic.code.code(), 200, "{:?}", r.statuses);
    assert_eq!(
        device.node("./Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordLength"),
        Some("8")
    );
}
