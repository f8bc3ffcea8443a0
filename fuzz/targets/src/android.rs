//! Fuzz target bodies for mdmkit-android.

use mdmkit_android::model::{Device, Operation, Policy};
use mdmkit_android::{inspect, operation, parse, schema, state};

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "android_device",
        body: device,
    },
    Target {
        name: "android_operation",
        body: operation,
    },
    Target {
        name: "android_policy",
        body: policy,
    },
    Target {
        name: "android_inspect",
        body: inspect,
    },
    Target {
        name: "android_pubsub",
        body: pubsub,
    },
    Target {
        name: "android_oidc",
        body: oidc,
    },
];

/// A typed value that parsed re-encodes to JSON that parses to the same
/// value.
fn stable<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = parse::to_vec(value).unwrap_or_else(|e| panic!("cannot re-encode {value:?}: {e}"));
    let again: T = parse::Limits::DEFAULT
        .with_max_bytes(usize::MAX)
        .parse(&bytes)
        .unwrap_or_else(|e| panic!("re-encoding does not parse: {e}"));
    assert_eq!(&again, value, "re-encoding changed the value");
}

/// Device resources (from Google, or Pub/Sub status reports): parse, verify
/// against a desired policy, re-encode stably, and schema-check.
pub fn device(data: &[u8]) {
    let Ok(d) = parse::device(data) else {
        return;
    };
    stable::<Device>(&d);
    let desired = state::DesiredPolicy::new(
        d.policy_name.clone(),
        d.applied_policy_version.map(|v| v.saturating_add(1)),
    )
    .with_setting(state::SettingKey::field("cameraDisabled"));
    let _ = state::verify(&d, &desired);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = schema::check(&v, "Device");
    }
}

/// Operations (issueCommand answers, Pub/Sub command notifications): parse,
/// read the command outcome, re-encode stably.
pub fn operation(data: &[u8]) {
    let Ok(o) = parse::operation(data) else {
        return;
    };
    stable::<Operation>(&o);
    let _ = operation::CommandOutcome::from_operation(&o);
}

/// Policies (admin-loaded files, Google's answers): parse, derive the
/// settings to verify, re-encode stably.
pub fn policy(data: &[u8]) {
    let Ok(p) = parse::policy(data) else {
        return;
    };
    stable::<Policy>(&p);
    let _ = state::DesiredPolicy::from_policy(&p);
}

/// `mdmkit inspect`'s recogniser: any bytes are either not claimed, an
/// error, or a JSON object with a kind.
pub fn inspect(data: &[u8]) {
    if let Some(Ok(v)) = inspect::inspect(data) {
        assert!(v.get("kind").and_then(|k| k.as_str()).is_some());
    }
}

/// Pub/Sub push bodies (`/{tenant}/android/pubsub`): the envelope, its
/// data and resource, and the enrollment binding of an enrolled device.
/// A message that parses is rebuilt with `pubsub::envelope` and must read
/// back the same.
pub fn pubsub(data: &[u8]) {
    use mdmkit_android::pubsub::{self, EnrollmentBinding, Notification};
    let Ok(m) = pubsub::parse_push(data, pubsub::DEFAULT_MAX_ENVELOPE) else {
        return;
    };
    if let Notification::Enrollment(d) | Notification::StatusReport(d) = &m.notification
        && let Some(t) = d.enrollment_token_data.as_deref()
        && let Ok(b) = EnrollmentBinding::parse(t)
    {
        assert_eq!(EnrollmentBinding::parse(&b.to_data()).ok(), Some(b.clone()));
    }
    let again = pubsub::envelope(m.kind.as_str(), &m.data, &m.message_id, "s");
    let back = pubsub::parse_push(&again, usize::MAX)
        .unwrap_or_else(|e| panic!("a rebuilt envelope does not parse: {e}"));
    assert_eq!(back.notification, m.notification);
    assert_eq!(back.data, m.data);
}

/// Push tokens (the `Authorization` header of a push) and key sets: the
/// first line is a token, the rest a JWKS.
pub fn oidc(data: &[u8]) {
    use mdmkit_android::oidc::{Expectation, IdToken, Jwks};
    let (token, keys) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(t) = std::str::from_utf8(token)
        && let Ok(t) = IdToken::decode(t)
    {
        let _ = t.claims.audiences();
        let _ = t.check_claims(
            &Expectation::google("https://mdm.example/t/android/pubsub"),
            1_700_000_000,
        );
    }
    if let Ok(k) = Jwks::parse(keys) {
        let _ = k.has("k1");
    }
}
