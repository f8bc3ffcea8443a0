//! Passcode rules and restrictions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Passcode (PIN or password) requirements.
///
/// Every field is optional: an unset field imposes nothing, which is not the
/// same as `false` or `0`. When several levels of the scope tree set the same
/// field, the most secure value wins (see the merge table in
/// `docs/policy.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Passcode {
    /// A passcode must be set on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Minimum number of characters (1 to 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub min_length: Option<u32>,
    /// Which characters the passcode must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<Complexity>,
    /// Minimum number of non-alphanumeric characters (0 to 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 4))]
    pub min_complex_chars: Option<u32>,
    /// Failed attempts before the device is wiped (2 to 11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 11))]
    pub max_failed_attempts: Option<u32>,
    /// Minutes of inactivity before the screen locks (1 to 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60))]
    pub auto_lock_minutes: Option<u32>,
    /// Days after which the passcode must be changed (1 to 730).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 730))]
    pub max_age_days: Option<u32>,
    /// Number of previous passcodes that may not be reused (1 to 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50))]
    pub history: Option<u32>,
}

impl Passcode {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Passcode complexity, from the weakest to the strongest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Complexity {
    /// Digits are enough (a PIN).
    Numeric,
    /// Letters and digits are both required.
    Alphanumeric,
    /// Letters, digits and at least one symbol are required.
    Complex,
}

/// A tri-state restriction: allowed, denied, or (when the `Option` is
/// `None`) left to the device and to other levels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// The feature is explicitly allowed.
    Allow,
    /// The feature is denied.
    Deny,
}

macro_rules! restrictions {
    ($($(#[$doc:meta])* $field:ident),* $(,)?) => {
        /// Features a device may be kept from using, each `allow`, `deny` or
        /// unset. `deny` wins over `allow` across levels.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[non_exhaustive]
        pub struct Restrictions {
            $(
                $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<Rule>,
            )*
        }

        impl Restrictions {
            /// The field names, in declaration order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Whether no restriction is set.
            pub fn is_empty(&self) -> bool {
                *self == Self::default()
            }

            /// The rule of a restriction by its field name, or `None` if
            /// unset; `Err(())` if there is no such restriction.
            #[allow(clippy::result_unit_err)]
            pub fn get(&self, name: &str) -> Result<Option<Rule>, ()> {
                match name {
                    $(stringify!($field) => Ok(self.$field),)*
                    _ => Err(()),
                }
            }
        }
    };
}

restrictions! {
    /// The camera (and apps that use it).
    camera,
    /// Screenshots and screen recording.
    screen_capture,
    /// Installing apps by the user.
    app_installation,
    /// Removing apps by the user.
    app_removal,
    /// In-app purchases.
    in_app_purchases,
    /// Explicit music, podcasts, books and media.
    explicit_content,
    /// AirDrop and Nearby Share.
    nearby_sharing,
    /// Changing Bluetooth settings (pairing, turning it off).
    bluetooth_changes,
    /// USB mass storage (external drives, file transfer over USB).
    usb_mass_storage,
    /// Adding or changing accounts.
    account_changes,
    /// "Erase all content and settings" from the settings app.
    erase_content,
    /// Factory reset (from recovery or the settings app).
    factory_reset,
    /// Developer mode and developer options.
    developer_mode,
    /// The voice assistant (Siri, Google Assistant, Cortana).
    voice_assistant,
    /// Multiplayer gaming (Game Center and similar).
    multiplayer_gaming,
    /// The platform's app store.
    app_store,
}
