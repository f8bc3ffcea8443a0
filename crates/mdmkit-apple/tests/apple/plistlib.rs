//! Python's `plistlib` as an independent reader and writer: every kind of
//! plist mdmkit writes (profiles, commands, check-in messages, command
//! reports; XML and binary) reads back in Python to the same values, and
//! what Python writes, mdmkit reads to the same values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command as Process;

use mdmkit_apple::command::everyday;
use mdmkit_apple::json::to_json;
use mdmkit_apple::profile::{ProfileBuilder, ProfileId};
use mdmkit_apple::{Checkin, CommandReport, Format, Limits, plist_io};
use mdmkit_core::TenantId;
use plist::{Date, Dictionary, Value};

const PY: &str = r#"
import base64, datetime, json, plistlib, sys

def conv(v):
    if isinstance(v, dict):
        return {k: conv(x) for k, x in v.items()}
    if isinstance(v, list):
        return [conv(x) for x in v]
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return v

out = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        out.append(conv(plistlib.load(f)))
json.dump(out, sys.stdout)
"#;

fn python(script: &str, args: &[String]) -> serde_json::Value {
    let out = Process::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed for these tests");
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn samples() -> Vec<(&'static str, Value)> {
    let tenant = TenantId::new("school-7").unwrap();
    let mut wifi = Dictionary::new();
    wifi.insert(
        "SSID_STR".into(),
        Value::String("Staff & Guests <5G>".into()),
    );
    wifi.insert("AutoJoin".into(), Value::Boolean(true));
    wifi.insert("Priority".into(), Value::Real(0.25));
    wifi.insert("ProxyServerPort".into(), Value::Integer(8080.into()));
    wifi.insert(
        "PayloadCertificateUUID".into(),
        Value::Data(vec![0, 1, 254, 255]),
    );
    wifi.insert(
        "Expiry".into(),
        Value::Date(Date::from_xml_format("2027-01-31T08:00:00Z").unwrap()),
    );
    wifi.insert("Ünïcødé".into(), Value::String("😀 élève".into()));
    let profile = ProfileBuilder::new(ProfileId::new("com.example.mdm", &tenant, "wifi").unwrap())
        .display_name("École Wi-Fi")
        .payload("com.apple.wifi.managed", "staff", wifi)
        .build()
        .unwrap();
    let checkin = Checkin::from_bytes(
        br#"<?xml version="1.0"?><plist version="1.0"><dict>
        <key>MessageType</key><string>TokenUpdate</string>
        <key>Topic</key><string>com.apple.mgmt.External.1</string>
        <key>UDID</key><string>00008030-001A2B3C4D5E802E</string>
        <key>Token</key><data>3q2+7w==</data>
        <key>PushMagic</key><string>4D1C</string>
        <key>AwaitingConfiguration</key><false/>
        </dict></plist>"#,
        &Limits::DEFAULT,
    )
    .unwrap();
    let report = CommandReport::from_bytes(
        br#"<?xml version="1.0"?><plist version="1.0"><dict>
        <key>CommandUUID</key><string>A1</string>
        <key>Status</key><string>Acknowledged</string>
        <key>UDID</key><string>X</string>
        <key>QueryResponses</key><dict><key>BatteryLevel</key><real>0.81</real>
        <key>DeviceCapacity</key><real>64</real><key>IsSupervised</key><true/></dict>
        </dict></plist>"#,
        &Limits::DEFAULT,
    )
    .unwrap();
    vec![
        ("profile", Value::Dictionary(profile.to_dict())),
        (
            "command",
            Value::Dictionary(everyday::install_built_profile(&profile).to_dict()),
        ),
        (
            "command-lock",
            Value::Dictionary(everyday::device_lock(Some("Lost".into()), None).to_dict()),
        ),
        ("checkin", Value::Dictionary(checkin.to_dict())),
        ("report", Value::Dictionary(report.to_dict())),
    ]
}

#[test]
fn plistlib_reads_every_plist_we_write_to_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    let mut expected = Vec::new();
    for (name, value) in samples() {
        for (ext, format) in [("xml", Format::Xml), ("bin", Format::Binary)] {
            let path = dir.path().join(format!("{name}.{ext}"));
            std::fs::write(&path, plist_io::write(&value, format)).unwrap();
            paths.push(path.to_string_lossy().into_owned());
            expected.push(to_json(&value));
        }
    }
    let got = python(PY, &paths);
    assert_eq!(got, serde_json::Value::Array(expected));
}

#[test]
fn we_read_what_plistlib_writes_to_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        r#"
import datetime, plistlib, sys
d = {{
    "MessageType": "Authenticate", "UDID": "ABC", "Topic": "com.apple.mgmt.x",
    "Nested": {{"List": [1, -2, 3.5, True, b"\x00\xff", "ü & <x>"]}},
    "When": datetime.datetime(2026, 11, 28, 15, 0, 0),
    "Big": 2**62,
}}
for fmt, ext in ((plistlib.FMT_XML, "xml"), (plistlib.FMT_BINARY, "bin")):
    with open(sys.argv[1] + "/py." + ext, "wb") as f:
        plistlib.dump(d, f, fmt=fmt)
{PY}
"#
    );
    let base = dir.path().to_string_lossy().into_owned();
    let files = [format!("{base}/py.xml"), format!("{base}/py.bin")];
    // The script writes both files, then prints what plistlib reads back.
    let mut args = vec![base.clone()];
    args.extend(files.iter().cloned());
    let script = script.replace("sys.argv[1:]", "sys.argv[2:]");
    let python_view = python(&script, &args);
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f).unwrap();
        let (value, _) = plist_io::read(&bytes, &Limits::DEFAULT).unwrap();
        assert_eq!(to_json(&value), python_view[i], "{f}");
        // And mdmkit's typed reader accepts it as a check-in message.
        assert!(Checkin::from_bytes(&bytes, &Limits::DEFAULT).is_ok());
    }
}
