//! The `wap-provisioningdoc` the enrollment response carries: the trust
//! anchor, the device's certificate, the w7 APPLICATION (the DM server
//! address) and the DMClient provider with its poll schedule.

use std::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use sha1::{Digest, Sha1};

use super::discovery::https_host;
use super::soap::{Node, esc, read_tree};
use crate::error::{EnrollmentError, ReadError, ReadErrorKind, cut};

/// Where the device's own certificate is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum CertStore {
    /// `CertificateStore/My/User`: a user enrollment.
    User,
    /// `CertificateStore/My/System`: a device enrollment.
    System,
}

impl CertStore {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::System => "System",
        }
    }
}

/// The DMClient poll schedule (intervals in minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PollSchedule {
    /// `NumberOfFirstRetries`.
    pub first_retries: u32,
    /// `IntervalForFirstSetOfRetries`.
    pub first_interval: u32,
    /// `NumberOfSecondRetries`.
    pub second_retries: u32,
    /// `IntervalForSecondSetOfRetries`.
    pub second_interval: u32,
    /// `NumberOfRemainingScheduledRetries` (0: forever).
    pub remaining_retries: u32,
    /// `IntervalForRemainingScheduledRetries`.
    pub remaining_interval: u32,
    /// `PollOnLogin`.
    pub poll_on_login: bool,
}

impl Default for PollSchedule {
    /// Microsoft's sample: 8 polls 15 minutes apart, 5 more 60 minutes
    /// apart, then every 8 hours, and at each sign-in.
    fn default() -> Self {
        Self {
            first_retries: 8,
            first_interval: 15,
            second_retries: 5,
            second_interval: 60,
            remaining_retries: 0,
            remaining_interval: 480,
            poll_on_login: true,
        }
    }
}

/// The provisioning document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProvisioningDoc {
    /// The root CA, DER (`CertificateStore/Root/System`).
    #[serde(serialize_with = "ser_thumb")]
    pub root_ca_der: Vec<u8>,
    /// An intermediate CA, DER (`CertificateStore/CA/System`); at most one.
    #[serde(serialize_with = "ser_opt_thumb")]
    pub intermediate_der: Option<Vec<u8>>,
    /// The device's certificate, DER (`CertificateStore/My/...`).
    #[serde(serialize_with = "ser_thumb")]
    pub client_cert_der: Vec<u8>,
    /// Where the device's certificate goes.
    pub client_store: CertStore,
    /// `PROVIDER-ID`, also the DMClient provider name.
    pub provider_id: String,
    /// `NAME`.
    pub name: String,
    /// `ADDR`: the OMA-DM server URL.
    pub server_url: String,
    /// `SSLCLIENTCERTSEARCHCRITERIA` (`Subject=CN%3d...&Stores=My%5CUser`).
    pub client_cert_search_criteria: Option<String>,
    /// DMClient `UPN`.
    pub upn: Option<String>,
    /// DMClient `EntDeviceName`.
    pub ent_device_name: Option<String>,
    /// The poll schedule.
    pub poll: PollSchedule,
}

fn ser_thumb<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("sha1:{}", thumbprint(v)))
}

fn ser_opt_thumb<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => ser_thumb(v, s),
        None => s.serialize_none(),
    }
}

/// The SHA-1 thumbprint of a certificate, upper-case hex: the name Windows
/// gives the certificate's node in the CertificateStore CSP.
pub fn thumbprint(der: &[u8]) -> String {
    let digest = Sha1::digest(der);
    let mut out = String::with_capacity(40);
    for b in digest.iter() {
        let _ = write!(out, "{b:02X}");
    }
    out
}

impl ProvisioningDoc {
    /// A document for a device certificate issued under `root_ca_der`,
    /// managed by the server at `server_url` (`https`) as `provider_id`.
    pub fn new(
        root_ca_der: Vec<u8>,
        client_cert_der: Vec<u8>,
        provider_id: impl Into<String>,
        server_url: impl Into<String>,
    ) -> Result<Self, EnrollmentError> {
        let provider_id = provider_id.into();
        let server_url = server_url.into();
        https_host("ADDR", &server_url)?;
        if root_ca_der.is_empty() || client_cert_der.is_empty() {
            return Err(EnrollmentError::Provisioning {
                what: "a certificate is empty",
            });
        }
        if provider_id.is_empty()
            || !provider_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(EnrollmentError::BadValue {
                path: "PROVIDER-ID".into(),
                value: cut(&provider_id),
                reason: "use ascii letters, digits, '-', '_' and '.'",
            });
        }
        Ok(Self {
            root_ca_der,
            intermediate_der: None,
            client_cert_der,
            client_store: CertStore::User,
            name: provider_id.clone(),
            provider_id,
            server_url,
            client_cert_search_criteria: None,
            upn: None,
            ent_device_name: None,
            poll: PollSchedule::default(),
        })
    }

    /// Sets the intermediate CA.
    pub fn with_intermediate(mut self, der: Vec<u8>) -> Self {
        self.intermediate_der = Some(der);
        self
    }

    /// Sets the store of the device certificate.
    pub fn with_client_store(mut self, store: CertStore) -> Self {
        self.client_store = store;
        self
    }

    /// Sets the certificate search criteria from the certificate's subject
    /// common name.
    pub fn with_client_subject_cn(mut self, cn: &str) -> Self {
        self.client_cert_search_criteria = Some(format!(
            "Subject=CN%3D{}&Stores=My%5C{}",
            percent(cn),
            self.client_store.as_str()
        ));
        self
    }

    /// Sets the DMClient UPN.
    pub fn with_upn(mut self, upn: impl Into<String>) -> Self {
        self.upn = Some(upn.into());
        self
    }

    /// Sets the poll schedule.
    pub fn with_poll(mut self, poll: PollSchedule) -> Self {
        self.poll = poll;
        self
    }

    /// The document as XML.
    pub fn to_xml(&self) -> String {
        let mut x = String::from("<wap-provisioningdoc version=\"1.1\">");
        let cert = |x: &mut String, der: &[u8]| {
            let _ = write!(
                x,
                "<characteristic type=\"{}\"><parm name=\"EncodedCertificate\" value=\"{}\"/></characteristic>",
                thumbprint(der),
                STANDARD.encode(der)
            );
        };
        x.push_str("<characteristic type=\"CertificateStore\"><characteristic type=\"Root\"><characteristic type=\"System\">");
        cert(&mut x, &self.root_ca_der);
        x.push_str("</characteristic></characteristic></characteristic>");
        if let Some(i) = &self.intermediate_der {
            x.push_str("<characteristic type=\"CertificateStore\"><characteristic type=\"CA\"><characteristic type=\"System\">");
            cert(&mut x, i);
            x.push_str("</characteristic></characteristic></characteristic>");
        }
        let _ = write!(
            x,
            "<characteristic type=\"CertificateStore\"><characteristic type=\"My\"><characteristic type=\"{}\">",
            self.client_store.as_str()
        );
        cert(&mut x, &self.client_cert_der);
        x.push_str("<characteristic type=\"PrivateKeyContainer\"/></characteristic></characteristic></characteristic>");
        let parm = |x: &mut String, n: &str, v: &str| {
            let _ = write!(x, "<parm name=\"{n}\" value=\"{}\"/>", esc(v));
        };
        x.push_str("<characteristic type=\"APPLICATION\">");
        parm(&mut x, "APPID", "w7");
        parm(&mut x, "PROVIDER-ID", &self.provider_id);
        parm(&mut x, "NAME", &self.name);
        parm(&mut x, "ADDR", &self.server_url);
        parm(&mut x, "CONNRETRYFREQ", "6");
        parm(&mut x, "INITIALBACKOFFTIME", "30000");
        parm(&mut x, "MAXBACKOFFTIME", "120000");
        x.push_str("<parm name=\"BACKCOMPATRETRYDISABLED\"/>");
        parm(&mut x, "DEFAULTENCODING", "application/vnd.syncml.dm+xml");
        if let Some(c) = &self.client_cert_search_criteria {
            parm(&mut x, "SSLCLIENTCERTSEARCHCRITERIA", c);
        }
        x.push_str("<characteristic type=\"APPAUTH\">");
        parm(&mut x, "AAUTHLEVEL", "CLIENT");
        parm(&mut x, "AAUTHTYPE", "DIGEST");
        parm(&mut x, "AAUTHSECRET", "dummy");
        parm(&mut x, "AAUTHDATA", "nonce");
        x.push_str("</characteristic><characteristic type=\"APPAUTH\">");
        parm(&mut x, "AAUTHLEVEL", "APPSRV");
        parm(&mut x, "AAUTHTYPE", "BASIC");
        parm(&mut x, "AAUTHNAME", "dummy");
        parm(&mut x, "AAUTHSECRET", "dummy");
        x.push_str("</characteristic></characteristic>");
        let _ = write!(
            x,
            "<characteristic type=\"DMClient\"><characteristic type=\"Provider\"><characteristic type=\"{}\">",
            esc(&self.provider_id)
        );
        let typed = |x: &mut String, n: &str, v: &str, t: &str| {
            let _ = write!(
                x,
                "<parm name=\"{n}\" value=\"{}\" datatype=\"{t}\"/>",
                esc(v)
            );
        };
        if let Some(u) = &self.upn {
            typed(&mut x, "UPN", u, "string");
        }
        if let Some(n) = &self.ent_device_name {
            typed(&mut x, "EntDeviceName", n, "string");
        }
        let p = &self.poll;
        x.push_str("<characteristic type=\"Poll\">");
        for (n, v) in [
            ("NumberOfFirstRetries", p.first_retries),
            ("IntervalForFirstSetOfRetries", p.first_interval),
            ("NumberOfSecondRetries", p.second_retries),
            ("IntervalForSecondSetOfRetries", p.second_interval),
            ("NumberOfRemainingScheduledRetries", p.remaining_retries),
            ("IntervalForRemainingScheduledRetries", p.remaining_interval),
        ] {
            typed(&mut x, n, &v.to_string(), "integer");
        }
        typed(
            &mut x,
            "PollOnLogin",
            if p.poll_on_login { "true" } else { "false" },
            "boolean",
        );
        x.push_str("</characteristic></characteristic></characteristic></characteristic>");
        x.push_str("</wap-provisioningdoc>");
        x
    }

    /// Reads a provisioning document (what the device installs).
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let root = read_tree(input)?;
        if root.name != "wap-provisioningdoc" {
            return Err(EnrollmentError::Read(ReadError::new(
                0,
                ReadErrorKind::UnexpectedRoot {
                    found: cut(&root.name),
                    expected: "wap-provisioningdoc",
                },
            )));
        }
        let mut roots = Vec::new();
        let mut intermediates = Vec::new();
        let mut client = None;
        let mut app: Option<&Node> = None;
        let mut dm: Option<(&str, &Node)> = None;
        for c in root.children_named("characteristic") {
            match c.attr("type") {
                Some("CertificateStore") => {
                    for store in c.children_named("characteristic") {
                        for sub in store.children_named("characteristic") {
                            for cert in sub.children_named("characteristic") {
                                let Some(v) = parm(cert, "EncodedCertificate") else {
                                    continue;
                                };
                                let path = format!(
                                    "CertificateStore/{}/{}/EncodedCertificate",
                                    store.attr("type").unwrap_or(""),
                                    sub.attr("type").unwrap_or("")
                                );
                                let der = super::wstep::decode_b64(v, &path)?;
                                match (store.attr("type"), sub.attr("type")) {
                                    (Some("Root"), _) => roots.push(der),
                                    (Some("CA"), _) => intermediates.push(der),
                                    (Some("My"), Some("User")) => {
                                        client = Some((der, CertStore::User))
                                    }
                                    (Some("My"), Some("System")) => {
                                        client = Some((der, CertStore::System))
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                Some("APPLICATION") => app = Some(c),
                Some("DMClient") => {
                    if let Some(p) = c
                        .children_named("characteristic")
                        .find(|x| x.attr("type") == Some("Provider"))
                        .and_then(|p| p.children_named("characteristic").next())
                    {
                        dm = Some((p.attr("type").unwrap_or(""), p));
                    }
                }
                _ => {}
            }
        }
        if roots.len() > 1 || intermediates.len() > 1 {
            return Err(EnrollmentError::Provisioning {
                what: "at most one root and one intermediate certificate are allowed",
            });
        }
        let root_ca_der = roots.pop().ok_or_else(|| EnrollmentError::Missing {
            path: "CertificateStore/Root/System".into(),
        })?;
        let (client_cert_der, client_store) = client.ok_or_else(|| EnrollmentError::Missing {
            path: "CertificateStore/My".into(),
        })?;
        let app = app.ok_or_else(|| EnrollmentError::Missing {
            path: "APPLICATION".into(),
        })?;
        if parm(app, "APPID") != Some("w7") {
            return Err(EnrollmentError::Missing {
                path: "APPLICATION/APPID=w7".into(),
            });
        }
        let need = |n: &str| {
            parm(app, n)
                .map(str::to_owned)
                .ok_or_else(|| EnrollmentError::Missing {
                    path: format!("APPLICATION/{n}"),
                })
        };
        let mut doc = Self::new(
            root_ca_der,
            client_cert_der,
            need("PROVIDER-ID")?,
            need("ADDR")?,
        )?;
        doc.intermediate_der = intermediates.pop();
        doc.client_store = client_store;
        doc.name = parm(app, "NAME").unwrap_or("").to_owned();
        doc.client_cert_search_criteria =
            parm(app, "SSLCLIENTCERTSEARCHCRITERIA").map(str::to_owned);
        if let Some((id, p)) = dm {
            if id != doc.provider_id {
                return Err(EnrollmentError::BadValue {
                    path: "DMClient/Provider".into(),
                    value: cut(id),
                    reason: "differs from the APPLICATION PROVIDER-ID",
                });
            }
            doc.upn = parm(p, "UPN").map(str::to_owned);
            doc.ent_device_name = parm(p, "EntDeviceName").map(str::to_owned);
            if let Some(poll) = p
                .children_named("characteristic")
                .find(|x| x.attr("type") == Some("Poll"))
            {
                let num = |n: &str, d: u32| -> Result<u32, EnrollmentError> {
                    match parm(poll, n) {
                        None => Ok(d),
                        Some(v) => v.trim().parse().map_err(|_| EnrollmentError::BadValue {
                            path: format!("DMClient/Provider/{id}/Poll/{n}"),
                            value: cut(v),
                            reason: "not a number",
                        }),
                    }
                };
                let d = PollSchedule::default();
                doc.poll = PollSchedule {
                    first_retries: num("NumberOfFirstRetries", d.first_retries)?,
                    first_interval: num("IntervalForFirstSetOfRetries", d.first_interval)?,
                    second_retries: num("NumberOfSecondRetries", d.second_retries)?,
                    second_interval: num("IntervalForSecondSetOfRetries", d.second_interval)?,
                    remaining_retries: num(
                        "NumberOfRemainingScheduledRetries",
                        d.remaining_retries,
                    )?,
                    remaining_interval: num(
                        "IntervalForRemainingScheduledRetries",
                        d.remaining_interval,
                    )?,
                    poll_on_login: parm(poll, "PollOnLogin")
                        .map_or(d.poll_on_login, |v| v.trim() == "true"),
                };
            }
        }
        Ok(doc)
    }
}

fn parm<'n>(c: &'n Node, name: &str) -> Option<&'n str> {
    c.children_named("parm")
        .find(|p| p.attr("name") == Some(name))
        .map(|p| p.attr("value").unwrap_or(""))
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
