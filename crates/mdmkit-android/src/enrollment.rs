//! Enrollment: the `enrollmentTokens.create` body, its answer, and the
//! QR-code provisioning payload a factory-reset device scans to install
//! Android Device Policy and enroll with the token.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::Error;
use crate::model::{EnrollmentToken, EnrollmentTokenAllowPersonalUsage};
use crate::names::PolicyName;

/// `android.app.extra.` keys of the provisioning payload.
pub mod keys {
    /// The device admin component of Android Device Policy.
    pub const ADMIN_COMPONENT: &str = "android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME";
    /// The checksum of the signing certificate of Android Device Policy.
    pub const ADMIN_SIGNATURE_CHECKSUM: &str =
        "android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM";
    /// Where the device downloads Android Device Policy.
    pub const ADMIN_DOWNLOAD_LOCATION: &str =
        "android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION";
    /// The bundle handed to Android Device Policy (holds the token).
    pub const ADMIN_EXTRAS_BUNDLE: &str = "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE";
    /// The enrollment token inside the extras bundle.
    pub const ENROLLMENT_TOKEN: &str =
        "com.google.android.apps.work.clouddpc.EXTRA_ENROLLMENT_TOKEN";
    /// Wi-Fi network name for setup.
    pub const WIFI_SSID: &str = "android.app.extra.PROVISIONING_WIFI_SSID";
    /// Wi-Fi password.
    pub const WIFI_PASSWORD: &str = "android.app.extra.PROVISIONING_WIFI_PASSWORD";
    /// Wi-Fi security type (`NONE`, `WPA`, `WEP`, `EAP`).
    pub const WIFI_SECURITY_TYPE: &str = "android.app.extra.PROVISIONING_WIFI_SECURITY_TYPE";
    /// Whether the Wi-Fi network is hidden.
    pub const WIFI_HIDDEN: &str = "android.app.extra.PROVISIONING_WIFI_HIDDEN";
    /// Device locale (`de_DE`).
    pub const LOCALE: &str = "android.app.extra.PROVISIONING_LOCALE";
    /// Device time zone (`Europe/Berlin`).
    pub const TIME_ZONE: &str = "android.app.extra.PROVISIONING_TIME_ZONE";
    /// Keep the system apps the device maker enabled.
    pub const LEAVE_ALL_SYSTEM_APPS_ENABLED: &str =
        "android.app.extra.PROVISIONING_LEAVE_ALL_SYSTEM_APPS_ENABLED";
    /// Skip encryption during setup (test devices only).
    pub const SKIP_ENCRYPTION: &str = "android.app.extra.PROVISIONING_SKIP_ENCRYPTION";
    /// Download over mobile data when there is no Wi-Fi.
    pub const USE_MOBILE_DATA: &str = "android.app.extra.PROVISIONING_USE_MOBILE_DATA";
}

/// The component of Android Device Policy, the DPC that AMAPI uses.
pub const ANDROID_DEVICE_POLICY_COMPONENT: &str =
    "com.google.android.apps.work.clouddpc/.receivers.CloudDeviceAdminReceiver";
/// The signature checksum of Android Device Policy.
pub const ANDROID_DEVICE_POLICY_SIGNATURE_CHECKSUM: &str =
    "I5YvS0O5hXY46mb01BlRjq4oJJGs2kuUcHvVkAPEXlg";
/// Where Android Device Policy is downloaded from.
pub const ANDROID_DEVICE_POLICY_DOWNLOAD: &str =
    "https://play.google.com/managed/downloadManagingApp?identifier=setup";

/// The longest `additionalData` accepted (kept small: it comes back in
/// every Device resource of devices enrolled with the token).
pub const MAX_ADDITIONAL_DATA: usize = 1024;

/// Builds the body of `enrollmentTokens.create`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentTokenRequest {
    policy: PolicyName,
    duration: Option<Duration>,
    one_time_only: bool,
    allow_personal_usage: Option<EnrollmentTokenAllowPersonalUsage>,
    additional_data: Option<String>,
}

impl EnrollmentTokenRequest {
    /// A token that enrolls devices with `policy`.
    pub fn new(policy: PolicyName) -> Self {
        Self {
            policy,
            duration: None,
            one_time_only: false,
            allow_personal_usage: None,
            additional_data: None,
        }
    }

    /// How long the token is valid (Google's default is one hour).
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = Some(d);
        self
    }

    /// Whether the token enrolls only one device.
    pub fn one_time_only(mut self, yes: bool) -> Self {
        self.one_time_only = yes;
        self
    }

    /// Whether devices enrolled with it allow personal usage.
    pub fn allow_personal_usage(mut self, a: EnrollmentTokenAllowPersonalUsage) -> Self {
        self.allow_personal_usage = Some(a);
        self
    }

    /// Data echoed back in the Device resource (`enrollmentTokenData`):
    /// mdmkit puts the tenant and scope there.
    pub fn additional_data(mut self, data: impl Into<String>) -> Self {
        self.additional_data = Some(data.into());
        self
    }

    /// Checks and builds the `EnrollmentToken` body.
    pub fn build(&self) -> Result<EnrollmentToken, Error> {
        let bad = |why: String| Error::InvalidRequest {
            what: "enrollment token request",
            why,
        };
        if self.duration.is_some_and(|d| d.is_zero()) {
            return Err(bad("the token would expire at once".into()));
        }
        if let Some(data) = &self.additional_data
            && data.len() > MAX_ADDITIONAL_DATA
        {
            return Err(bad(format!(
                "additional data is {} bytes, at most {MAX_ADDITIONAL_DATA} are allowed",
                data.len()
            )));
        }
        Ok(EnrollmentToken {
            policy_name: Some(self.policy.to_string()),
            duration: self.duration,
            one_time_only: self.one_time_only.then_some(true),
            allow_personal_usage: self.allow_personal_usage.clone(),
            additional_data: self.additional_data.clone(),
            ..EnrollmentToken::default()
        })
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        crate::parse::to_vec(&self.build()?)
    }
}

/// Wi-Fi security for provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WifiSecurity {
    /// An open network.
    None,
    /// WPA/WPA2/WPA3 personal.
    Wpa,
    /// WEP.
    Wep,
    /// 802.1X (EAP).
    Eap,
}

impl WifiSecurity {
    fn as_str(self) -> &'static str {
        match self {
            WifiSecurity::None => "NONE",
            WifiSecurity::Wpa => "WPA",
            WifiSecurity::Wep => "WEP",
            WifiSecurity::Eap => "EAP",
        }
    }
}

/// The QR-code provisioning payload: JSON a factory-reset device reads
/// (tap the welcome screen six times) to download Android Device Policy and
/// enroll with the token.
///
/// ```
/// use mdmkit_android::enrollment::{ProvisioningPayload, WifiSecurity, keys};
///
/// let qr = ProvisioningPayload::new("ABCDEFGHIJKLMNOPQRST")
///     .wifi("school-setup", WifiSecurity::Wpa, Some("correct horse"), false)
///     .locale("de_DE")
///     .time_zone("Europe/Berlin");
/// let json = qr.to_json();
/// let back = ProvisioningPayload::parse(json.as_bytes())?;
/// assert_eq!(back.enrollment_token(), Some("ABCDEFGHIJKLMNOPQRST"));
/// assert_eq!(back.get(keys::TIME_ZONE), Some(&serde_json::json!("Europe/Berlin")));
/// # Ok::<(), mdmkit_android::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisioningPayload {
    extras: BTreeMap<String, Value>,
}

impl ProvisioningPayload {
    /// The payload for Android Device Policy with an enrollment token value.
    pub fn new(token_value: impl Into<String>) -> Self {
        let mut extras = BTreeMap::new();
        extras.insert(
            keys::ADMIN_COMPONENT.into(),
            Value::from(ANDROID_DEVICE_POLICY_COMPONENT),
        );
        extras.insert(
            keys::ADMIN_SIGNATURE_CHECKSUM.into(),
            Value::from(ANDROID_DEVICE_POLICY_SIGNATURE_CHECKSUM),
        );
        extras.insert(
            keys::ADMIN_DOWNLOAD_LOCATION.into(),
            Value::from(ANDROID_DEVICE_POLICY_DOWNLOAD),
        );
        let mut bundle = serde_json::Map::new();
        bundle.insert(
            keys::ENROLLMENT_TOKEN.into(),
            Value::from(token_value.into()),
        );
        extras.insert(keys::ADMIN_EXTRAS_BUNDLE.into(), Value::Object(bundle));
        Self { extras }
    }

    /// The payload for a created token: its `value`.
    pub fn for_token(token: &EnrollmentToken) -> Result<Self, Error> {
        match token.value.as_deref() {
            Some(v) if !v.is_empty() => Ok(Self::new(v)),
            _ => Err(Error::Unexpected {
                what: "enrollment token",
                why: "it has no value (was it created by Google?)".into(),
            }),
        }
    }

    /// Parses a payload (Google's `qrCode` of a created token, or a file).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let extras: BTreeMap<String, Value> = crate::parse::Limits::DEFAULT
            .with_max_bytes(64 * 1024)
            .parse(bytes)?;
        Ok(Self { extras })
    }

    /// Sets the Wi-Fi network used during setup.
    pub fn wifi(
        mut self,
        ssid: &str,
        security: WifiSecurity,
        password: Option<&str>,
        hidden: bool,
    ) -> Self {
        self.extras
            .insert(keys::WIFI_SSID.into(), Value::from(ssid));
        self.extras.insert(
            keys::WIFI_SECURITY_TYPE.into(),
            Value::from(security.as_str()),
        );
        match password {
            Some(p) => self
                .extras
                .insert(keys::WIFI_PASSWORD.into(), Value::from(p)),
            None => self.extras.remove(keys::WIFI_PASSWORD),
        };
        if hidden {
            self.extras
                .insert(keys::WIFI_HIDDEN.into(), Value::Bool(true));
        }
        self
    }

    /// Sets the device locale (`de_DE`).
    pub fn locale(self, locale: &str) -> Self {
        self.extra(keys::LOCALE, Value::from(locale))
    }

    /// Sets the time zone (`Europe/Berlin`).
    pub fn time_zone(self, tz: &str) -> Self {
        self.extra(keys::TIME_ZONE, Value::from(tz))
    }

    /// Keeps every system app enabled.
    pub fn leave_all_system_apps_enabled(self, yes: bool) -> Self {
        self.extra(keys::LEAVE_ALL_SYSTEM_APPS_ENABLED, Value::Bool(yes))
    }

    /// Allows downloading over mobile data.
    pub fn use_mobile_data(self, yes: bool) -> Self {
        self.extra(keys::USE_MOBILE_DATA, Value::Bool(yes))
    }

    /// Sets any other provisioning extra.
    pub fn extra(mut self, key: &str, value: Value) -> Self {
        self.extras.insert(key.to_owned(), value);
        self
    }

    /// One extra.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.extras.get(key)
    }

    /// The enrollment token inside the extras bundle.
    pub fn enrollment_token(&self) -> Option<&str> {
        self.extras
            .get(keys::ADMIN_EXTRAS_BUNDLE)?
            .get(keys::ENROLLMENT_TOKEN)?
            .as_str()
    }

    /// The JSON to encode in the QR code.
    pub fn to_json(&self) -> String {
        // A map of strings to JSON values always serialises.
        serde_json::to_string(&self.extras).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_name_the_policy_and_check_their_limits() {
        let policy = PolicyName::parse("enterprises/LC01/policies/pupils").unwrap();
        let body = EnrollmentTokenRequest::new(policy.clone())
            .duration(Duration::from_secs(7 * 86_400))
            .one_time_only(true)
            .allow_personal_usage(EnrollmentTokenAllowPersonalUsage::PersonalUsageDisallowed)
            .additional_data("tenant=town-7")
            .to_json()
            .unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"additionalData":"tenant=town-7","allowPersonalUsage":"PERSONAL_USAGE_DISALLOWED","duration":"604800s","oneTimeOnly":true,"policyName":"enterprises/LC01/policies/pupils"}"#
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(crate::schema::check(&v, "EnrollmentToken").unwrap(), vec![]);
        assert!(
            EnrollmentTokenRequest::new(policy.clone())
                .duration(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(
            EnrollmentTokenRequest::new(policy)
                .additional_data("x".repeat(2000))
                .build()
                .is_err()
        );
    }

    #[test]
    fn the_qr_payload_carries_the_dpc_and_the_token() {
        let token: EnrollmentToken = crate::parse::enrollment_token(
            br#"{"name":"enterprises/LC01/enrollmentTokens/t1","value":"QWERTYUIOPASDFGHJKLZ","policyName":"enterprises/LC01/policies/pupils","expirationTimestamp":"2026-12-05T10:00:00Z"}"#,
        )
        .unwrap();
        let qr = ProvisioningPayload::for_token(&token)
            .unwrap()
            .leave_all_system_apps_enabled(true);
        let v: Value = serde_json::from_str(&qr.to_json()).unwrap();
        assert_eq!(v[keys::ADMIN_COMPONENT], ANDROID_DEVICE_POLICY_COMPONENT);
        assert_eq!(
            v[keys::ADMIN_EXTRAS_BUNDLE][keys::ENROLLMENT_TOKEN],
            "QWERTYUIOPASDFGHJKLZ"
        );
        assert_eq!(v[keys::LEAVE_ALL_SYSTEM_APPS_ENABLED], true);
        assert!(ProvisioningPayload::for_token(&EnrollmentToken::default()).is_err());
    }
}
