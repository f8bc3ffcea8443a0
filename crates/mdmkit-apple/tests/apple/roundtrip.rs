//! Property tests: every value survives XML and binary; typed structs keep
//! every key they do not know; parsers never panic on arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// These tests compare key sets, not orders: the swapping remove is fine here.
#![allow(clippy::disallowed_methods)]

use mdmkit_apple::generated::checkin::TokenUpdate;
use mdmkit_apple::generated::commands::DeviceLockCommand;
use mdmkit_apple::profile::{ProfileBuilder, ProfileId};
use mdmkit_apple::{
    Checkin, Command, CommandReport, Format, KeyPath, Limits, PlistDict, Profile, plist_io,
};
use mdmkit_core::TenantId;
use plist::{Date, Dictionary, Value};
use proptest::prelude::*;

fn fixtures() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for dir in ["checkin", "response", "profile", "command", "signed"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension()
                .is_some_and(|x| x == "plist" || x == "mobileconfig")
            {
                out.push(std::fs::read(p).unwrap());
            }
        }
    }
    out
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        (-1e12f64..1e12).prop_map(Value::Real),
        "[ -~À-ÿ\t\n]{0,16}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Data),
        (0u64..4_000_000_000).prop_map(|s| Value::Date(Date::from(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)
        ))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(("[A-Za-z][A-Za-z0-9_]{0,8}", inner), 0..6)
                .prop_map(|kv| Value::Dictionary(kv.into_iter().collect::<Dictionary>())),
        ]
    })
}

fn dict() -> impl Strategy<Value = Dictionary> {
    proptest::collection::vec(("[A-Za-z][A-Za-z0-9_]{0,8}", value()), 0..6)
        .prop_map(|kv| kv.into_iter().collect())
}

proptest! {
    #[test]
    fn every_value_round_trips_through_xml_and_binary(v in value()) {
        for f in [Format::Xml, Format::Binary] {
            let (back, format) = plist_io::read(&plist_io::write(&v, f), &Limits::DEFAULT).unwrap();
            prop_assert_eq!(format, f);
            prop_assert_eq!(&back, &v);
        }
    }

    #[test]
    fn typed_structs_keep_unknown_keys(extra in dict()) {
        let mut d = extra.clone();
        d.remove("Message");
        d.remove("PhoneNumber");
        d.remove("PIN");
        d.remove("RequestType");
        d.insert("Message".into(), Value::String("hello".into()));
        let lock = DeviceLockCommand::from_dict(d.clone(), &KeyPath::ROOT).unwrap();
        prop_assert_eq!(lock.message.as_deref(), Some("hello"));
        let back = lock.to_dict();
        prop_assert_eq!(back.len(), d.len());
        for (k, v) in &d {
            prop_assert_eq!(back.get(k), Some(v));
        }
    }

    #[test]
    fn commands_round_trip(keys in dict(), uuid in "[A-F0-9-]{1,36}") {
        let mut keys = keys;
        keys.remove("RequestType");
        let cmd = Command::from_dict({
            let mut inner = keys.clone();
            inner.insert("RequestType".into(), Value::String("Settings".into()));
            let mut d = Dictionary::new();
            d.insert("Command".into(), Value::Dictionary(inner));
            d.insert("CommandUUID".into(), Value::String(uuid));
            d
        }).unwrap();
        for f in [Format::Xml, Format::Binary] {
            prop_assert_eq!(&Command::from_bytes(&cmd.to_bytes(f), &Limits::DEFAULT).unwrap(), &cmd);
        }
    }

    #[test]
    fn reports_round_trip(body in dict(), status in prop_oneof![
        Just("Acknowledged"), Just("Error"), Just("NotNow"), Just("CommandFormatError")
    ]) {
        let mut d = body;
        for k in ["Status", "CommandUUID", "ErrorChain", "UDID", "EnrollmentID", "UserID", "EnrollmentUserID", "UserShortName"] {
            d.remove(k);
        }
        d.insert("Status".into(), Value::String(status.into()));
        d.insert("CommandUUID".into(), Value::String("C".into()));
        d.insert("UDID".into(), Value::String("D".into()));
        let r = CommandReport::from_dict(d).unwrap();
        prop_assert_eq!(&CommandReport::from_bytes(&r.to_bytes(Format::Binary), &Limits::DEFAULT).unwrap(), &r);
    }

    #[test]
    fn profiles_round_trip_and_rebuild_identically(ssid in "[ -~]{1,32}", join in any::<bool>()) {
        let tenant = TenantId::new("t").unwrap();
        let build = || {
            let mut wifi = Dictionary::new();
            wifi.insert("SSID_STR".into(), Value::String(ssid.clone()));
            wifi.insert("AutoJoin".into(), Value::Boolean(join));
            ProfileBuilder::new(ProfileId::new("com.example", &tenant, "w").unwrap())
                .payload("com.apple.wifi.managed", "a", wifi)
                .build()
                .unwrap()
        };
        let p = build();
        prop_assert_eq!(p.to_bytes(Format::Xml), build().to_bytes(Format::Xml));
        for f in [Format::Xml, Format::Binary] {
            prop_assert_eq!(&Profile::from_bytes(&p.to_bytes(f), &Limits::DEFAULT).unwrap(), &p);
        }
    }

    #[test]
    fn token_updates_round_trip(token in proptest::collection::vec(any::<u8>(), 0..64), magic in "[A-Z0-9-]{1,40}") {
        let t = TokenUpdate {
            message_type: Some("TokenUpdate".into()),
            udid: Some("U".into()),
            token: Some(token),
            push_magic: Some(magic),
            ..Default::default()
        };
        let c = Checkin::from_dict(t.to_dict()).unwrap();
        prop_assert_eq!(c.to_dict(), t.to_dict());
    }

    #[test]
    fn mutated_fixtures_are_refused_or_re_encode_stably(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let files = fixtures();
        let mut bytes = files[pick.index(files.len())].clone();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if cut.index(4) == 0 {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(c) = Checkin::from_bytes(&bytes, &Limits::DEFAULT) {
            let out = c.to_bytes(Format::Xml);
            prop_assert_eq!(Checkin::from_bytes(&out, &Limits::DEFAULT).unwrap().to_bytes(Format::Xml), out);
        }
        if let Ok(r) = CommandReport::from_bytes(&bytes, &Limits::DEFAULT) {
            let out = r.to_bytes(Format::Binary);
            prop_assert_eq!(CommandReport::from_bytes(&out, &Limits::DEFAULT).unwrap().to_bytes(Format::Binary), out);
        }
        if let Ok(p) = Profile::from_bytes(&bytes, &Limits::DEFAULT) {
            let _ = p.validate();
        }
        let _ = mdmkit_apple::SignedProfile::from_bytes(&bytes, &Limits::DEFAULT);
        let _ = mdmkit_apple::inspect::detect(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Checkin::from_bytes(&bytes, &Limits::DEFAULT);
        let _ = CommandReport::from_bytes(&bytes, &Limits::DEFAULT);
        let _ = Profile::from_bytes(&bytes, &Limits::DEFAULT);
        let _ = mdmkit_apple::cms::verify(&bytes);
    }
}

/// A control character in a string cannot be written as XML, so it is
/// refused from binary plists and XML character references alike (found by
/// `mutated_fixtures_are_refused_or_re_encode_stably`).
#[test]
fn control_characters_in_strings_are_refused_from_either_format() {
    let mut dict = plist::Dictionary::new();
    dict.insert(
        "MessageType".into(),
        plist::Value::String("Authenticate".into()),
    );
    dict.insert("UDID".into(), plist::Value::String("A\u{0f}B".into()));
    let mut binary = Vec::new();
    plist::Value::Dictionary(dict)
        .to_writer_binary(&mut binary)
        .unwrap();
    assert!(Checkin::from_bytes(&binary, &Limits::DEFAULT).is_err());

    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string>
<key>UDID</key><string>A&#x0f;B</string></dict></plist>"#;
    assert!(Checkin::from_bytes(xml, &Limits::DEFAULT).is_err());
}
