//! Which payloads, commands and keys a given device can take, from the
//! schema's supportedOS facts.
//!
//! A payload-level fact applies to every key; a key's own facts override the
//! channel, supervision and enrollment facts and add their own introduced
//! version. The answer is a list of [`Unsupported`] reasons, so a console can
//! report "needs supervision" or "needs iOS 17.0" per device instead of
//! sending a setting that would be ignored or refused.

use std::cmp::Ordering;
use std::fmt;

use crate::schema::{Enrollment, KeySpec, Mode, Os, OsFacts, SchemaEntry, SchemaKind};

/// An OS version such as `17.4` or `10.15.7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OsVersion(pub u32, pub u32, pub u32);

impl OsVersion {
    /// Parses `major[.minor[.patch]]`; `None` for anything else (`n/a`).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(Self(major, minor, patch))
    }
}

impl PartialOrd for OsVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OsVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0, self.1, self.2).cmp(&(other.0, other.1, other.2))
    }
}

impl fmt::Display for OsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)?;
        if self.2 > 0 {
            write!(f, ".{}", self.2)?;
        }
        Ok(())
    }
}

/// The MDM channel a payload or command goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// The device channel.
    Device,
    /// A user channel (macOS users, Shared iPad users).
    User,
}

/// What is known about one enrolled device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceContext {
    /// Its OS.
    pub os: Os,
    /// Its OS version.
    pub version: OsVersion,
    /// Whether it is supervised.
    pub supervised: bool,
    /// Whether it is enrolled with user enrollment (BYOD).
    pub user_enrollment: bool,
    /// Whether it is a Shared iPad.
    pub shared_ipad: bool,
    /// The channel in question.
    pub channel: Channel,
}

impl DeviceContext {
    /// A supervised-or-not device on the device channel.
    pub fn new(os: Os, version: OsVersion, supervised: bool) -> Self {
        Self {
            os,
            version,
            supervised,
            user_enrollment: false,
            shared_ipad: false,
            channel: Channel::Device,
        }
    }

    /// The same device under user enrollment.
    pub fn with_user_enrollment(mut self, yes: bool) -> Self {
        self.user_enrollment = yes;
        self
    }

    /// The same device as a Shared iPad.
    pub fn with_shared_ipad(mut self, yes: bool) -> Self {
        self.shared_ipad = yes;
        self
    }

    /// The same device on another channel.
    pub fn with_channel(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }
}

/// Why something cannot be used on a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// Not available on this OS at all.
    #[error("not available on {os}")]
    NotOnOs {
        /// The device's OS.
        os: Os,
    },
    /// Needs a newer OS version.
    #[error("needs {os} {introduced}")]
    TooOld {
        /// The device's OS.
        os: Os,
        /// The version that introduced it.
        introduced: OsVersion,
    },
    /// Removed in the device's OS version.
    #[error("removed in {os} {removed}")]
    Removed {
        /// The device's OS.
        os: Os,
        /// The version that removed it.
        removed: OsVersion,
    },
    /// Needs a supervised device.
    #[error("needs a supervised device")]
    NeedsSupervision,
    /// Not accepted on this channel.
    #[error("not accepted on the {0:?} channel")]
    WrongChannel(Channel),
    /// Not accepted under user enrollment.
    #[error("not accepted under user enrollment")]
    ForbiddenUnderUserEnrollment,
    /// Accepted only under user enrollment.
    #[error("only accepted under user enrollment")]
    NeedsUserEnrollment,
    /// Not accepted on a Shared iPad.
    #[error("not accepted on a Shared iPad")]
    ForbiddenOnSharedIpad,
    /// Accepted only on a Shared iPad.
    #[error("only accepted on a Shared iPad")]
    NeedsSharedIpad,
}

fn facts(list: &[OsFacts], os: Os) -> Option<&OsFacts> {
    list.iter().find(|f| f.os == os)
}

fn check_facts(f: &OsFacts, ctx: &DeviceContext, out: &mut Vec<Unsupported>) {
    let os = ctx.os;
    if f.unavailable() {
        out.push(Unsupported::NotOnOs { os });
        return;
    }
    if let Some(v) = f.introduced.and_then(OsVersion::parse)
        && ctx.version < v
    {
        out.push(Unsupported::TooOld { os, introduced: v });
    }
    if let Some(v) = f.removed.and_then(OsVersion::parse)
        && ctx.version >= v
    {
        out.push(Unsupported::Removed { os, removed: v });
    }
}

/// What stops an entry (payload, command) from being used on a device;
/// empty when it can be.
pub fn check_entry(entry: &SchemaEntry, ctx: &DeviceContext) -> Vec<Unsupported> {
    let mut out = check(entry.os, None, ctx);
    if entry.kind == SchemaKind::Declaration {
        check_enrollments(entry.os, None, ctx, &mut out);
    }
    out
}

/// What stops a key of an entry from being used on a device (the entry's
/// own facts included).
pub fn check_key(entry: &SchemaEntry, key: &KeySpec, ctx: &DeviceContext) -> Vec<Unsupported> {
    let mut out = check(entry.os, Some(key.os), ctx);
    if entry.kind == SchemaKind::Declaration {
        check_enrollments(entry.os, Some(key.os), ctx, &mut out);
    }
    out
}

/// Declarations state supervision through their allowed enrollment types
/// (`allowed-enrollments: [supervised]`) rather than a `supervised` flag:
/// a device outside the list gets the matching reason. A key's list
/// overrides its declaration's.
fn check_enrollments(
    top: &[OsFacts],
    key: Option<&[OsFacts]>,
    ctx: &DeviceContext,
    out: &mut Vec<Unsupported>,
) {
    if out.iter().any(|u| matches!(u, Unsupported::NotOnOs { .. })) {
        return;
    }
    let key_list = key
        .and_then(|k| facts(k, ctx.os))
        .map(|f| f.allowed_enrollments)
        .filter(|l| !l.is_empty());
    let list = key_list
        .or_else(|| facts(top, ctx.os).map(|f| f.allowed_enrollments))
        .unwrap_or(&[]);
    if list.is_empty() {
        return;
    }
    let why = if ctx.user_enrollment {
        (!list.contains(&Enrollment::User)).then_some(Unsupported::ForbiddenUnderUserEnrollment)
    } else if ctx.supervised {
        None
    } else {
        (!list.contains(&Enrollment::Device)).then_some(Unsupported::NeedsSupervision)
    };
    if let Some(why) = why
        && !out.contains(&why)
    {
        out.push(why);
    }
}

fn check(top: &[OsFacts], key: Option<&[OsFacts]>, ctx: &DeviceContext) -> Vec<Unsupported> {
    let mut out = Vec::new();
    let key = key.and_then(|k| facts(k, ctx.os));
    let none = OsFacts {
        os: ctx.os,
        ..OsFacts::EMPTY
    };
    let top_f = match facts(top, ctx.os) {
        Some(f) => f,
        // No facts at all: nothing is restricted.
        None if top.is_empty() => &none,
        // The schema lists the OSes an item supports; absent means no.
        None => {
            out.push(Unsupported::NotOnOs { os: ctx.os });
            return out;
        }
    };
    check_facts(top_f, ctx, &mut out);
    if let Some(k) = key {
        check_facts(k, ctx, &mut out);
    }
    if out.iter().any(|u| matches!(u, Unsupported::NotOnOs { .. })) {
        return out;
    }
    // Key facts override payload facts.
    let pick = |f: fn(&OsFacts) -> Option<bool>| key.and_then(f).or_else(|| f(top_f));
    if pick(|f| f.supervised) == Some(true) && !ctx.supervised {
        out.push(Unsupported::NeedsSupervision);
    }
    let channel_ok = match ctx.channel {
        Channel::Device => pick(|f| f.device_channel),
        Channel::User => pick(|f| f.user_channel),
    };
    if channel_ok == Some(false) {
        out.push(Unsupported::WrongChannel(ctx.channel));
    }
    let ue = key
        .and_then(|f| f.user_enrollment)
        .or(top_f.user_enrollment);
    match (ue, ctx.user_enrollment) {
        (Some(Mode::Forbidden), true) => out.push(Unsupported::ForbiddenUnderUserEnrollment),
        (Some(Mode::Required), false) => out.push(Unsupported::NeedsUserEnrollment),
        _ => {}
    }
    let shared = key
        .and_then(|f| f.shared_ipad)
        .or(top_f.shared_ipad)
        .and_then(|s| s.mode);
    match (shared, ctx.shared_ipad) {
        (Some(Mode::Forbidden), true) => out.push(Unsupported::ForbiddenOnSharedIpad),
        (Some(Mode::Required), false) => out.push(Unsupported::NeedsSharedIpad),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{SchemaKind, find};

    #[test]
    fn a_supervised_only_payload_is_refused_on_an_unsupervised_ipad() {
        let home = find(SchemaKind::Profile, "com.apple.homescreenlayout").unwrap();
        let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), false);
        assert_eq!(
            check_entry(home, &ipad),
            vec![Unsupported::NeedsSupervision]
        );
        let supervised = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        assert!(check_entry(home, &supervised).is_empty());
        let mac = DeviceContext::new(Os::MacOs, OsVersion(15, 1, 0), true);
        assert_eq!(
            check_entry(home, &mac),
            vec![Unsupported::NotOnOs { os: Os::MacOs }]
        );
    }

    #[test]
    fn a_key_introduced_later_needs_a_newer_os() {
        let lock = find(SchemaKind::Command, "DeviceLock").unwrap();
        let phone = lock.key("PhoneNumber").unwrap();
        let old_mac = DeviceContext::new(Os::MacOs, OsVersion(10, 15, 0), false);
        assert_eq!(
            check_key(lock, phone, &old_mac),
            vec![Unsupported::TooOld {
                os: Os::MacOs,
                introduced: OsVersion(11, 5, 0)
            }]
        );
    }

    #[test]
    fn user_enrollment_forbids_what_the_schema_forbids() {
        let lock = find(SchemaKind::Command, "DeviceLock").unwrap();
        let byod_mac =
            DeviceContext::new(Os::MacOs, OsVersion(15, 0, 0), false).with_user_enrollment(true);
        assert!(check_entry(lock, &byod_mac).contains(&Unsupported::ForbiddenUnderUserEnrollment));
    }

    #[test]
    fn a_supervised_only_declaration_key_is_refused_on_an_unsupervised_ipad() {
        let su = find(
            SchemaKind::Declaration,
            "com.apple.configuration.softwareupdate.settings",
        )
        .unwrap();
        let deferrals = su.key("Deferrals").unwrap();
        let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), false);
        assert_eq!(
            check_key(su, deferrals, &ipad),
            vec![Unsupported::NeedsSupervision]
        );
        let supervised = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        assert!(check_key(su, deferrals, &supervised).is_empty());
        let enforcement = find(
            SchemaKind::Declaration,
            "com.apple.configuration.softwareupdate.enforcement.specific",
        )
        .unwrap();
        let byod = ipad.with_user_enrollment(true);
        assert!(
            check_entry(enforcement, &byod).contains(&Unsupported::ForbiddenUnderUserEnrollment)
        );
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(OsVersion::parse("10.15.7"), Some(OsVersion(10, 15, 7)));
        assert_eq!(OsVersion::parse("n/a"), None);
        assert!(OsVersion(17, 0, 0) > OsVersion(16, 7, 9));
    }
}
