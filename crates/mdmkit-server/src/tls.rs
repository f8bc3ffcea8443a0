//! TLS for devices: the server's certificate, and client certificates
//! asked for but checked per tenant.
//!
//! The TLS layer requests a client certificate and checks that the client
//! holds its key (the handshake signature), but accepts any chain: one
//! listener serves many tenants, each with its own CA, and the tenant is
//! known only from the request. The chain is verified by the tenant's
//! verifier in [`crate::identity`], with revocation, for every request.
//! A connection without a client certificate is accepted too (a device
//! that signs its messages with `Mdm-Signature`, a health probe, an admin).

use std::sync::Arc;

use mdmkit::identity::pem;
use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};

/// Why the TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file has no certificate, or a broken one.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The key file has no usable private key.
    #[error("private key: {0}")]
    Key(String),
    /// rustls refused the pair.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Builds the TLS server configuration from a PEM certificate chain and a
/// PEM private key (PKCS#8, SEC1 or PKCS#1), with the aws-lc-rs provider.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig, TlsError> {
    // The workspace's one PEM decoder; rustls takes the DER it yields.
    let certs: Vec<CertificateDer<'static>> = pem::certificates(cert_pem, &pem::Limits::DEFAULT)
        .map_err(|e| TlsError::Certificate(e.to_string()))?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key: PrivateKeyDer<'static> = pem::private_key(key_pem, &pem::Limits::DEFAULT)
        .map_err(|e| TlsError::Key(e.to_string()))?
        .into();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(AnyClientCert {
        provider: provider.clone(),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Asks for a client certificate, proves possession of its key, leaves
/// the chain to the tenant's verifier.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
