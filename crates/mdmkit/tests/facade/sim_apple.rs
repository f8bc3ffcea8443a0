//! A simulated Apple device (iPad or Mac) that keeps state: it parses what
//! it is sent, applies it, and answers with the reports and results Apple
//! documents, so that an end-to-end test can read back what it holds.
//!
//! - `InstallProfile` parses the embedded profile (`Profile::from_bytes`)
//!   and checks it against the schema (`Profile::validate`, errors only); a
//!   profile that does not parse or validate is refused with `Error` and an
//!   `ErrorChain` (`MCProfileErrorDomain`), and nothing is installed. A
//!   profile is kept by its `PayloadIdentifier`, replacing one installed
//!   under the same identifier.
//! - `RemoveProfile` removes by identifier (`Error` when not installed).
//! - `InstallApplication` / `RemoveApplication` keep a list of managed apps
//!   (removing an app that is not there is an `Error`).
//! - `Settings` keeps each item it sets (`DeviceName`, `TimeZone`, ...).
//! - `ProfileList`, `InstalledApplicationList` and `DeviceInformation`
//!   answer from that state, in the shapes of Apple's schema (the
//!   generated response structs of `mdmkit-apple`).
//! - Any other command is answered `Error` (`MCMDMErrorDomain` 12021,
//!   unknown command).
//!
//! It is a test double: it does not model supervision rules, payload
//! semantics or the order in which a real device applies things.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use mdmkit::apple::generated::commands::{
    DeviceInformationCommand, DeviceInformationQueryResponses, DeviceInformationResponse,
    InstallApplicationCommand, InstallApplicationResponse, InstallProfileCommand,
    InstalledApplicationListInstalledApplicationListItem, InstalledApplicationListResponse,
    ProfileListPayloadContentItem, ProfileListProfileListItem, ProfileListResponse,
    RemoveApplicationCommand, RemoveProfileCommand, SettingsCommand,
};
use mdmkit::apple::plist_io;
use mdmkit::apple::typed::PlistDict;
use mdmkit::apple::{Command, Dictionary, Format, Limits, Profile, Value};
use mdmkit::policy::Device;

/// What the device does with the next command, whatever it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Runs it.
    Run,
    /// Refuses it with this error code and description, changing nothing.
    Refuse(i64, String),
    /// Answers NotNow, changing nothing.
    NotNow,
}

/// The state of one simulated Apple device.
#[derive(Debug, Clone)]
pub(crate) struct SimApple {
    udid: String,
    facts: Device,
    profiles: BTreeMap<String, Profile>,
    apps: BTreeSet<String>,
    settings: BTreeMap<String, Value>,
    /// What the next commands meet, first to last (then `Run`).
    pub(crate) script: Vec<Next>,
    /// Every command run, with the status it was answered.
    pub(crate) log: Vec<(String, &'static str)>,
}

impl SimApple {
    /// A device with the inventory facts of `facts` and nothing installed.
    pub(crate) fn new(facts: &Device) -> Self {
        Self {
            udid: facts.id.as_str().to_owned(),
            facts: facts.clone(),
            profiles: BTreeMap::new(),
            apps: BTreeSet::new(),
            settings: BTreeMap::new(),
            script: Vec::new(),
            log: Vec::new(),
        }
    }

    /// The device's UDID.
    pub(crate) fn udid(&self) -> &str {
        &self.udid
    }

    /// The installed profiles, by `PayloadIdentifier`.
    pub(crate) fn profiles(&self) -> &BTreeMap<String, Profile> {
        &self.profiles
    }

    /// The Idle report that opens a conversation.
    pub(crate) fn idle(&self) -> Vec<u8> {
        self.report("Idle", None, None, Dictionary::new())
    }

    /// Runs a command (the bytes the server sent) and returns the report.
    /// A command that is not a well-formed command plist panics: the
    /// server under test must never send one.
    pub(crate) fn handle(&mut self, command: &[u8]) -> Vec<u8> {
        let cmd = Command::from_bytes(command, &Limits::default())
            .expect("the server sent a well-formed command plist");
        let uuid = cmd.uuid.as_str().to_owned();
        let next = if self.script.is_empty() {
            Next::Run
        } else {
            self.script.remove(0)
        };
        let outcome = match next {
            Next::Run => self.run(&cmd),
            Next::Refuse(code, text) => Err(("MCProfileErrorDomain", code, text)),
            Next::NotNow => {
                self.log.push((cmd.request_type.clone(), "NotNow"));
                return self.report("NotNow", Some(&uuid), None, Dictionary::new());
            }
        };
        match outcome {
            Ok(body) => {
                self.log.push((cmd.request_type.clone(), "Acknowledged"));
                self.report("Acknowledged", Some(&uuid), None, body)
            }
            Err((domain, code, text)) => {
                self.log.push((cmd.request_type.clone(), "Error"));
                self.report(
                    "Error",
                    Some(&uuid),
                    Some((domain, code, &text)),
                    Dictionary::new(),
                )
            }
        }
    }

    fn run(&mut self, cmd: &Command) -> Result<Dictionary, (&'static str, i64, String)> {
        let bad = |what: String| ("MCMDMErrorDomain", 12001, what);
        match cmd.request_type.as_str() {
            "InstallProfile" => {
                let c: InstallProfileCommand = cmd.decode().map_err(|e| bad(e.to_string()))?;
                let bytes = c.payload.ok_or_else(|| bad("no Payload".into()))?;
                let profile = Profile::from_bytes(&bytes, &Limits::default()).map_err(|e| {
                    (
                        "MCProfileErrorDomain",
                        1000,
                        format!("the profile does not parse: {e}"),
                    )
                })?;
                let errors: Vec<String> = profile
                    .validate()
                    .into_iter()
                    .filter(|i| i.is_error())
                    .map(|i| i.to_string())
                    .collect();
                if !errors.is_empty() {
                    return Err((
                        "MCProfileErrorDomain",
                        1001,
                        format!("the profile is not valid: {}", errors.join("; ")),
                    ));
                }
                self.profiles.insert(profile.identifier.clone(), profile);
                Ok(Dictionary::new())
            }
            "RemoveProfile" => {
                let c: RemoveProfileCommand = cmd.decode().map_err(|e| bad(e.to_string()))?;
                let id = c.identifier.ok_or_else(|| bad("no Identifier".into()))?;
                match self.profiles.remove(&id) {
                    Some(_) => Ok(Dictionary::new()),
                    None => Err((
                        "MCProfileErrorDomain",
                        1003,
                        format!("the profile {id} is not installed"),
                    )),
                }
            }
            "InstallApplication" => {
                let c: InstallApplicationCommand = cmd.decode().map_err(|e| bad(e.to_string()))?;
                let id = c.identifier.ok_or_else(|| bad("no Identifier".into()))?;
                self.apps.insert(id.clone());
                Ok(InstallApplicationResponse {
                    identifier: Some(id),
                    state: Some("Managed".into()),
                    ..Default::default()
                }
                .to_dict())
            }
            "RemoveApplication" => {
                let c: RemoveApplicationCommand = cmd.decode().map_err(|e| bad(e.to_string()))?;
                let id = c.identifier.ok_or_else(|| bad("no Identifier".into()))?;
                if self.apps.remove(&id) {
                    Ok(Dictionary::new())
                } else {
                    Err((
                        "MCInstallationErrorDomain",
                        4002,
                        format!("{id} is not a managed app"),
                    ))
                }
            }
            "Settings" => {
                let c: SettingsCommand = cmd.decode().map_err(|e| bad(e.to_string()))?;
                for item in c.settings.unwrap_or_default() {
                    let Some(Value::String(name)) = item.get("Item") else {
                        return Err(bad("a Settings item without Item".into()));
                    };
                    let value = item
                        .get(name)
                        .cloned()
                        .ok_or_else(|| bad(format!("the Settings item {name} has no value")))?;
                    self.settings.insert(name.clone(), value);
                }
                Ok(Dictionary::new())
            }
            "ProfileList" => Ok(self.profile_list().to_dict()),
            "InstalledApplicationList" => Ok(InstalledApplicationListResponse {
                installed_application_list: Some(
                    self.apps
                        .iter()
                        .map(|id| InstalledApplicationListInstalledApplicationListItem {
                            identifier: Some(id.clone()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }
            .to_dict()),
            "DeviceInformation" => {
                let c: DeviceInformationCommand = cmd.decode().map_err(|e| bad(e.to_string()))?;
                Ok(self.device_information(&c.queries.unwrap_or_default()))
            }
            other => Err((
                "MCMDMErrorDomain",
                12021,
                format!("unknown command {other}"),
            )),
        }
    }

    fn profile_list(&self) -> ProfileListResponse {
        let items = self
            .profiles
            .values()
            .map(|p| ProfileListProfileListItem {
                payload_uuid: Some(p.uuid.clone()),
                payload_identifier: Some(p.identifier.clone()),
                payload_version: p.version,
                payload_display_name: p.display_name.clone(),
                payload_organization: p.organization.clone(),
                payload_description: p.description.clone(),
                payload_removal_disallowed: p.removal_disallowed,
                is_managed: Some(true),
                payload_content: Some(
                    p.payloads
                        .iter()
                        .map(|x| ProfileListPayloadContentItem {
                            payload_type: Some(x.payload_type.clone()),
                            payload_version: Some(x.version.unwrap_or(1)),
                            payload_identifier: Some(x.identifier.clone()),
                            payload_uuid: Some(x.uuid.clone()),
                            payload_display_name: x.display_name.clone(),
                            payload_description: x.description.clone(),
                            payload_organization: x.organization.clone(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            })
            .collect();
        ProfileListResponse {
            profile_list: Some(items),
            ..Default::default()
        }
    }

    fn device_information(&self, queries: &[String]) -> Dictionary {
        let mut all = DeviceInformationQueryResponses {
            udid: Some(self.udid.clone()),
            device_name: self.setting_string("DeviceName"),
            time_zone: self.setting_string("TimeZone"),
            os_version: self.facts.os_version.clone(),
            model_name: self.facts.model.clone(),
            serial_number: self.facts.serial.clone(),
            is_supervised: self.facts.supervised,
            ..Default::default()
        }
        .to_dict();
        // Only what was asked for, as a device answers.
        all.retain(|k, _| queries.iter().any(|q| q == k));
        let mut d = Dictionary::new();
        d.insert("QueryResponses".into(), Value::Dictionary(all));
        // The response parses as the schema's struct.
        DeviceInformationResponse::from_dict(d.clone(), &mdmkit::apple::typed::KeyPath::ROOT)
            .expect("a DeviceInformation response of the schema's shape");
        d
    }

    fn setting_string(&self, item: &str) -> Option<String> {
        match self.settings.get(item) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn report(
        &self,
        status: &str,
        uuid: Option<&str>,
        error: Option<(&str, i64, &str)>,
        body: Dictionary,
    ) -> Vec<u8> {
        let mut d = body;
        d.insert("Status".into(), Value::String(status.into()));
        d.insert("UDID".into(), Value::String(self.udid.clone()));
        if let Some(u) = uuid {
            d.insert("CommandUUID".into(), Value::String(u.into()));
        }
        if let Some((domain, code, text)) = error {
            let mut e = Dictionary::new();
            e.insert("ErrorCode".into(), Value::Integer(code.into()));
            e.insert("ErrorDomain".into(), Value::String(domain.into()));
            e.insert("USEnglishDescription".into(), Value::String(text.into()));
            d.insert(
                "ErrorChain".into(),
                Value::Array(vec![Value::Dictionary(e)]),
            );
        }
        plist_io::write(&Value::Dictionary(d), Format::Xml)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdmkit::apple::command::everyday;
    use mdmkit::apple::{CommandReport, Status};
    use mdmkit::core::{DeviceId, Platform};

    fn ipad() -> SimApple {
        let d = Device::new(
            DeviceId::new("ipad-1").unwrap(),
            "root".parse().unwrap(),
            Platform::Apple,
        );
        SimApple::new(&d)
    }

    fn answer(sim: &mut SimApple, c: &Command) -> CommandReport {
        let out = sim.handle(&c.to_bytes(Format::Xml));
        CommandReport::from_bytes(&out, &Limits::default()).unwrap()
    }

    #[test]
    fn a_payload_that_does_not_parse_is_refused_with_an_error_chain() {
        let mut sim = ipad();
        let r = answer(
            &mut sim,
            &everyday::install_profile(b"not a plist".to_vec()),
        );
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.error_chain.len(), 1);
        assert_eq!(
            r.error_chain[0].error_domain.as_deref(),
            Some("MCProfileErrorDomain")
        );
        assert!(sim.profiles().is_empty());
        let r = answer(&mut sim, &everyday::remove_profile("org.example.none"));
        assert_eq!(r.status, Status::Error);
    }

    #[test]
    fn an_installed_profile_is_listed_and_replaced_by_its_identifier() {
        use mdmkit::apple::{ProfileBuilder, ProfileId};
        use mdmkit::core::TenantId;
        let build = |min: i64| {
            let id =
                ProfileId::new("org.example", &TenantId::new("t").unwrap(), "passcode").unwrap();
            let mut d = Dictionary::new();
            d.insert("minLength".into(), Value::Integer(min.into()));
            ProfileBuilder::new(id)
                .payload("com.apple.mobiledevice.passwordpolicy", "passcode", d)
                .build()
                .unwrap()
        };
        let mut sim = ipad();
        for min in [4, 6] {
            let r = answer(&mut sim, &everyday::install_built_profile(&build(min)));
            assert_eq!(r.status, Status::Acknowledged, "{:?}", r.error_chain);
        }
        let r = answer(&mut sim, &everyday::profile_list());
        let list = r
            .result::<mdmkit::apple::generated::commands::ProfileListCommand>()
            .unwrap()
            .profile_list
            .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0].payload_uuid.as_deref(),
            Some(build(6).uuid.as_str())
        );
        let r = answer(&mut sim, &everyday::remove_profile(&build(6).identifier));
        assert_eq!(r.status, Status::Acknowledged);
        assert!(sim.profiles().is_empty());
    }
}
