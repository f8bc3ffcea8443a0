//! Writing replies: CertRep messages and certs-only PKCS#7.

use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo};
use der::asn1::{OctetString, PrintableStringRef, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use super::RaIdentity;
use super::alg::{self, DigestAlgorithm};
use super::envelope;
use super::error::{FailInfo, ScepError};
use super::message::{MessageType, PkiMessage, PkiStatus};
use super::walk::{tlv, tlv_of};

/// DER of the OIDs id-signedData and id-data (1.2.840.113549.1.7.2 and .1).
const OID_SIGNED_DATA_DER: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
];
const OID_DATA_DER: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
];

/// `SEQUENCE { OID id-signedData, [0] { SignedData } }` around the
/// SignedData fields. Written by hand so that certificates keep the order
/// given: clients take the first certificate of a CertRep as theirs, and a
/// DER `SET OF` encoder would sort them.
fn signed_data(
    digest_algorithms: &[u8],
    encap: &[u8],
    certificates: &[&[u8]],
    signer_infos: &[u8],
) -> Vec<u8> {
    let version = [0x02, 0x01, 0x01];
    let certs = if certificates.is_empty() {
        Vec::new()
    } else {
        tlv_of(0xa0, certificates)
    };
    let sd = tlv_of(
        0x30,
        &[
            &version,
            &tlv(0x31, digest_algorithms),
            encap,
            &certs,
            &tlv(0x31, signer_infos),
        ],
    );
    tlv_of(0x30, &[&OID_SIGNED_DATA_DER, &tlv(0xa0, &sd)])
}

/// A degenerate certs-only SignedData (PKCS#7), DER, holding `certs` in
/// the order given.
pub(crate) fn certs_only(certs: &[&[u8]]) -> Vec<u8> {
    // encapContentInfo: SEQUENCE { id-data } with no content
    signed_data(&[], &tlv(0x30, &OID_DATA_DER), certs, &[])
}

/// The GetCACert answer when an RA is used (content type
/// [`CA_RA_CERT_CONTENT_TYPE`](super::CA_RA_CERT_CONTENT_TYPE)): a
/// degenerate certs-only PKCS#7 SignedData, DER, holding the CA chain (as
/// given, typically root then intermediate) and then the RA certificate.
///
/// Clients pick the RA certificate to encrypt to by its keyEncipherment
/// key usage and verify replies with it.
pub fn ca_certs(ca_chain_der: &[&[u8]], ra_der: &[u8]) -> Vec<u8> {
    let mut all: Vec<&[u8]> = ca_chain_der.to_vec();
    all.push(ra_der);
    certs_only(&all)
}

fn enc(e: der::Error) -> ScepError {
    ScepError::encoding(e)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, ScepError> {
    let mut values = SetOfVec::new();
    values.insert(value).map_err(enc)?;
    Ok(Attribute { oid, values })
}

fn printable(s: &str) -> Result<Any, ScepError> {
    Any::encode_from(&PrintableStringRef::new(s).map_err(enc)?).map_err(enc)
}

fn octets(bytes: &[u8]) -> Result<Any, ScepError> {
    Any::encode_from(&OctetString::new(bytes).map_err(enc)?).map_err(enc)
}

impl PkiMessage {
    /// The CertRep SUCCESS answer: the issued certificate (first) and
    /// `extra_chain` in a certs-only PKCS#7, encrypted to the requester's
    /// signer certificate with the content cipher of the request, inside
    /// SignedData signed by the RA.
    ///
    /// The requester's certificate must hold an RSA key (key transport is
    /// RSA PKCS#1 v1.5); otherwise the error is
    /// [`ScepError::UnsupportedRecipientKey`], answerable with
    /// [`failure`](Self::failure).
    pub fn success(
        &self,
        ra: &RaIdentity,
        issued_der: &[u8],
        extra_chain: &[&[u8]],
    ) -> Result<Vec<u8>, ScepError> {
        Certificate::from_der(issued_der)
            .map_err(|e| ScepError::der("issued certificate", 0, e))?;
        let requester = Certificate::from_der(&self.signer_certificate)
            .map_err(|e| ScepError::der("certificate", 0, e))?;
        let cipher = self.content_cipher()?;
        let mut certs = vec![issued_der];
        certs.extend_from_slice(extra_chain);
        let envelope = envelope::seal(&certs_only(&certs), &requester, cipher)?;
        self.cert_rep(ra, PkiStatus::Success, None, &envelope)
    }

    /// The CertRep FAILURE answer with `fail_info`, signed by the RA, with
    /// an empty content.
    pub fn failure(&self, ra: &RaIdentity, fail_info: FailInfo) -> Result<Vec<u8>, ScepError> {
        self.cert_rep(ra, PkiStatus::Failure, Some(fail_info), &[])
    }

    /// The CertRep PENDING answer (manual approval): the client polls with
    /// GetCertInitial under the same transactionID.
    pub fn pending(&self, ra: &RaIdentity) -> Result<Vec<u8>, ScepError> {
        self.cert_rep(ra, PkiStatus::Pending, None, &[])
    }

    /// The digest replies to this message are signed with: the request's,
    /// except SHA-1, answered with SHA-256 (see
    /// [`DigestAlgorithm::for_reply`]).
    pub fn reply_digest_algorithm(&self) -> DigestAlgorithm {
        self.digest.for_reply()
    }

    fn cert_rep(
        &self,
        ra: &RaIdentity,
        status: PkiStatus,
        fail_info: Option<FailInfo>,
        content: &[u8],
    ) -> Result<Vec<u8>, ScepError> {
        let digest = self.reply_digest_algorithm();
        let mut sender_nonce = [0u8; 16];
        aws_lc_rs::rand::fill(&mut sender_nonce)
            .map_err(ScepError::crypto("generating the sender nonce"))?;
        let mut list = vec![
            attribute(
                alg::ID_CONTENT_TYPE,
                Any::encode_from(&alg::ID_DATA).map_err(enc)?,
            )?,
            attribute(alg::ID_MESSAGE_DIGEST, octets(&digest.digest(content))?)?,
            attribute(
                alg::SCEP_MESSAGE_TYPE,
                printable(&MessageType::CertRep.code().to_string())?,
            )?,
            attribute(alg::SCEP_PKI_STATUS, printable(&status.code().to_string())?)?,
            attribute(
                alg::SCEP_TRANSACTION_ID,
                Any::from_der(&self.transaction_id_der).map_err(enc)?,
            )?,
            attribute(alg::SCEP_SENDER_NONCE, octets(&sender_nonce)?)?,
            attribute(alg::SCEP_RECIPIENT_NONCE, octets(&self.sender_nonce)?)?,
        ];
        if let Some(fi) = fail_info {
            list.push(attribute(
                alg::SCEP_FAIL_INFO,
                printable(&fi.code().to_string())?,
            )?);
        }
        let attrs = SetOfVec::try_from(list).map_err(enc)?;
        let signature = ra.sign(digest, &attrs.to_der().map_err(enc)?)?;
        let digest_alg = AlgorithmIdentifierOwned {
            oid: digest.oid(),
            parameters: None,
        };
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(ra.issuer_and_serial()),
            digest_alg: digest_alg.clone(),
            signed_attrs: Some(attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: alg::RSA_ENCRYPTION,
                parameters: Some(Any::from(der::asn1::Null)),
            },
            signature: OctetString::new(signature).map_err(enc)?,
            unsigned_attrs: None,
        };
        let encap = EncapsulatedContentInfo {
            econtent_type: alg::ID_DATA,
            econtent: Some(octets(content)?),
        };
        Ok(signed_data(
            &digest_alg.to_der().map_err(enc)?,
            &encap.to_der().map_err(enc)?,
            &[ra.certificate_der()],
            &signer.to_der().map_err(enc)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_constants_are_the_der_of_the_oids() {
        assert_eq!(alg::ID_SIGNED_DATA.to_der().unwrap(), OID_SIGNED_DATA_DER);
        assert_eq!(alg::ID_DATA.to_der().unwrap(), OID_DATA_DER);
    }
}
