//! Console sessions: a cookie authenticated with the tenant's console key,
//! bound to one admin token, and the CSRF tokens of its forms.
//!
//! Nothing is stored per session: the cookie carries the tenant, the
//! token's id, an expiry and a random nonce, with an HMAC-SHA256 over them
//! and over the token's stored secret hash. Every `mdmkit serve` process of
//! a tenant shares its key (`DIR/.mdmkit/console.key`), so a session made
//! by one process is good at all of them; the token is read from the store
//! on every request, so revoking it ends its sessions at once, and a store
//! reader who lacks the key cannot make one. A form's CSRF token is an
//! HMAC of the session's nonce under the same key.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use mdmkit::access::AdminToken;
use mdmkit::queue::Timestamp;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

/// The longest cookie value read (anything longer is refused unread).
const MAX_COOKIE: usize = 1024;

/// The secret that authenticates a tenant's console sessions: 32 random
/// bytes shared by every process serving the tenant.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A key from 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        k[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(k)
    }

    /// Reads the key at `path` (64 hex digits), or creates it there
    /// (readable by its owner only) when there is none. Two processes
    /// starting at once agree on one key: the file appears whole, by a
    /// hard link of a complete temporary file, or not at all.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let key = Self::generate();
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        {
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(&tmp)?;
            let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
            f.write_all(hex.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::parse(&std::fs::read_to_string(path)?)
            }
            Err(e) => Err(e),
        }
    }

    fn parse(text: &str) -> std::io::Result<Self> {
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "console key: 64 hex digits expected",
            )
        };
        let t = text.trim();
        if t.len() != 64 || !t.is_ascii() {
            return Err(bad());
        }
        let mut k = [0u8; 32];
        for (i, out) in k.iter_mut().enumerate() {
            *out = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(k))
    }

    fn mac(&self, label: &[u8], parts: &[&[u8]]) -> HmacSha256 {
        // Any key length is valid for HMAC.
        let mut m = <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(label);
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m
    }
}

/// A session's content, as read from a cookie whose MAC is not yet
/// checked against the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) tenant: String,
    pub(crate) token: String,
    pub(crate) expires: Timestamp,
    pub(crate) nonce: [u8; 16],
    mac: Vec<u8>,
}

const SESSION_LABEL: &[u8] = b"mdmkit-console-session/v1";
const CSRF_LABEL: &[u8] = b"mdmkit-console-csrf/v1";

impl Session {
    /// A new session for `token`, valid until `expires`.
    pub(crate) fn new(key: &SessionKey, token: &AdminToken, expires: Timestamp) -> Self {
        let mut s = Self {
            tenant: token.tenant.to_string(),
            token: token.id.clone(),
            expires,
            nonce: *uuid::Uuid::new_v4().as_bytes(),
            mac: Vec::new(),
        };
        s.mac = s.compute(key, token).finalize().into_bytes().to_vec();
        s
    }

    fn compute(&self, key: &SessionKey, token: &AdminToken) -> HmacSha256 {
        key.mac(
            SESSION_LABEL,
            &[
                self.tenant.as_bytes(),
                self.token.as_bytes(),
                &self.expires.as_millis().to_be_bytes(),
                &self.nonce,
                token.secret_sha256.as_bytes(),
            ],
        )
    }

    /// The cookie value.
    pub(crate) fn encode(&self) -> String {
        let payload = format!(
            "{}\0{}\0{}",
            self.tenant,
            self.token,
            self.expires.as_millis()
        );
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(self.nonce),
            URL_SAFE_NO_PAD.encode(&self.mac)
        )
    }

    /// Reads a cookie value; `None` when it is not one of ours.
    pub(crate) fn decode(value: &str) -> Option<Self> {
        if value.len() > MAX_COOKIE {
            return None;
        }
        let mut parts = value.split('.');
        let (p, n, m) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let nonce: [u8; 16] = URL_SAFE_NO_PAD.decode(n).ok()?.try_into().ok()?;
        let mac = URL_SAFE_NO_PAD.decode(m).ok()?;
        let mut f = payload.split('\0');
        let (tenant, token, expires) = (f.next()?, f.next()?, f.next()?);
        if f.next().is_some() {
            return None;
        }
        Some(Self {
            tenant: tenant.to_owned(),
            token: token.to_owned(),
            expires: Timestamp::from_millis(expires.parse().ok()?),
            nonce,
            mac,
        })
    }

    /// Whether the cookie was made with `key` for `token` (its stored
    /// secret hash included) and is still valid at `now`; constant time
    /// in the MAC.
    pub(crate) fn verify(&self, key: &SessionKey, token: &AdminToken, now: Timestamp) -> bool {
        let mac_ok = self.compute(key, token).verify_slice(&self.mac).is_ok();
        mac_ok
            && now < self.expires
            && token.id == self.token
            && token.tenant.as_str() == self.tenant
            && !token.revoked
    }

    /// The CSRF token of this session's forms.
    pub(crate) fn csrf(&self, key: &SessionKey) -> String {
        URL_SAFE_NO_PAD.encode(key.mac(CSRF_LABEL, &[&self.nonce]).finalize().into_bytes())
    }

    /// Whether `given` is this session's CSRF token (constant time).
    pub(crate) fn check_csrf(&self, key: &SessionKey, given: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(given.as_bytes()) else {
            return false;
        };
        key.mac(CSRF_LABEL, &[&self.nonce])
            .verify_slice(&raw)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdmkit::access::Role;
    use mdmkit::policy::NodeId;

    fn token() -> AdminToken {
        let tenant = mdmkit::TenantId::new("t").unwrap_or_else(|e| panic!("{e}"));
        let node = NodeId::from_tenant(&tenant);
        mdmkit::access::issue(tenant, node, Role::Read, None, Timestamp::from_millis(0)).token
    }

    #[test]
    fn a_session_verifies_with_its_key_and_token_only() {
        let key = SessionKey::generate();
        let t = token();
        let s = Session::new(&key, &t, Timestamp::from_millis(10_000));
        let back = Session::decode(&s.encode()).unwrap_or_else(|| panic!("decodes"));
        assert_eq!(back, s);
        assert!(back.verify(&key, &t, Timestamp::from_millis(9_999)));
        assert!(
            !back.verify(&key, &t, Timestamp::from_millis(10_000)),
            "expired"
        );
        assert!(!back.verify(&SessionKey::generate(), &t, Timestamp::from_millis(1)));
        let mut other = t.clone();
        other.secret_sha256 = "00".repeat(32);
        assert!(
            !back.verify(&key, &other, Timestamp::from_millis(1)),
            "another secret"
        );
        let mut revoked = t.clone();
        revoked.revoked = true;
        assert!(!back.verify(&key, &revoked, Timestamp::from_millis(1)));
        // A longer expiry written into the cookie breaks its MAC.
        let mut forged = back.clone();
        forged.expires = Timestamp::from_millis(99_999);
        let forged = Session::decode(&forged.encode()).unwrap_or_else(|| panic!("decodes"));
        assert!(!forged.verify(&key, &t, Timestamp::from_millis(1)));
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let key = SessionKey::generate();
        let t = token();
        let a = Session::new(&key, &t, Timestamp::from_millis(10_000));
        let b = Session::new(&key, &t, Timestamp::from_millis(10_000));
        assert!(a.check_csrf(&key, &a.csrf(&key)));
        assert!(!a.check_csrf(&key, &b.csrf(&key)));
        assert!(!a.check_csrf(&key, ""));
        assert!(!a.check_csrf(&key, "%%%"));
    }

    #[test]
    fn garbage_cookies_are_not_sessions() {
        for v in ["", "a", "a.b", "a.b.c.d", "....", &"x".repeat(2000)] {
            assert!(Session::decode(v).is_none(), "{v:?}");
        }
    }

    #[test]
    fn two_processes_creating_the_key_agree() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("console.key");
        let a = SessionKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        let b = SessionKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.0, b.0);
        std::fs::write(&path, "short").unwrap_or_else(|e| panic!("{e}"));
        assert!(SessionKey::load_or_create(&path).is_err());
    }
}
