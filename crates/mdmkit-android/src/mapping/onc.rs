//! Wi-Fi networks and root certificates as Open Network Configuration
//! (the JSON of `Policy.openNetworkConfiguration`).

use std::collections::BTreeMap;

use mdmkit_policy::{EapMethod, ProxyMode, Settings, WifiNetwork, WifiSecurity};
use serde_json::{Map, Value, json};

use super::{Builder, keyed, path};

/// A stable ONC GUID for an SSID or a certificate name.
fn guid(prefix: &str, name: &str) -> String {
    let mut out = String::from(prefix);
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        }
    }
    out
}

/// The base64 of the certificate's DER, as ONC's `X509` takes it.
fn certificate_base64(pem: &str) -> Result<String, mdmkit_identity::pem::PemError> {
    use base64::Engine as _;
    use mdmkit_identity::pem;
    let der = pem::decode_one(pem.as_bytes(), "CERTIFICATE", &pem::Limits::DEFAULT)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}

pub(super) fn wifi(s: &Settings, b: &mut Builder) {
    let mut certs = Vec::new();
    let mut root_guids = BTreeMap::new();
    for (name, root) in &s.certificates.roots {
        match &root.pem {
            Some(pem) => match certificate_base64(pem) {
                Ok(x509) => {
                    let g = guid("mdmkit-ca-", name);
                    certs.push(json!({"GUID": g, "Type": "Authority", "X509": x509}));
                    root_guids.insert(name.clone(), g);
                }
                Err(e) => b.none(
                    path("certificates", "roots").join_key(name),
                    format!("the PEM holds no certificate: {e}"),
                ),
            },
            None => b.none(
                path("certificates", "roots").join_key(name),
                "android needs the certificate itself (pem), not only its hash",
            ),
        }
    }
    for name in s.certificates.identities.keys() {
        b.partial(
            path("certificates", "identities").join_key(name),
            "android gets identity certificates through a certificate-installing app; Wi-Fi refers to them by alias",
        );
    }
    let mut networks = Vec::new();
    for (ssid, net) in &s.wifi {
        if let Some(n) = network(ssid, net, &root_guids, b) {
            networks.push(n);
        }
    }
    if networks.is_empty() && certs.is_empty() {
        return;
    }
    let mut onc = Map::new();
    onc.insert("Type".into(), json!("UnencryptedConfiguration"));
    onc.insert("NetworkConfigurations".into(), Value::Array(networks));
    if !certs.is_empty() {
        onc.insert("Certificates".into(), Value::Array(certs));
    }
    b.set("openNetworkConfiguration", Value::Object(onc));
}

fn network(
    ssid: &str,
    net: &WifiNetwork,
    roots: &BTreeMap<String, String>,
    b: &mut Builder,
) -> Option<Value> {
    let here = keyed("wifi", ssid);
    let Some(security) = net.security else {
        b.none(here, "the network has no security");
        return None;
    };
    if net.password.as_ref().is_some_and(|p| p.expose().is_none()) {
        b.none(
            here.join_field("password"),
            "the secret reference was not resolved (Settings::resolve_secrets); the network is left out",
        );
        return None;
    }
    let mut w = Map::new();
    w.insert("SSID".into(), json!(ssid));
    w.insert("AutoConnect".into(), json!(net.auto_join.unwrap_or(true)));
    if let Some(h) = net.hidden {
        w.insert("HiddenSSID".into(), json!(h));
    }
    match security {
        WifiSecurity::Open => {
            w.insert("Security".into(), json!("None"));
        }
        s if s.is_personal() => {
            w.insert("Security".into(), json!("WPA-PSK"));
            if let Some(p) = net.password.as_ref().and_then(|p| p.expose()) {
                w.insert("Passphrase".into(), json!(p));
            }
        }
        _ => {
            w.insert("Security".into(), json!("WPA-EAP"));
            let mut eap = Map::new();
            match net.eap {
                Some(EapMethod::Peap) => {
                    eap.insert("Outer".into(), json!("PEAP"));
                    eap.insert("Inner".into(), json!("MSCHAPv2"));
                    if let Some(p) = net.password.as_ref().and_then(|p| p.expose()) {
                        eap.insert("Password".into(), json!(p));
                    }
                }
                _ => {
                    eap.insert("Outer".into(), json!("EAP-TLS"));
                }
            }
            if let Some(u) = &net.username {
                eap.insert("Identity".into(), json!(u));
            }
            if let Some(alias) = &net.identity_certificate {
                eap.insert("ClientCertType".into(), json!("KeyPairAlias"));
                eap.insert("ClientCertKeyPairAlias".into(), json!(alias));
            }
            let mut refs: Vec<&String> = Vec::new();
            for name in net.trusted_server_certificates.iter().flatten() {
                match roots.get(name) {
                    Some(g) => refs.push(g),
                    None => b.partial(
                        here.join_field("trusted_server_certificates"),
                        format!("root {name:?} has no usable pem, so android cannot check the server against it"),
                    ),
                }
            }
            if !refs.is_empty() {
                eap.insert("ServerCARefs".into(), json!(refs));
            }
            if let Some(names) = &net.server_names {
                eap.insert("DomainSuffixMatch".into(), json!(names));
            }
            w.insert("EAP".into(), Value::Object(eap));
        }
    }
    let mut config = Map::new();
    config.insert("GUID".into(), json!(guid("mdmkit-wifi-", ssid)));
    config.insert("Name".into(), json!(ssid));
    config.insert("Type".into(), json!("WiFi"));
    config.insert("WiFi".into(), Value::Object(w));
    if let Some(proxy) = &net.proxy {
        let settings = match (proxy.mode, &proxy.host, proxy.port, &proxy.pac_url) {
            (Some(ProxyMode::Auto), _, _, Some(url)) => json!({"Type": "PAC", "PAC": url}),
            (_, Some(host), Some(port), _) => json!({"Type": "Manual",
                "Manual": {"HTTPProxy": {"Host": host, "Port": port}}}),
            _ => {
                b.none(here.join_field("proxy"), "the proxy is incomplete");
                Value::Null
            }
        };
        if !settings.is_null() {
            config.insert("ProxySettings".into(), settings);
        }
    }
    Some(Value::Object(config))
}
