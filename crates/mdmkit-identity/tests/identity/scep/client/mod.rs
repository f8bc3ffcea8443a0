//! A SCEP client written for the tests, apart from the library: requests
//! are built with the `cms` types the way micromdm's scepclient or an Apple
//! device builds them, and replies are read back and decrypted as a client
//! does. SHA-1 signatures come from the `openssl` binary (aws-lc-rs only
//! verifies SHA-1), and envelopes can be made by `openssl cms -encrypt`.

mod reply;
mod request;

pub(crate) use reply::*;
pub(crate) use request::*;

use std::path::PathBuf;
use std::process::Command;

use aws_lc_rs::cipher as awc;
use aws_lc_rs::rsa::{
    Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature as sig;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, PrintableStringRef, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

pub(crate) const fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

pub(crate) const ID_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.1");
pub(crate) const ID_SIGNED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.2");
pub(crate) const ID_ENVELOPED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.3");
pub(crate) const CONTENT_TYPE: ObjectIdentifier = oid("1.2.840.113549.1.9.3");
pub(crate) const MESSAGE_DIGEST: ObjectIdentifier = oid("1.2.840.113549.1.9.4");
pub(crate) const MESSAGE_TYPE: ObjectIdentifier = oid("2.16.840.1.113733.1.9.2");
pub(crate) const PKI_STATUS: ObjectIdentifier = oid("2.16.840.1.113733.1.9.3");
pub(crate) const FAIL_INFO: ObjectIdentifier = oid("2.16.840.1.113733.1.9.4");
pub(crate) const SENDER_NONCE: ObjectIdentifier = oid("2.16.840.1.113733.1.9.5");
pub(crate) const RECIPIENT_NONCE: ObjectIdentifier = oid("2.16.840.1.113733.1.9.6");
pub(crate) const TRANSACTION_ID: ObjectIdentifier = oid("2.16.840.1.113733.1.9.7");
const RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = oid("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = oid("1.2.840.10045.4.3.2");

/// Digest of the request signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digest {
    Sha1,
    Sha256,
    Sha512,
    /// MD5's OID with a SHA-256 signature: refused before anything is
    /// checked.
    Md5Oid,
}

impl Digest {
    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Digest::Sha1 => oid("1.3.14.3.2.26"),
            Digest::Sha256 => oid("2.16.840.1.101.3.4.2.1"),
            Digest::Sha512 => oid("2.16.840.1.101.3.4.2.3"),
            Digest::Md5Oid => oid("1.2.840.113549.2.5"),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Digest::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha256 | Digest::Md5Oid => &aws_lc_rs::digest::SHA256,
            Digest::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
    }

    fn openssl_name(self) -> &'static str {
        match self {
            Digest::Sha1 => "-sha1",
            Digest::Sha256 | Digest::Md5Oid => "-sha256",
            Digest::Sha512 => "-sha512",
        }
    }
}

/// Content cipher of the request envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cipher {
    Aes128,
    Aes256,
    Des3,
    Des,
}

impl Cipher {
    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Cipher::Aes128 => oid("2.16.840.1.101.3.4.1.2"),
            Cipher::Aes256 => oid("2.16.840.1.101.3.4.1.42"),
            Cipher::Des3 => oid("1.2.840.113549.3.7"),
            Cipher::Des => oid("1.3.14.3.2.7"),
        }
    }

    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 => 16,
            Cipher::Aes256 => 32,
            Cipher::Des3 => 24,
            Cipher::Des => 8,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            Cipher::Aes128 | Cipher::Aes256 => 16,
            Cipher::Des3 | Cipher::Des => 8,
        }
    }

    /// `openssl cms -encrypt` options for this cipher.
    pub(crate) fn openssl_args(self) -> &'static [&'static str] {
        match self {
            Cipher::Aes128 => &["-aes128"],
            Cipher::Aes256 => &["-aes256"],
            Cipher::Des3 => &["-des3"],
            Cipher::Des => &["-provider", "legacy", "-provider", "default", "-des"],
        }
    }

    pub(crate) fn encrypt(self, key: &[u8], iv: &[u8], plain: &[u8]) -> Vec<u8> {
        match self {
            Cipher::Aes128 | Cipher::Aes256 => {
                let alg = if self == Cipher::Aes128 {
                    &awc::AES_128
                } else {
                    &awc::AES_256
                };
                let k = awc::PaddedBlockEncryptingKey::cbc_pkcs7(
                    awc::UnboundCipherKey::new(alg, key).unwrap(),
                )
                .unwrap();
                let mut out = plain.to_vec();
                let iv: [u8; 16] = iv.try_into().unwrap();
                k.less_safe_encrypt(&mut out, awc::EncryptionContext::Iv128(iv.into()))
                    .unwrap();
                out
            }
            Cipher::Des3 => cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .unwrap()
                .encrypt_padded_vec_owned(plain),
            Cipher::Des => cbc::Encryptor::<des::Des>::new_from_slices(key, iv)
                .unwrap()
                .encrypt_padded_vec_owned(plain),
        }
    }

    pub(crate) fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Cipher::Aes128 | Cipher::Aes256 => {
                let alg = if self == Cipher::Aes128 {
                    &awc::AES_128
                } else {
                    &awc::AES_256
                };
                let k = awc::PaddedBlockDecryptingKey::cbc_pkcs7(
                    awc::UnboundCipherKey::new(alg, key).unwrap(),
                )
                .unwrap();
                let mut buf = data.to_vec();
                let iv: [u8; 16] = iv.try_into().unwrap();
                k.decrypt(&mut buf, awc::DecryptionContext::Iv128(iv.into()))
                    .unwrap()
                    .to_vec()
            }
            Cipher::Des3 => {
                let mut buf = data.to_vec();
                cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                    .unwrap()
                    .decrypt_padded::<Pkcs7>(&mut buf)
                    .unwrap()
                    .to_vec()
            }
            Cipher::Des => {
                let mut buf = data.to_vec();
                cbc::Decryptor::<des::Des>::new_from_slices(key, iv)
                    .unwrap()
                    .decrypt_padded::<Pkcs7>(&mut buf)
                    .unwrap()
                    .to_vec()
            }
        }
    }

    pub(crate) fn from_oid(o: &ObjectIdentifier) -> Self {
        [Cipher::Aes128, Cipher::Aes256, Cipher::Des3, Cipher::Des]
            .into_iter()
            .find(|c| c.oid() == *o)
            .unwrap_or_else(|| panic!("unexpected cipher {o}"))
    }
}

trait PadVec {
    fn encrypt_padded_vec_owned(self, plain: &[u8]) -> Vec<u8>;
}

impl<C: BlockModeEncrypt> PadVec for C {
    fn encrypt_padded_vec_owned(self, plain: &[u8]) -> Vec<u8> {
        let block = C::block_size();
        let mut buf = vec![0u8; (plain.len() / block + 1) * block];
        buf[..plain.len()].copy_from_slice(plain);
        let len = self
            .encrypt_padded::<Pkcs7>(&mut buf, plain.len())
            .unwrap()
            .len();
        buf.truncate(len);
        buf
    }
}

/// The key a device signs with.
pub(crate) enum DeviceKey {
    Rsa(sig::RsaKeyPair),
    P256(sig::EcdsaKeyPair),
}

/// A SCEP client's key and the certificate it signs with.
pub(crate) struct Device {
    pub(crate) key: rcgen::KeyPair,
    pub(crate) signer: DeviceKey,
    pub(crate) cert_der: Vec<u8>,
}

impl Device {
    /// An RSA-2048 device with a self-signed "SCEP SIGNER" certificate, as
    /// scepclient makes.
    pub(crate) fn rsa(cn: &str) -> Self {
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        Self::self_signed(key, cn)
    }

    /// A P-256 device.
    pub(crate) fn p256(cn: &str) -> Self {
        Self::self_signed(rcgen::KeyPair::generate().unwrap(), cn)
    }

    fn self_signed(key: rcgen::KeyPair, cn: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap().der().to_vec();
        Self::with_cert(key, cert)
    }

    /// The same key with another certificate (the one being renewed).
    pub(crate) fn with_cert(key: rcgen::KeyPair, cert_der: Vec<u8>) -> Self {
        let pkcs8 = key.serialize_der();
        let signer = if key.is_compatible(&rcgen::PKCS_RSA_SHA256) {
            DeviceKey::Rsa(sig::RsaKeyPair::from_pkcs8(&pkcs8).unwrap())
        } else {
            DeviceKey::P256(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8)
                    .unwrap(),
            )
        };
        Self {
            key,
            signer,
            cert_der,
        }
    }

    pub(crate) fn cert(&self) -> Certificate {
        Certificate::from_der(&self.cert_der).unwrap()
    }

    pub(crate) fn cert_pem(&self) -> String {
        pem_of("CERTIFICATE", &self.cert_der)
    }

    pub(crate) fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A PKCS#10 request for this device's key, with a challengePassword.
    pub(crate) fn csr(&self, challenge: Option<&str>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "scep-device");
        let attrs = challenge
            .map(|c| {
                // SET { PrintableString }
                let value = der_tlv(0x13, c.as_bytes());
                vec![rcgen::Attribute {
                    oid: &[1, 2, 840, 113549, 1, 9, 7],
                    values: der_tlv(0x31, &value),
                }]
            })
            .unwrap_or_default();
        params
            .serialize_request_with_attributes(&self.key, attrs)
            .unwrap()
            .der()
            .to_vec()
    }

    /// Decrypts a key-transport block with this device's RSA key.
    fn unwrap(&self, wrapped: &[u8]) -> Vec<u8> {
        let k = Pkcs1PrivateDecryptingKey::new(
            PrivateDecryptingKey::from_pkcs8(&self.key.serialize_der()).unwrap(),
        )
        .unwrap();
        let mut out = vec![0u8; k.min_output_size()];
        k.decrypt(wrapped, &mut out).unwrap().to_vec()
    }
}

pub(crate) fn pem_of(label: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(label, der.to_vec()))
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b
}

fn rsa_encrypt(cert: &Certificate, data: &[u8]) -> Vec<u8> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let k = Pkcs1PublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).unwrap()).unwrap();
    let mut out = vec![0u8; k.ciphertext_size()];
    k.encrypt(data, &mut out).unwrap().to_vec()
}

/// Runs openssl in a temporary directory; panics (never skips) when it is
/// missing or fails.
pub(crate) struct OpenSsl {
    dir: tempfile::TempDir,
}

impl OpenSsl {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, data: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), data).unwrap();
    }

    pub(crate) fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Runs `openssl args`; returns (success, stdout + stderr).
    pub(crate) fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl binary is installed (scripts/test installs it)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(ok, "openssl {args:?} failed: {text}");
        text
    }
}

pub(crate) fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else if len < 0x10000 {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend([0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(value);
    out
}
