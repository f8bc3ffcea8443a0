//! The AMAPI client against the emulator over HTTP on loopback: the JWT
//! bearer grant, token caching, retries on 429 and 5xx honouring
//! `Retry-After`, Google's error bodies, and every call the server uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdmkit_android::client::{
    AmapiClient, ClientError, Credentials, RetryPolicy, ServiceAccountKey, Sleep,
};
use mdmkit_android::command::DeviceCommand;
use mdmkit_android::emulator::{Emulator, Fault};
use mdmkit_android::enrollment::EnrollmentTokenRequest;
use mdmkit_android::names::{DeviceName, EnterpriseName, PolicyName};
use mdmkit_android::remedy::RpcCode;

/// A client of the emulator whose waits are recorded, not slept.
fn client(emu: &Emulator, attempts: u32) -> (AmapiClient, Arc<Mutex<Vec<Duration>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let w = waits.clone();
    let sleep: Sleep = Arc::new(move |d| {
        w.lock().unwrap().push(d);
        Box::pin(async {})
    });
    let key = ServiceAccountKey::parse(&emu.service_account_key()).unwrap();
    let c = AmapiClient::builder(Credentials::ServiceAccount(key))
        .base_url(emu.base_url())
        .retry(RetryPolicy::default().with_max_attempts(attempts))
        .sleep_with(sleep)
        .build()
        .unwrap();
    (c, waits)
}

fn policy(json: &str) -> mdmkit_android::model::Policy {
    mdmkit_android::parse::policy(json.as_bytes()).unwrap()
}

#[tokio::test]
async fn a_429_storm_is_waited_out_as_google_asks() {
    let emu = Emulator::start().await.unwrap();
    let (c, waits) = client(&emu, 6);
    emu.inject([
        Fault::TooManyRequests { retry_after: 7 },
        Fault::TooManyRequests { retry_after: 3 },
        Fault::ServerError(503),
        Fault::TooManyRequests { retry_after: 1 },
    ]);
    let name = PolicyName::parse("enterprises/LC01/policies/pupils").unwrap();
    let p = c
        .patch_policy(&name, &policy(r#"{"cameraDisabled":true}"#), None)
        .await
        .unwrap();
    assert_eq!(p.version, Some(1));
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 4, "{waits:?}");
    assert_eq!(
        &waits[..2],
        &[Duration::from_secs(7), Duration::from_secs(3)]
    );
    // The 503 carried no Retry-After: the backoff of the third attempt
    // (500 ms doubled twice, less up to half of jitter).
    assert!(
        waits[2] <= Duration::from_secs(2) && waits[2] >= Duration::from_secs(1),
        "{waits:?}"
    );
    assert_eq!(waits[3], Duration::from_secs(1));
    // One grant served every attempt: the token is cached.
    assert_eq!(emu.grants(), 1);
    let statuses: Vec<u16> = emu.served().iter().map(|s| s.status).collect();
    assert_eq!(statuses, [429, 429, 503, 429, 200]);
}

#[tokio::test]
async fn a_storm_longer_than_the_attempts_is_reported_with_googles_error() {
    let emu = Emulator::start().await.unwrap();
    let (c, _) = client(&emu, 3);
    emu.inject([Fault::TooManyRequests { retry_after: 0 }; 3]);
    let d = DeviceName::parse("enterprises/LC01/devices/d1").unwrap();
    let e = c.get_device(&d).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Exhausted { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.is_transient());
    assert_eq!(e.api_error().unwrap().code, RpcCode::ResourceExhausted);
}

#[tokio::test]
async fn a_rejected_policy_is_a_typed_error_with_googles_reason() {
    let emu = Emulator::start().await.unwrap();
    let (c, waits) = client(&emu, 6);
    emu.reject_policy_field(
        "passwordPolicies",
        "Invalid value at 'policy.password_policies[0].password_minimum_length' (TYPE_INT32)",
    );
    let name = PolicyName::parse("enterprises/LC01/policies/pupils").unwrap();
    let e = c
        .patch_policy(
            &name,
            &policy(r#"{"passwordPolicies":[{"passwordMinimumLength":4}]}"#),
            None,
        )
        .await
        .unwrap_err();
    let api = e.api_error().unwrap();
    assert_eq!(
        (e.status(), api.code),
        (Some(400), RpcCode::InvalidArgument)
    );
    assert!(
        api.message.contains("password_minimum_length"),
        "{}",
        api.message
    );
    assert!(!e.is_transient());
    assert!(waits.lock().unwrap().is_empty(), "a 400 is not retried");
}

#[tokio::test]
async fn the_calls_of_the_reconcile_loop_reach_their_resources() {
    let emu = Emulator::start().await.unwrap();
    let (c, _) = client(&emu, 2);
    let ent = EnterpriseName::parse("enterprises/LC01").unwrap();
    let pol = ent.policy("node-school").unwrap();
    c.patch_policy(
        &pol,
        &policy(r#"{"cameraDisabled":true,"screenCaptureDisabled":true}"#),
        None,
    )
    .await
    .unwrap();
    let p = c
        .patch_policy(
            &pol,
            &policy(r#"{"cameraDisabled":false}"#),
            Some(&["cameraDisabled"]),
        )
        .await
        .unwrap();
    assert_eq!(
        (p.version, p.camera_disabled, p.screen_capture_disabled),
        (Some(2), Some(false), Some(true))
    );
    let token = c
        .create_enrollment_token(
            &ent,
            &EnrollmentTokenRequest::new(pol.clone()).additional_data("x"),
        )
        .await
        .unwrap();
    let value = token.value.clone().unwrap();
    assert!(token.qr_code.unwrap().contains(&value));
    emu.enroll(&value, "d1", "R9TEST").unwrap();
    let dev = DeviceName::parse("enterprises/LC01/devices/d1").unwrap();
    assert_eq!(
        c.get_device(&dev)
            .await
            .unwrap()
            .enrollment_token_data
            .as_deref(),
        Some("x")
    );
    let other = ent.policy("device-d1").unwrap();
    c.patch_policy(&other, &policy("{}"), None).await.unwrap();
    let d = c.set_device_policy(&dev, &other).await.unwrap();
    assert_eq!(d.policy_name.as_deref(), Some(other.as_str()));
    let list = c.list_devices(&ent, Some(10), None).await.unwrap();
    assert_eq!(list.devices.map(|v| v.len()), Some(1));
    let op = c
        .issue_command(&dev, &DeviceCommand::lock(), None)
        .await
        .unwrap();
    let op_name = mdmkit_android::names::OperationName::parse(op.name.clone().unwrap()).unwrap();
    assert_eq!(c.get_operation(&op_name).await.unwrap().name, op.name);
    let tname = mdmkit_android::names::EnrollmentTokenName::parse(token.name.unwrap()).unwrap();
    c.delete_enrollment_token(&tname).await.unwrap();
    assert!(emu.enroll(&value, "d2", "R9OTHER").is_none());
}

#[tokio::test]
async fn a_bad_key_or_a_foreign_token_is_refused() {
    let emu = Emulator::start().await.unwrap();
    let stranger = Emulator::start().await.unwrap();
    // A key the emulator never issued, pointed at its token endpoint.
    let key = ServiceAccountKey::parse(&stranger.service_account_key()).unwrap();
    let c = AmapiClient::builder(Credentials::ServiceAccount(key))
        .base_url(emu.base_url())
        .token_url(emu.token_url())
        .retry(RetryPolicy::default().with_max_attempts(1))
        .build()
        .unwrap();
    let d = DeviceName::parse("enterprises/LC01/devices/d1").unwrap();
    let e = c.get_device(&d).await.unwrap_err();
    assert!(matches!(e, ClientError::Token { status: 400, .. }), "{e}");
    let c = AmapiClient::builder(Credentials::AccessToken("ya29.forged".into()))
        .base_url(emu.base_url())
        .build()
        .unwrap();
    let e = c.get_device(&d).await.unwrap_err();
    assert_eq!(e.api_error().unwrap().code, RpcCode::Unauthenticated);
    assert!(
        AmapiClient::builder(Credentials::AccessToken("t".into()))
            .base_url("ftp://x")
            .build()
            .is_err()
    );
}
