//! Delegated administration: bearer tokens scoped to a node of one
//! tenant's tree, with a role.
//!
//! A token is `mdmkit_<id>_<secret>`: the id (16 hex characters) finds the
//! record, the secret (32 random bytes, base64url) proves the holder. The
//! store keeps only the secret's SHA-256, so a leaked database grants
//! nothing; the bearer string is shown once, when it is issued.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use mdmkit_core::TenantId;
use mdmkit_policy::{NodeId, Tenant};
use mdmkit_queue::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::signing::hex;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Role {
    /// Only enrolls devices under its node (the `?enroll=` of a check-in
    /// URL); no admin API.
    Enroll,
    /// Reads devices, compliance, effective policies and the journal.
    Read,
    /// Also queues commands and triggers reconciles.
    Operate,
    /// Also changes policies.
    Author,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Enroll, Role::Read, Role::Operate, Role::Author];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enroll => "enroll",
            Self::Read => "read",
            Self::Operate => "operate",
            Self::Author => "author",
        }
    }

    /// Whether this role may do what `needed` may. `Enroll` stands apart:
    /// it allows only itself, and no admin role allows it.
    pub fn allows(self, needed: Role) -> bool {
        match (self, needed) {
            (Self::Enroll, Self::Enroll) => true,
            (Self::Enroll, _) | (_, Self::Enroll) => false,
            _ => self >= needed,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown role {s:?}: one of enroll, read, operate, author"
                ))
            })
    }
}

/// A stored token (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminToken {
    /// Its id: 16 lower-case hex characters.
    pub id: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// The node it sees and acts on, with everything below.
    pub node: NodeId,
    /// What it may do.
    pub role: Role,
    /// A note for whom it is.
    #[serde(default)]
    pub label: Option<String>,
    /// When it was issued.
    pub created_at: Timestamp,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// Whether it was revoked.
    #[serde(default)]
    pub revoked: bool,
}

/// A token just issued, with its bearer string (shown once).
#[non_exhaustive]
pub struct IssuedToken {
    /// The record to store.
    pub token: AdminToken,
    /// What the holder sends: `Authorization: Bearer <bearer>`.
    pub bearer: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &self.token)
            .field("bearer", &"<redacted>")
            .finish()
    }
}

const PREFIX: &str = "mdmkit_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;

fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// 32 random bytes from the operating system's generator, through UUID v4
/// (the `uuid` crate draws from `getrandom`; no RNG crate is added): three
/// v4 UUIDs carry 3 x 122 random bits (the other 6 bits of each are fixed
/// version and variant bits), which SHA-256 condenses into 32 uniformly
/// distributed bytes. Two UUIDs (244 bits) would already be enough for a
/// bearer secret; the third makes every output bit random.
pub(crate) fn random_32() -> [u8; 32] {
    let mut h = Sha256::new();
    for _ in 0..3 {
        h.update(uuid::Uuid::new_v4().as_bytes());
    }
    h.finalize().into()
}

/// Issues a token for `node` of `tenant` with `role`: a fresh random id
/// and secret. Store [`IssuedToken::token`] ([`crate::state::StateStore::put_token`])
/// and hand [`IssuedToken::bearer`] to its holder, once.
pub fn issue(
    tenant: TenantId,
    node: NodeId,
    role: Role,
    label: Option<String>,
    now: Timestamp,
) -> IssuedToken {
    let id = hex(&random_32()[..ID_LEN / 2]);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_32());
    let token = AdminToken {
        id: id.clone(),
        tenant,
        node,
        role,
        label,
        created_at: now,
        secret_sha256: hex(&secret_hash(&secret)),
        revoked: false,
    };
    IssuedToken {
        token,
        bearer: format!("{PREFIX}{id}_{secret}"),
    }
}

/// Splits a bearer string into its id and secret; `None` unless it has
/// exactly the issued shape.
pub fn parse_bearer(bearer: &str) -> Option<(&str, &str)> {
    let rest = bearer.strip_prefix(PREFIX)?;
    let id = rest.get(..ID_LEN)?;
    let secret = rest.get(ID_LEN..)?.strip_prefix('_')?;
    let id_ok = id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let secret_ok = secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

impl AdminToken {
    /// Whether `secret` is this token's (and it is not revoked); the
    /// comparison takes the same time wherever the hashes differ.
    pub fn verify_secret(&self, secret: &str) -> bool {
        let given = hex(&secret_hash(secret));
        let same = given.len() == self.secret_sha256.len()
            && given
                .bytes()
                .zip(self.secret_sha256.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same && !self.revoked
    }
}

/// Whether `target` is `scope` or below it in the tree; `false` when
/// either is unknown.
pub fn covers(tenant: &Tenant, scope: &NodeId, target: &NodeId) -> bool {
    if tenant.node(scope).is_none() {
        return false;
    }
    tenant
        .path_to(target)
        .is_ok_and(|path| path.iter().any(|n| n.id() == scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tree() -> Tenant {
        let mut t = Tenant::new(TenantId::new("r").unwrap());
        t.add_node("town".parse().unwrap(), &"r".parse().unwrap(), None, None)
            .unwrap();
        t.add_node(
            "school".parse().unwrap(),
            &"town".parse().unwrap(),
            None,
            None,
        )
        .unwrap();
        t.add_node("other".parse().unwrap(), &"r".parse().unwrap(), None, None)
            .unwrap();
        t
    }

    #[test]
    fn an_issued_token_verifies_and_a_wrong_or_revoked_one_does_not() {
        let i = issue(
            TenantId::new("r").unwrap(),
            "r".parse().unwrap(),
            Role::Read,
            None,
            Timestamp::from_millis(1),
        );
        let (id, secret) = parse_bearer(&i.bearer).unwrap();
        assert_eq!(id, i.token.id);
        assert!(i.token.verify_secret(secret));
        assert!(!i.token.verify_secret("x"));
        let mut revoked = i.token.clone();
        revoked.revoked = true;
        assert!(!revoked.verify_secret(secret));
    }

    #[test]
    fn roles_allow_what_they_include_and_enroll_stands_apart() {
        assert!(Role::Author.allows(Role::Read));
        assert!(Role::Operate.allows(Role::Operate));
        assert!(!Role::Read.allows(Role::Operate));
        assert!(!Role::Enroll.allows(Role::Read));
        assert!(!Role::Author.allows(Role::Enroll));
        assert!(Role::Enroll.allows(Role::Enroll));
        assert_eq!("operate".parse::<Role>().unwrap(), Role::Operate);
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn a_node_covers_itself_and_below_only() {
        let t = tree();
        let n = |s: &str| s.parse::<NodeId>().unwrap();
        assert!(covers(&t, &n("town"), &n("school")));
        assert!(covers(&t, &n("town"), &n("town")));
        assert!(!covers(&t, &n("town"), &n("other")));
        assert!(!covers(&t, &n("school"), &n("town")));
        assert!(covers(&t, &n("r"), &n("other")));
        assert!(!covers(&t, &n("nope"), &n("town")));
    }

    #[test]
    fn an_issued_token_has_a_fresh_hex_id_and_debug_hides_its_bearer() {
        let issue_one = || {
            issue(
                TenantId::new("r").unwrap(),
                "r".parse().unwrap(),
                Role::Author,
                Some("ops".into()),
                Timestamp::from_millis(1),
            )
        };
        let (a, b) = (issue_one(), issue_one());
        assert_ne!(a.token.id, b.token.id);
        assert_ne!(a.bearer, b.bearer);
        assert_eq!(a.token.id.len(), 16);
        assert!(
            a.token
                .id
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(a.bearer.len(), "mdmkit_".len() + 16 + 1 + 43);
        let (_, secret) = parse_bearer(&a.bearer).unwrap();
        assert_eq!(a.token.secret_sha256, hex(&secret_hash(secret)));
        assert!(!a.token.verify_secret(parse_bearer(&b.bearer).unwrap().1));
        let text = format!("{a:?}");
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains(&a.token.id), "{text}");
    }

    proptest! {
        #[test]
        fn parse_bearer_never_panics(s in ".{0,80}") {
            let _ = parse_bearer(&s);
        }

        #[test]
        fn parse_bearer_never_panics_on_near_misses(s in "mdmkit_[0-9a-fé]{0,17}[_-]?.{0,45}") {
            if let Some((id, secret)) = parse_bearer(&s) {
                prop_assert_eq!(id.len(), 16);
                prop_assert_eq!(secret.len(), 43);
            }
        }

        #[test]
        fn parse_bearer_takes_only_the_issued_shape(id in "[0-9a-f]{16}", secret in "[A-Za-z0-9_-]{43}") {
            let b = format!("mdmkit_{id}_{secret}");
            prop_assert_eq!(parse_bearer(&b), Some((id.as_str(), secret.as_str())));
            let longer = format!("{b}x");
            prop_assert_eq!(parse_bearer(&longer), None);
        }
    }
}
