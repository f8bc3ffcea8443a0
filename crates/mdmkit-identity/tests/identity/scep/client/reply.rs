//! Reading replies as a client: the CertRep signature and attributes, the
//! envelope, the certificates.

use super::*;

/// A CertRep as a client reads it, signature checked against the RA.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) message_type: String,
    pub(crate) status: String,
    pub(crate) fail_info: Option<String>,
    pub(crate) transaction_id: String,
    pub(crate) sender_nonce: Vec<u8>,
    pub(crate) recipient_nonce: Vec<u8>,
    pub(crate) digest_oid: ObjectIdentifier,
    pub(crate) certificates: Vec<Vec<u8>>,
    pub(crate) content: Vec<u8>,
}

fn single(attrs: &[Attribute], oid: ObjectIdentifier) -> Option<&Any> {
    let found: Vec<&Attribute> = attrs.iter().filter(|a| a.oid == oid).collect();
    match found.as_slice() {
        [] => None,
        [a] => {
            assert_eq!(a.values.len(), 1, "attribute {oid} has one value");
            a.values.iter().next()
        }
        _ => panic!("attribute {oid} appears twice"),
    }
}

fn text_of(any: &Any) -> String {
    PrintableStringRef::try_from(any)
        .map(|s| s.as_str().to_owned())
        .expect("a PrintableString")
}

/// Reads a CertRep and verifies its RA signature.
pub(crate) fn read_reply(der: &[u8], ra_der: &[u8]) -> Reply {
    let ci = ContentInfo::from_der(der).unwrap();
    assert_eq!(ci.content_type, ID_SIGNED_DATA);
    let sd: SignedData = ci.content.decode_as().unwrap();
    let signer = sd.signer_infos.0.iter().next().expect("one signer");
    assert_eq!(sd.signer_infos.0.len(), 1);
    let ra = Certificate::from_der(ra_der).unwrap();
    let certificates: Vec<Vec<u8>> = sd
        .certificates
        .as_ref()
        .map(|s| {
            s.0.iter()
                .map(|c| match c {
                    CertificateChoices::Certificate(c) => c.to_der().unwrap(),
                    CertificateChoices::Other(_) => panic!("other certificate choice"),
                })
                .collect()
        })
        .unwrap_or_default();
    let SignerIdentifier::IssuerAndSerialNumber(isn) = &signer.sid else {
        panic!("the RA is named by issuer and serial");
    };
    assert_eq!(&isn.issuer, ra.tbs_certificate().issuer());
    assert_eq!(&isn.serial_number, ra.tbs_certificate().serial_number());
    let attrs_set = signer.signed_attrs.as_ref().expect("signed attributes");
    let attrs: Vec<Attribute> = attrs_set.iter().cloned().collect();
    let content: Vec<u8> = sd
        .encap_content_info
        .econtent
        .as_ref()
        .map(|a| a.decode_as::<OctetString>().unwrap().into_bytes().to_vec())
        .unwrap_or_default();
    let digest_oid = signer.digest_alg.oid;
    let (hash, params): (
        &'static aws_lc_rs::digest::Algorithm,
        &'static sig::RsaParameters,
    ) = match digest_oid.to_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => (&aws_lc_rs::digest::SHA256, &sig::RSA_PKCS1_2048_8192_SHA256),
        "2.16.840.1.101.3.4.2.3" => (&aws_lc_rs::digest::SHA512, &sig::RSA_PKCS1_2048_8192_SHA512),
        other => panic!("unexpected reply digest {other}"),
    };
    let md = single(&attrs, MESSAGE_DIGEST)
        .unwrap()
        .decode_as::<OctetString>()
        .unwrap();
    assert_eq!(
        md.as_bytes(),
        aws_lc_rs::digest::digest(hash, &content).as_ref(),
        "messageDigest matches the content"
    );
    assert_eq!(
        single(&attrs, CONTENT_TYPE)
            .unwrap()
            .decode_as::<ObjectIdentifier>()
            .unwrap(),
        ID_DATA
    );
    let spki = ra.tbs_certificate().subject_public_key_info();
    sig::UnparsedPublicKey::new(params, spki.subject_public_key.raw_bytes())
        .verify(&attrs_set.to_der().unwrap(), signer.signature.as_bytes())
        .expect("the CertRep signature verifies with the RA certificate");
    let nonce = |oid| {
        single(&attrs, oid)
            .map(|a| a.decode_as::<OctetString>().unwrap().into_bytes().to_vec())
            .unwrap_or_default()
    };
    Reply {
        message_type: text_of(single(&attrs, MESSAGE_TYPE).unwrap()),
        status: text_of(single(&attrs, PKI_STATUS).unwrap()),
        fail_info: single(&attrs, FAIL_INFO).map(text_of),
        transaction_id: text_of(single(&attrs, TRANSACTION_ID).unwrap()),
        sender_nonce: nonce(SENDER_NONCE),
        recipient_nonce: nonce(RECIPIENT_NONCE),
        digest_oid,
        certificates,
        content,
    }
}

/// Opens a reply envelope with the device key; returns the plaintext and
/// the cipher used.
pub(crate) fn open_envelope(envelope: &[u8], device: &Device) -> (Vec<u8>, Cipher) {
    let ci = ContentInfo::from_der(envelope).unwrap();
    assert_eq!(ci.content_type, ID_ENVELOPED_DATA);
    let ed: EnvelopedData = ci.content.decode_as().unwrap();
    let [RecipientInfo::Ktri(ktri)] = ed.recip_infos.0.as_slice() else {
        panic!("one key-transport recipient");
    };
    let cert = device.cert();
    let RecipientIdentifier::IssuerAndSerialNumber(isn) = &ktri.rid else {
        panic!("recipient named by issuer and serial");
    };
    assert_eq!(&isn.issuer, cert.tbs_certificate().issuer());
    assert_eq!(&isn.serial_number, cert.tbs_certificate().serial_number());
    assert_eq!(ktri.key_enc_alg.oid, RSA_ENCRYPTION);
    let key = device.unwrap(ktri.enc_key.as_bytes());
    let eci = &ed.encrypted_content;
    let cipher = Cipher::from_oid(&eci.content_enc_alg.oid);
    let iv = eci
        .content_enc_alg
        .parameters
        .as_ref()
        .unwrap()
        .decode_as::<OctetString>()
        .unwrap();
    let data = eci.encrypted_content.as_ref().unwrap();
    (cipher.decrypt(&key, iv.as_bytes(), data.as_bytes()), cipher)
}

/// The certificates of a certs-only PKCS#7, in the order sent.
pub(crate) fn certs_of(degenerate: &[u8]) -> Vec<Vec<u8>> {
    // Walk by hand: the `cms` decoder re-sorts the SET OF certificates.
    fn children(mut der: &[u8]) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        while !der.is_empty() {
            let tag = der[0];
            let (len, hl) = match der[1] {
                n if n < 0x80 => (n as usize, 2),
                0x81 => (der[2] as usize, 3),
                0x82 => ((der[2] as usize) << 8 | der[3] as usize, 4),
                0x83 => (
                    (der[2] as usize) << 16 | (der[3] as usize) << 8 | der[4] as usize,
                    5,
                ),
                other => panic!("length form {other:#x}"),
            };
            out.push((tag, der[..hl + len].to_vec(), der[hl..hl + len].to_vec()));
            der = &der[hl + len..];
        }
        out
    }
    let ci = &children(degenerate)[0];
    let parts = children(&ci.2);
    assert_eq!(parts[0].1, ID_SIGNED_DATA.to_der().unwrap());
    let sd = &children(&parts[1].2)[0];
    let fields = children(&sd.2);
    let certs = fields
        .iter()
        .find(|f| f.0 == 0xa0)
        .expect("a certificates field");
    assert!(
        fields.last().unwrap().0 == 0x31 && fields.last().unwrap().2.is_empty(),
        "no signer infos"
    );
    children(&certs.2).into_iter().map(|c| c.1).collect()
}
