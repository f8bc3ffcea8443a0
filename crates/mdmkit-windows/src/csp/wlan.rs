//! The WLAN profile XML the WiFi CSP takes in `WlanXml`.

use mdmkit_policy::{EapMethod, WifiNetwork, WifiSecurity};

/// Escapes text for an XML element or attribute.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The `WLANProfile` document (schema
/// `http://www.microsoft.com/networking/WLAN/profile/v1`) for a network.
///
/// Returns `Err` with a reason when the network cannot be expressed (an
/// enterprise network without an EAP method, a personal one without a
/// password).
pub fn wlan_profile_xml(ssid: &str, net: &WifiNetwork) -> Result<String, String> {
    let security = net.security.unwrap_or(WifiSecurity::Wpa2Personal);
    // WLAN_profile schema, authEncryption (security) element: authentication
    // open / WPA2PSK / WPA3SAE / WPA2 / WPA3ENT, encryption none / AES.
    // WiFi CSP: keyType and protected come before keyMaterial.
    let (auth, enc, onex) = match security {
        WifiSecurity::Open => ("open", "none", false),
        WifiSecurity::Wpa2Personal => ("WPA2PSK", "AES", false),
        WifiSecurity::Wpa3Personal => ("WPA3SAE", "AES", false),
        WifiSecurity::Wpa2Enterprise => ("WPA2", "AES", true),
        WifiSecurity::Wpa3Enterprise => ("WPA3ENT", "AES", true),
        _ => {
            return Err(format!(
                "security {} has no WLAN profile",
                security.as_str()
            ));
        }
    };
    let mode = if net.auto_join == Some(false) {
        "manual"
    } else {
        "auto"
    };
    let name = esc(ssid);
    let mut x = String::new();
    x.push_str(r#"<WLANProfile xmlns="http://www.microsoft.com/networking/WLAN/profile/v1">"#);
    x.push_str(&format!(
        "<name>{name}</name><SSIDConfig><SSID><name>{name}</name></SSID>"
    ));
    if net.hidden == Some(true) {
        x.push_str("<nonBroadcast>true</nonBroadcast>");
    }
    x.push_str(&format!(
        "</SSIDConfig><connectionType>ESS</connectionType><connectionMode>{mode}</connectionMode>"
    ));
    x.push_str(&format!(
        "<MSM><security><authEncryption><authentication>{auth}</authentication>\
         <encryption>{enc}</encryption><useOneX>{onex}</useOneX></authEncryption>"
    ));
    if security.is_personal() {
        let Some(secret) = &net.password else {
            return Err("a personal network needs a password".into());
        };
        let Some(pw) = secret.expose() else {
            return Err(
                "the password's secret reference was not resolved (Settings::resolve_secrets)"
                    .into(),
            );
        };
        x.push_str(&format!(
            "<sharedKey><keyType>passPhrase</keyType><protected>false</protected>\
             <keyMaterial>{}</keyMaterial></sharedKey>",
            esc(pw)
        ));
    }
    if onex {
        let Some(eap) = net.eap else {
            return Err("an enterprise network needs an EAP method".into());
        };
        x.push_str(r#"<OneX xmlns="http://www.microsoft.com/networking/OneX/v1"><authMode>"#);
        x.push_str(if net.username.is_some() || eap == EapMethod::Peap {
            "user"
        } else {
            "machine"
        });
        x.push_str("</authMode><EAPConfig>");
        x.push_str(&eap_config(eap, net)?);
        x.push_str("</EAPConfig></OneX>");
    }
    x.push_str("</security></MSM></WLANProfile>");
    Ok(x)
}

fn eap_config(eap: EapMethod, net: &WifiNetwork) -> Result<String, String> {
    const HOST: &str = "http://www.microsoft.com/provisioning/EapHostConfig";
    const COMMON: &str = "http://www.microsoft.com/provisioning/EapCommon";
    const BASE: &str = "http://www.microsoft.com/provisioning/BaseEapConnectionPropertiesV1";
    let ty = match eap {
        EapMethod::Tls => 13,
        EapMethod::Peap => 25,
        _ => return Err("this EAP method has no Windows EAP configuration".into()),
    };
    let names = net
        .server_names
        .as_ref()
        .map(|n| esc(&n.join(";")))
        .unwrap_or_default();
    let validation = format!(
        "<ServerValidation><DisableUserPromptForServerValidation>{}</DisableUserPromptForServerValidation>\
         <ServerNames>{names}</ServerNames></ServerValidation>",
        !names.is_empty()
    );
    let inner = match eap {
        EapMethod::Tls => format!(
            r#"<EapType xmlns="http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV1"><CredentialsSource><CertificateStore><SimpleCertSelection>true</SimpleCertSelection></CertificateStore></CredentialsSource>{validation}<DifferentUsername>false</DifferentUsername></EapType>"#
        ),
        _ => format!(
            r#"<EapType xmlns="http://www.microsoft.com/provisioning/MsPeapConnectionPropertiesV1">{validation}<FastReconnect>true</FastReconnect><InnerEapOptional>false</InnerEapOptional><Eap xmlns="{BASE}"><Type>26</Type><EapType xmlns="http://www.microsoft.com/provisioning/MsChapV2ConnectionPropertiesV1"><UseWinLogonCredentials>false</UseWinLogonCredentials></EapType></Eap><EnableQuarantineChecks>false</EnableQuarantineChecks><RequireCryptoBinding>false</RequireCryptoBinding></EapType>"#
        ),
    };
    Ok(format!(
        r#"<EapHostConfig xmlns="{HOST}"><EapMethod><Type xmlns="{COMMON}">{ty}</Type><VendorId xmlns="{COMMON}">0</VendorId><VendorType xmlns="{COMMON}">0</VendorType><AuthorId xmlns="{COMMON}">0</AuthorId></EapMethod><Config xmlns="{HOST}"><Eap xmlns="{BASE}"><Type>{ty}</Type>{inner}</Eap></Config></EapHostConfig>"#
    ))
}
