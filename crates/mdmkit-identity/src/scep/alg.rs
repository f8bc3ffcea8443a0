//! Object identifiers, digest algorithms and content ciphers of SCEP.

use std::fmt;

use aws_lc_rs::{cipher as awc, digest, signature};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use der::oid::ObjectIdentifier;

const fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

pub(crate) const ID_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.1");
pub(crate) const ID_SIGNED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.2");
pub(crate) const ID_ENVELOPED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.3");
pub(crate) const ID_CONTENT_TYPE: ObjectIdentifier = oid("1.2.840.113549.1.9.3");
pub(crate) const ID_MESSAGE_DIGEST: ObjectIdentifier = oid("1.2.840.113549.1.9.4");

pub(crate) const SCEP_MESSAGE_TYPE: ObjectIdentifier = oid("2.16.840.1.113733.1.9.2");
pub(crate) const SCEP_PKI_STATUS: ObjectIdentifier = oid("2.16.840.1.113733.1.9.3");
pub(crate) const SCEP_FAIL_INFO: ObjectIdentifier = oid("2.16.840.1.113733.1.9.4");
pub(crate) const SCEP_SENDER_NONCE: ObjectIdentifier = oid("2.16.840.1.113733.1.9.5");
pub(crate) const SCEP_RECIPIENT_NONCE: ObjectIdentifier = oid("2.16.840.1.113733.1.9.6");
pub(crate) const SCEP_TRANSACTION_ID: ObjectIdentifier = oid("2.16.840.1.113733.1.9.7");

pub(crate) const RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.1");
pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier = oid("1.2.840.10045.2.1");
pub(crate) const SECP256R1: ObjectIdentifier = oid("1.2.840.10045.3.1.7");

const SHA1: ObjectIdentifier = oid("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.3");

const SHA1_RSA: ObjectIdentifier = oid("1.2.840.113549.1.1.5");
const SHA256_RSA: ObjectIdentifier = oid("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = oid("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = oid("1.2.840.113549.1.1.13");
const ECDSA_SHA1: ObjectIdentifier = oid("1.2.840.10045.4.1");
const ECDSA_SHA256: ObjectIdentifier = oid("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = oid("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = oid("1.2.840.10045.4.3.4");

const AES128_CBC: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.2");
const AES192_CBC: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.22");
const AES256_CBC: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.42");
const DES_EDE3_CBC: ObjectIdentifier = oid("1.2.840.113549.3.7");
const DES_CBC: ObjectIdentifier = oid("1.3.14.3.2.7");

/// A readable name for an algorithm OID seen in a message, for errors.
pub(crate) fn oid_name(o: &ObjectIdentifier) -> String {
    const MD5: ObjectIdentifier = oid("1.2.840.113549.2.5");
    const MD5_RSA: ObjectIdentifier = oid("1.2.840.113549.1.1.4");
    const RSA_PSS: ObjectIdentifier = oid("1.2.840.113549.1.1.10");
    const RSA_OAEP: ObjectIdentifier = oid("1.2.840.113549.1.1.7");
    const RC2_CBC: ObjectIdentifier = oid("1.2.840.113549.3.2");
    const AES128_GCM: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.6");
    const AES256_GCM: ObjectIdentifier = oid("2.16.840.1.101.3.4.1.46");
    let name = match *o {
        MD5 => "MD5",
        MD5_RSA => "md5WithRSAEncryption",
        RSA_PSS => "RSASSA-PSS",
        RSA_OAEP => "RSAES-OAEP",
        RC2_CBC => "RC2-CBC",
        AES128_GCM => "AES-128-GCM",
        AES256_GCM => "AES-256-GCM",
        _ => return o.to_string(),
    };
    format!("{name} ({o})")
}

/// The digest algorithm of a SCEP message's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-1: still what many clients sign with (micromdm's scepclient,
    /// older Apple and Windows stacks). Accepted on requests only.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    pub(crate) fn from_oid(o: &ObjectIdentifier) -> Option<Self> {
        Some(match *o {
            SHA1 => Self::Sha1,
            SHA256 => Self::Sha256,
            SHA384 => Self::Sha384,
            SHA512 => Self::Sha512,
            _ => return None,
        })
    }

    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => SHA1,
            Self::Sha256 => SHA256,
            Self::Sha384 => SHA384,
            Self::Sha512 => SHA512,
        }
    }

    /// The name used in GetCACaps and by people (`SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    fn aws(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.aws(), data).as_ref().to_vec()
    }

    /// Whether a SignerInfo's signatureAlgorithm agrees with this digest for
    /// an RSA signer: plain rsaEncryption (what most SCEP clients write) or
    /// the matching shaNNNWithRSAEncryption.
    pub(crate) fn fits_rsa_signature(self, sig: &ObjectIdentifier) -> bool {
        *sig == RSA_ENCRYPTION
            || *sig
                == match self {
                    Self::Sha1 => SHA1_RSA,
                    Self::Sha256 => SHA256_RSA,
                    Self::Sha384 => SHA384_RSA,
                    Self::Sha512 => SHA512_RSA,
                }
    }

    /// The same for an ECDSA signer.
    pub(crate) fn fits_ecdsa_signature(self, sig: &ObjectIdentifier) -> bool {
        *sig == EC_PUBLIC_KEY
            || *sig
                == match self {
                    Self::Sha1 => ECDSA_SHA1,
                    Self::Sha256 => ECDSA_SHA256,
                    Self::Sha384 => ECDSA_SHA384,
                    Self::Sha512 => ECDSA_SHA512,
                }
    }

    pub(crate) fn rsa_verify(self) -> &'static signature::RsaParameters {
        match self {
            Self::Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        }
    }

    pub(crate) fn ecdsa_p256_verify(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Self::Sha1 => &signature::ECDSA_P256_SHA1_ASN1,
            Self::Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
            Self::Sha384 => &signature::ECDSA_P256_SHA384_ASN1,
            Self::Sha512 => &signature::ECDSA_P256_SHA512_ASN1,
        }
    }

    /// The digest a reply to a request signed with this one is signed
    /// with: the same, except SHA-1, which aws-lc-rs cannot sign with
    /// (RSA PKCS#1 v1.5 with SHA-1 is verify-only there), and which gets
    /// SHA-256 — every client that signs with SHA-1 and that we know of
    /// (micromdm's scepclient, Apple, Windows, jscep) verifies SHA-256.
    pub fn for_reply(self) -> Self {
        match self {
            Self::Sha1 => Self::Sha256,
            other => other,
        }
    }

    pub(crate) fn rsa_sign(self) -> &'static signature::RsaSignatureEncoding {
        match self {
            Self::Sha1 | Self::Sha256 => &signature::RSA_PKCS1_SHA256,
            Self::Sha384 => &signature::RSA_PKCS1_SHA384,
            Self::Sha512 => &signature::RSA_PKCS1_SHA512,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The content-encryption algorithm of a SCEP envelope.
///
/// A reply is encrypted with the cipher of the request it answers: that is
/// the one the client is known to support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentCipher {
    /// AES-128 in CBC mode.
    Aes128Cbc,
    /// AES-192 in CBC mode.
    Aes192Cbc,
    /// AES-256 in CBC mode.
    Aes256Cbc,
    /// Three-key triple DES in CBC mode (legacy clients).
    DesEde3Cbc,
    /// Single DES in CBC mode (legacy clients, micromdm's scepclient).
    DesCbc,
}

/// A content cipher refused or failed; the caller turns it into an error
/// that says no more than "did not decrypt".
#[derive(Debug)]
pub(crate) struct CipherFailed;

impl ContentCipher {
    pub(crate) fn from_oid(o: &ObjectIdentifier) -> Option<Self> {
        Some(match *o {
            AES128_CBC => Self::Aes128Cbc,
            AES192_CBC => Self::Aes192Cbc,
            AES256_CBC => Self::Aes256Cbc,
            DES_EDE3_CBC => Self::DesEde3Cbc,
            DES_CBC => Self::DesCbc,
            _ => return None,
        })
    }

    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Aes128Cbc => AES128_CBC,
            Self::Aes192Cbc => AES192_CBC,
            Self::Aes256Cbc => AES256_CBC,
            Self::DesEde3Cbc => DES_EDE3_CBC,
            Self::DesCbc => DES_CBC,
        }
    }

    /// The name (`AES-256-CBC`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128Cbc => "AES-128-CBC",
            Self::Aes192Cbc => "AES-192-CBC",
            Self::Aes256Cbc => "AES-256-CBC",
            Self::DesEde3Cbc => "DES-EDE3-CBC",
            Self::DesCbc => "DES-CBC",
        }
    }

    /// The key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc | Self::DesEde3Cbc => 24,
            Self::Aes256Cbc => 32,
            Self::DesCbc => 8,
        }
    }

    /// The IV (and block) length in bytes.
    pub(crate) fn iv_len(self) -> usize {
        match self {
            Self::Aes128Cbc | Self::Aes192Cbc | Self::Aes256Cbc => 16,
            Self::DesEde3Cbc | Self::DesCbc => 8,
        }
    }

    fn aes(self) -> Option<&'static awc::Algorithm> {
        match self {
            Self::Aes128Cbc => Some(&awc::AES_128),
            Self::Aes192Cbc => Some(&awc::AES_192),
            Self::Aes256Cbc => Some(&awc::AES_256),
            Self::DesEde3Cbc | Self::DesCbc => None,
        }
    }

    /// Decrypts and unpads (PKCS#7).
    pub(crate) fn decrypt(
        self,
        key: &[u8],
        iv: &[u8],
        data: &[u8],
    ) -> Result<Vec<u8>, CipherFailed> {
        let mut buf = data.to_vec();
        let len = if let Some(alg) = self.aes() {
            let key = awc::UnboundCipherKey::new(alg, key).map_err(|_| CipherFailed)?;
            let iv: [u8; 16] = iv.try_into().map_err(|_| CipherFailed)?;
            awc::PaddedBlockDecryptingKey::cbc_pkcs7(key)
                .map_err(|_| CipherFailed)?
                .decrypt(&mut buf, awc::DecryptionContext::Iv128(iv.into()))
                .map_err(|_| CipherFailed)?
                .len()
        } else if self == Self::DesEde3Cbc {
            cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .map_err(|_| CipherFailed)?
                .decrypt_padded::<Pkcs7>(&mut buf)
                .map_err(|_| CipherFailed)?
                .len()
        } else {
            cbc::Decryptor::<des::Des>::new_from_slices(key, iv)
                .map_err(|_| CipherFailed)?
                .decrypt_padded::<Pkcs7>(&mut buf)
                .map_err(|_| CipherFailed)?
                .len()
        };
        // Both backends decrypt in place and return a prefix of the buffer.
        buf.truncate(len);
        Ok(buf)
    }

    /// Pads (PKCS#7) and encrypts under a fresh random IV; returns the IV
    /// and the ciphertext.
    pub(crate) fn encrypt(
        self,
        key: &[u8],
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CipherFailed> {
        if let Some(alg) = self.aes() {
            let key = awc::UnboundCipherKey::new(alg, key).map_err(|_| CipherFailed)?;
            let mut out = plaintext.to_vec();
            let context = awc::PaddedBlockEncryptingKey::cbc_pkcs7(key)
                .map_err(|_| CipherFailed)?
                .encrypt(&mut out)
                .map_err(|_| CipherFailed)?;
            let iv: &[u8] = (&context).try_into().map_err(|_| CipherFailed)?;
            return Ok((iv.to_vec(), out));
        }
        let mut iv = vec![0u8; self.iv_len()];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| CipherFailed)?;
        let block = self.iv_len();
        let mut buf = vec![0u8; (plaintext.len() / block + 1) * block];
        buf.get_mut(..plaintext.len())
            .ok_or(CipherFailed)?
            .copy_from_slice(plaintext);
        let len = if self == Self::DesEde3Cbc {
            cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, &iv)
                .map_err(|_| CipherFailed)?
                .encrypt_padded::<Pkcs7>(&mut buf, plaintext.len())
                .map_err(|_| CipherFailed)?
                .len()
        } else {
            cbc::Encryptor::<des::Des>::new_from_slices(key, &iv)
                .map_err(|_| CipherFailed)?
                .encrypt_padded::<Pkcs7>(&mut buf, plaintext.len())
                .map_err(|_| CipherFailed)?
                .len()
        };
        buf.truncate(len);
        Ok((iv, buf))
    }
}

impl fmt::Display for ContentCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ContentCipher; 5] = [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
        ContentCipher::DesEde3Cbc,
        ContentCipher::DesCbc,
    ];

    #[test]
    fn every_cipher_round_trips_every_length_around_a_block() {
        for c in ALL {
            let key: Vec<u8> = (0..c.key_len() as u8)
                .map(|i| i.wrapping_mul(37) ^ 0x5a)
                .collect();
            for len in [0usize, 1, 7, 8, 15, 16, 17, 100] {
                let msg: Vec<u8> = (0..len as u8).collect();
                let (iv, ct) = c.encrypt(&key, &msg).unwrap();
                assert_eq!(iv.len(), c.iv_len());
                assert_eq!(ct.len() % c.iv_len(), 0, "{c} {len}");
                assert!(ct.len() > len);
                assert_eq!(c.decrypt(&key, &iv, &ct).unwrap(), msg, "{c} {len}");
            }
            assert_eq!(ContentCipher::from_oid(&c.oid()), Some(c));
        }
    }

    #[test]
    fn sha1_replies_are_signed_with_sha256() {
        assert_eq!(DigestAlgorithm::Sha1.for_reply(), DigestAlgorithm::Sha256);
        assert_eq!(DigestAlgorithm::Sha512.for_reply(), DigestAlgorithm::Sha512);
    }
}
