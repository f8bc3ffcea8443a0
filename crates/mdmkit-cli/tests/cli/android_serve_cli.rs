//! Android end to end over real HTTP: `mdmkit serve` on the example region
//! with `DIR/.mdmkit/android.toml` pointing at the Google emulator
//! (AMAPI, OAuth, Pub/Sub push tokens; Google itself is out of reach).
//! `mdmkit enroll android` creates a token for a school and its QR code;
//! a tablet enrolled with it is announced by an ENROLLMENT push, lands
//! under that school, gets the school's policy patched through a storm of
//! 429s and 5xx, and is verified from its STATUS_REPORT in
//! `mdmkit status`; a policy Google rejects shows as failed with Google's
//! reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use mdmkit::android::emulator::{Emulator, Fault};
use mdmkit::android::enrollment::ProvisioningPayload;
use mdmkit::android::pubsub::envelope;

use crate::serve_support::{Server, TENANT, find_device};
use crate::support::{copy_dir, mdmkit, region, stderr, stdout};

/// An Android class of the example region.
const CLASS: &str = "ravel-5e-b";
const ENTERPRISE: &str = "enterprises/LC03hdl7";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn audience() -> String {
    format!("https://mdm.test/{TENANT}/android/pubsub")
}

/// Writes the tenant's Android settings for the emulator.
fn configure(dir: &Path, emu: &Emulator) {
    let state = dir.join(".mdmkit");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("android-sa.json"), emu.service_account_key()).unwrap();
    std::fs::write(
        state.join("android.toml"),
        format!(
            r#"enterprise = "{ENTERPRISE}"
service_account_key = "android-sa.json"
api_url = "{}"
drain_every = "1h"

[retry]
attempts = 8
base_delay = "10ms"
max_delay = "50ms"

[pubsub]
audience = "{}"
issuer = "{}"
jwks_url = "{}"
"#,
            emu.base_url(),
            audience(),
            emu.issuer(),
            emu.jwks_url()
        ),
    )
    .unwrap();
}

/// `mdmkit enroll android DIR --node CLASS --out qr.png`: the token value.
fn enrollment_token(dir: &Path) -> String {
    let png_path = dir.join("qr.png");
    let o = mdmkit(&[
        "enroll",
        "android",
        dir.to_str().unwrap(),
        "--node",
        CLASS,
        "--out",
        png_path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(CLASS), "{}", stderr(&o));
    let png_bytes = std::fs::read(&png_path).unwrap();
    let mut r = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert!(info.width > 100 && info.width == info.height);
    let payload = ProvisioningPayload::parse(&std::fs::read(dir.join("qr.json")).unwrap()).unwrap();
    payload.enrollment_token().unwrap().to_owned()
}

async fn push(
    c: &reqwest::Client,
    server: &Server,
    emu: &Emulator,
    kind: &str,
    data: &serde_json::Value,
) -> u16 {
    c.post(format!("{}/{TENANT}/android/pubsub", server.base))
        .bearer_auth(emu.push_token(&audience(), now()))
        .header("content-type", "application/json")
        .body(envelope(
            kind,
            data.to_string().as_bytes(),
            "1",
            "projects/p/subscriptions/s",
        ))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The device's entry in `mdmkit status DIR --node CLASS --json`.
fn status(dir: &Path, device: &str) -> serde_json::Value {
    let o = mdmkit(&["status", dir.to_str().unwrap(), "--node", CLASS, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    find_device(&v, device)
        .unwrap_or_else(|| panic!("{device} not in status: {v}"))
        .clone()
}

fn states(dev: &serde_json::Value) -> Vec<String> {
    dev["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_android_tablet_enrolls_by_notification_and_is_verified_from_its_status_report() {
    let emu = Emulator::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    configure(&dir, &emu);
    let value = enrollment_token(&dir);
    let server = Server::start(&dir, &[]);
    let c = reqwest::Client::new();

    // The tablet scans the code; Google announces it while overloaded.
    let name = format!("{ENTERPRISE}/devices/a1b2c3d4e5f60718");
    let device = emu
        .enroll(&value, "a1b2c3d4e5f60718", "R9NEWTAB01")
        .unwrap();
    emu.inject([
        Fault::TooManyRequests { retry_after: 1 },
        Fault::ServerError(503),
        Fault::TooManyRequests { retry_after: 1 },
        Fault::ServerError(500),
        Fault::TooManyRequests { retry_after: 0 },
    ]);
    assert_eq!(push(&c, &server, &emu, "ENROLLMENT", &device).await, 204);
    // After enrollmentTokens.create: the storm on policies.get, which then
    // finds no policy (404), policies.patch, devices.get and devices.patch.
    let served: Vec<(String, u16)> = emu
        .served()
        .iter()
        .map(|s| (s.method.clone(), s.status))
        .collect();
    let statuses: Vec<u16> = served.iter().map(|s| s.1).collect();
    assert_eq!(
        statuses,
        [200, 429, 503, 429, 500, 429, 404, 200, 200, 200],
        "{served:?}"
    );
    assert_eq!(served[7].0, "PATCH");
    let policy_name = format!("{ENTERPRISE}/policies/mdmkit-a1b2c3d4e5f60718");
    let policy = emu.policy(&policy_name).unwrap();
    assert_eq!(
        emu.device(&name).unwrap()["policyName"],
        policy_name.as_str()
    );
    let dev = status(&dir, &name);
    assert_eq!(dev["node"], CLASS);
    assert!(states(&dev).iter().any(|s| s == "sent"), "{dev}");

    // The tablet applies the policy and reports: verified.
    let report = emu.status_report(&name, &[]).unwrap();
    assert_eq!(push(&c, &server, &emu, "STATUS_REPORT", &report).await, 204);
    let dev = status(&dir, &name);
    let st = states(&dev);
    assert!(st.iter().any(|s| s == "verified"), "{dev}");
    assert!(
        st.iter().all(|s| s == "verified" || s == "unsupported"),
        "{dev}"
    );

    // Google rejects a field of the same policy for the next tablet: its
    // categories fail with Google's reason.
    let field = policy
        .as_object()
        .unwrap()
        .keys()
        .find(|k| *k != "name" && *k != "version")
        .unwrap()
        .clone();
    emu.reject_policy_field(
        &field,
        "Invalid value at 'policy': this enterprise may not set it",
    );
    let value = enrollment_token(&dir);
    let second = format!("{ENTERPRISE}/devices/0f1e2d3c4b5a6978");
    let device = emu
        .enroll(&value, "0f1e2d3c4b5a6978", "R9NEWTAB02")
        .unwrap();
    assert_eq!(push(&c, &server, &emu, "ENROLLMENT", &device).await, 204);
    let dev = status(&dir, &second);
    assert!(states(&dev).iter().any(|s| s == "failed"), "{dev}");
    let text = dev.to_string();
    assert!(
        text.contains("this enterprise may not set it") && text.contains("INVALID_ARGUMENT"),
        "{text}"
    );
    // The first tablet is untouched.
    assert!(states(&status(&dir, &name)).iter().any(|s| s == "verified"));
}

#[test]
fn enroll_android_needs_the_tenants_android_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let o = mdmkit(&["enroll", "android", dir.to_str().unwrap(), "--node", CLASS]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("android.toml"), "{}", stderr(&o));
}

#[test]
fn serve_refuses_broken_android_settings_with_the_file_and_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let state = dir.join(".mdmkit");
    std::fs::create_dir_all(&state).unwrap();
    let cases = [
        (
            "enterprise = \"LC01\"\nservice_account_key = \"k.json\"\n[pubsub]\naudience = \"a\"\n",
            "enterprise",
        ),
        (
            "enterprise = \"enterprises/LC01\"\nservice_account_key = \"missing.json\"\n[pubsub]\naudience = \"a\"\n",
            "missing.json",
        ),
        (
            "enterprise = \"enterprises/LC01\"\nservice_account_key = \"k.json\"\n",
            "pubsub",
        ),
        (
            "enterprise = \"enterprises/LC01\"\nservice_account_key = \"k.json\"\ncolour = 1\n[pubsub]\naudience = \"a\"\n",
            "colour",
        ),
    ];
    std::fs::write(
        state.join("k.json"),
        br#"{"client_email":"a@b","private_key":"nope"}"#,
    )
    .unwrap();
    for (toml, needle) in cases {
        std::fs::write(state.join("android.toml"), toml).unwrap();
        let o = mdmkit(&["serve", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        assert!(!o.status.success(), "{toml}");
        let err = stderr(&o);
        assert!(
            err.contains("android.toml") && err.contains(needle),
            "{toml}: {err}"
        );
    }
    // A key file that is not a service-account key.
    std::fs::write(
        state.join("android.toml"),
        "enterprise = \"enterprises/LC01\"\nservice_account_key = \"k.json\"\n[pubsub]\naudience = \"a\"\n",
    )
    .unwrap();
    let o = mdmkit(&["serve", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("k.json"), "{}", stderr(&o));
}
