//! Policy signing keys on disk: the Ed25519 seed as 64 hex digits.

use std::path::Path;

use mdmkit_identity::{EnvelopeError, EnvelopeSigner, KeyId};

use super::{SigningError, hex, read_at_most};

/// Loads a signing key written by [`write_key_file`]: the 32-byte Ed25519
/// seed as 64 hex digits. The key id is `key_id`, or the one derived from
/// the public key ([`KeyId::of`]).
pub fn read_key_file(path: &Path, key_id: Option<KeyId>) -> Result<EnvelopeSigner, SigningError> {
    let bytes = read_at_most(path, 1024)?;
    let bad = |reason: &str| SigningError::BadAuthorKey {
        key: path.display().to_string(),
        source: EnvelopeError::Encode {
            reason: reason.to_owned(),
        },
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("the key file is not text"))?;
    let seed = mdmkit_policy::parse_public_key_hex(text.trim())
        .map_err(|_| bad("the key file does not hold a 32-byte seed as 64 hex digits"))?;
    let probe =
        EnvelopeSigner::from_seed(KeyId::new("probe").map_err(SigningError::Envelope)?, seed);
    let id = key_id.unwrap_or_else(|| KeyId::of(&probe.public_key()));
    Ok(EnvelopeSigner::from_seed(id, seed))
}

/// Writes a signing key's seed as 64 hex digits to a new file readable by
/// its owner only (mode 0600 on Unix); an existing file is never replaced.
pub fn write_key_file(path: &Path, signer: &EnvelopeSigner) -> Result<(), SigningError> {
    use std::io::Write as _;
    let write = |source| SigningError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(write)?;
    f.write_all(format!("{}\n", hex(&signer.seed())).as_bytes())
        .map_err(write)?;
    f.sync_all().map_err(write)
}
