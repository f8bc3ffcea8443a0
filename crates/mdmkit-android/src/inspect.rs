//! Recognising and summarising AMAPI JSON of unknown origin (what
//! `mdmkit inspect FILE` shows): a `Policy`, a `Device` or an `Operation`.

use serde_json::{Map, Value, json};

use crate::Error;
use crate::model::{Device, Operation, Policy, WireEnum};
use crate::names::{DeviceName, OperationName, PolicyName};
use crate::operation::{CommandOutcome, CommandState};
use crate::parse::Limits;
use crate::state::{DesiredPolicy, PolicySync, SettingStatus, verify};

/// The kinds of AMAPI resource [`inspect`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A `Policy`.
    Policy,
    /// A `Device`.
    Device,
    /// An `Operation`.
    Operation,
}

impl Kind {
    /// The `"kind"` shown by `mdmkit inspect`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Policy => "amapi-policy",
            Kind::Device => "amapi-device",
            Kind::Operation => "amapi-operation",
        }
    }

    fn schema(self) -> &'static str {
        match self {
            Kind::Policy => "Policy",
            Kind::Device => "Device",
            Kind::Operation => "Operation",
        }
    }
}

fn field_set(schema: &str) -> Vec<&'static str> {
    crate::schema::fields(schema).unwrap_or_default()
}

/// Decides which resource a JSON object is: by its `name` when that is a
/// resource name, else by keys only that resource has (at least one, and
/// at least half of all keys known to it).
pub fn detect_kind(obj: &Map<String, Value>) -> Option<Kind> {
    if let Some(name) = obj.get("name").and_then(Value::as_str) {
        if OperationName::parse(name).is_ok() {
            return Some(Kind::Operation);
        }
        if DeviceName::parse(name).is_ok() {
            return Some(Kind::Device);
        }
        if PolicyName::parse(name).is_ok() {
            return Some(Kind::Policy);
        }
    }
    let (policy, device, operation) = (
        field_set("Policy"),
        field_set("Device"),
        field_set("Operation"),
    );
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    if keys.is_empty() {
        return None;
    }
    if keys
        .iter()
        .any(|k| matches!(*k, "done" | "metadata" | "response"))
        && keys.iter().all(|k| operation.contains(k))
    {
        return Some(Kind::Operation);
    }
    let score = |own: &[&str], others: [&[&str]; 2]| {
        let known = keys.iter().filter(|k| own.contains(k)).count();
        let distinct = keys
            .iter()
            .filter(|k| own.contains(k) && !others.iter().any(|o| o.contains(k)))
            .count();
        (distinct > 0 && known * 2 >= keys.len()).then_some(known)
    };
    match (
        score(&policy, [&device, &operation]),
        score(&device, [&policy, &operation]),
    ) {
        (Some(p), Some(d)) if p > d => Some(Kind::Policy),
        (Some(p), Some(d)) if d > p => Some(Kind::Device),
        (Some(_), None) => Some(Kind::Policy),
        (None, Some(_)) => Some(Kind::Device),
        _ => None,
    }
}

/// Recognises and summarises AMAPI JSON: `None` when the bytes are not
/// JSON or not a recognised resource; `Some(Err)` when they are one but do
/// not decode (with the JSON path of the problem).
pub fn inspect(bytes: &[u8]) -> Option<Result<Value, Error>> {
    let limits = Limits::DEFAULT.with_max_bytes(16 * 1024 * 1024);
    limits.check(bytes).ok()?;
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let kind = detect_kind(value.as_object()?)?;
    Some(summarise(kind, bytes, &value))
}

fn summarise(kind: Kind, bytes: &[u8], raw: &Value) -> Result<Value, Error> {
    let limits = Limits::DEFAULT.with_max_bytes(16 * 1024 * 1024);
    let unknown: Vec<String> = crate::schema::check(raw, kind.schema())?
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut out = match kind {
        Kind::Policy => policy_summary(&limits.parse::<Policy>(bytes)?)?,
        Kind::Device => device_summary(&limits.parse::<Device>(bytes)?)?,
        Kind::Operation => operation_summary(&limits.parse::<Operation>(bytes)?)?,
    };
    out.insert("kind".into(), kind.as_str().into());
    out.insert("notInGoogleDescription".into(), unknown.into());
    Ok(Value::Object(out))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|source| Error::Encode {
        what: "summary",
        source,
    })
}

fn policy_summary(p: &Policy) -> Result<Map<String, Value>, Error> {
    let settings: Vec<String> = DesiredPolicy::from_policy(p)
        .settings
        .iter()
        .map(ToString::to_string)
        .collect();
    let apps: Vec<Value> = p
        .applications
        .iter()
        .flatten()
        .map(|a| {
            json!({
                "packageName": a.package_name,
                "installType": a.install_type.as_ref().map(WireEnum::as_str),
            })
        })
        .collect();
    let mut m = Map::new();
    m.insert("name".into(), json!(p.name));
    m.insert("version".into(), json!(p.version));
    m.insert("settings".into(), json!(settings));
    m.insert("applications".into(), Value::Array(apps));
    m.insert("policy".into(), to_value(p)?);
    Ok(m)
}

fn device_summary(d: &Device) -> Result<Map<String, Value>, Error> {
    let desired = DesiredPolicy {
        name: d.policy_name.clone(),
        ..DesiredPolicy::default()
    };
    let v = verify(d, &desired);
    let sync = match &v.sync {
        PolicySync::Current => json!("current"),
        PolicySync::Behind { applied, desired } => {
            json!({"behind": {"applied": applied, "desired": desired}})
        }
        PolicySync::OtherPolicy { applied } => json!({"otherPolicy": applied}),
        PolicySync::NotApplied => json!("not-applied"),
        _ => json!("unknown"),
    };
    let settings: Vec<Value> = v
        .settings
        .iter()
        .map(|s| match &s.status {
            SettingStatus::NonCompliant { remedy, details } => json!({
                "setting": s.key.as_str(),
                "status": "non-compliant",
                "remedy": remedy.as_str(),
                "reasons": details.iter().map(|d| json!({
                    "reason": d.non_compliance_reason.as_ref().map(WireEnum::as_str),
                    "specificReason": d.specific_non_compliance_reason.as_ref().map(WireEnum::as_str),
                    "installationFailureReason": d.installation_failure_reason.as_ref().map(WireEnum::as_str),
                    "fieldPath": d.field_path,
                })).collect::<Vec<_>>(),
            }),
            SettingStatus::Applied => json!({"setting": s.key.as_str(), "status": "applied"}),
            _ => json!({"setting": s.key.as_str(), "status": "pending"}),
        })
        .collect();
    let mut m = Map::new();
    m.insert("name".into(), json!(d.name));
    m.insert(
        "state".into(),
        json!(d.state.as_ref().map(WireEnum::as_str)),
    );
    m.insert("policyName".into(), json!(d.policy_name));
    m.insert("appliedPolicyName".into(), json!(d.applied_policy_name));
    m.insert(
        "appliedPolicyVersion".into(),
        json!(d.applied_policy_version),
    );
    m.insert("policyCompliant".into(), json!(d.policy_compliant));
    m.insert("policySync".into(), sync);
    m.insert("nonCompliance".into(), Value::Array(settings));
    m.insert("device".into(), to_value(d)?);
    Ok(m)
}

fn operation_summary(o: &Operation) -> Result<Map<String, Value>, Error> {
    let outcome = CommandOutcome::from_operation(o)?;
    let mut m = Map::new();
    m.insert("name".into(), json!(o.name));
    m.insert("done".into(), json!(o.done.unwrap_or(false)));
    m.insert(
        "commandType".into(),
        json!(outcome.command_type().map(WireEnum::as_str)),
    );
    match &outcome.state {
        CommandState::Pending => {
            m.insert("state".into(), json!("pending"));
        }
        CommandState::Succeeded => {
            m.insert("state".into(), json!("succeeded"));
        }
        CommandState::Failed(f) => {
            m.insert("state".into(), json!("failed"));
            m.insert(
                "failure".into(),
                json!({
                    "code": f.code.map(|c| c.name()),
                    "message": f.message,
                    "errorCode": f.error_code.as_ref().map(WireEnum::as_str),
                    "failedPackages": f.failed_packages.iter().map(|(k, v)| (k.clone(), json!(v.as_str()))).collect::<Map<_, _>>(),
                    "remedy": f.remedy.as_str(),
                }),
            );
        }
    }
    m.insert("operation".into(), to_value(o)?);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(json: &str) -> Option<Kind> {
        detect_kind(
            serde_json::from_str::<Value>(json)
                .unwrap()
                .as_object()
                .unwrap(),
        )
    }

    #[test]
    fn resources_are_told_apart_by_name_or_by_their_own_keys() {
        assert_eq!(
            kind(r#"{"name":"enterprises/e/devices/d/operations/1"}"#),
            Some(Kind::Operation)
        );
        assert_eq!(
            kind(r#"{"name":"enterprises/e/devices/d"}"#),
            Some(Kind::Device)
        );
        assert_eq!(
            kind(r#"{"name":"enterprises/e/policies/p"}"#),
            Some(Kind::Policy)
        );
        assert_eq!(
            kind(r#"{"done":true,"error":{"code":3}}"#),
            Some(Kind::Operation)
        );
        assert_eq!(
            kind(r#"{"cameraDisabled":true,"applications":[]}"#),
            Some(Kind::Policy)
        );
        assert_eq!(
            kind(r#"{"appliedPolicyVersion":"3","state":"ACTIVE"}"#),
            Some(Kind::Device)
        );
        assert_eq!(kind(r#"{"error":{"code":400,"message":"bad"}}"#), None);
        assert_eq!(kind(r#"{"tenant":"x","settings":{}}"#), None);
        assert_eq!(kind(r#"{}"#), None);
    }

    #[test]
    fn non_json_and_foreign_json_are_not_claimed() {
        assert!(inspect(b"<?xml version=\"1.0\"?><plist/>").is_none());
        assert!(inspect(b"[1,2,3]").is_none());
        assert!(inspect(br#"{"hello":"world"}"#).is_none());
    }

    #[test]
    fn a_recognised_resource_that_fails_to_decode_is_an_error_with_a_path() {
        let r =
            inspect(br#"{"name":"enterprises/e/devices/d","appliedPolicyVersion":"x"}"#).unwrap();
        assert!(r.unwrap_err().to_string().contains("appliedPolicyVersion"));
    }
}
