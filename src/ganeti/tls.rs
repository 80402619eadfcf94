//! TLS trust for the RAPI client: verify the server certificate against a
//! PEM file given by the operator, or pin it when that PEM is the cluster's
//! own self-signed certificate. Never accepts an unverified certificate.
//!
//! Ganeti's default `rapi.pem` is self-signed, has the subject
//! `CN=ganeti.example.com` and no subjectAltName, so ordinary chain and name
//! verification can never succeed for it. Pinning is the way out that stays
//! verification: the end-entity certificate the server presents must be
//! byte-for-byte (DER) one of the certificates in the PEM file, and the
//! handshake signature must verify with its key. Anything else goes through
//! webpki with the PEM's certificates as the only roots.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Debian's bundle of public CAs, used when no PEM is given.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Reads every certificate in a PEM file. An empty file is an error: it would
/// trust nothing and fail every connection with a less clear message.
pub(crate) fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Builds the rustls client configuration trusting `pem` (CA certificates or
/// the pinned server certificate), or the system CAs when `pem` is `None`.
pub(crate) fn client_config(pem: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (certs, pinned) = match pem {
        Some(path) => {
            let certs = read_pem_certs(path)?;
            (certs.clone(), certs)
        }
        None => (read_pem_certs(Path::new(SYSTEM_BUNDLE))?, Vec::new()),
    };
    let mut roots = RootCertStore::empty();
    // Certificates webpki cannot use as a root (a v1 self-signed one, say)
    // are skipped here; they still count as pins.
    roots.add_parsable_certificates(certs);
    let webpki = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot build certificate verifier: {e}"))?,
        )
    };
    let verifier = PinOrChain {
        pinned,
        webpki,
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        // "dangerous" is rustls' name for any custom verifier; this one
        // verifies (pin or chain), it never accepts blindly.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// Accepts the server certificate when it is exactly one of the pinned
/// certificates, otherwise when webpki verifies its chain and name.
#[derive(Debug)]
struct PinOrChain {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinOrChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ganeti::rapi::{RapiClient, RapiConfig, RapiError};
    use rustls::pki_types::PrivateKeyDer;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    /// A one-shot HTTPS server presenting `pinned-cert.pem`, a self-signed
    /// certificate shaped like Ganeti's rapi.pem (CN ganeti.example.com, no
    /// subjectAltName). Answers `/version` with `2`.
    fn serve_once() -> u16 {
        let certs = read_pem_certs(&fixture("pinned-cert.pem")).unwrap();
        let key = PrivateKeyDer::from_pem_file(fixture("pinned-key.pem")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((tcp, _)) = listener.accept() {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 4096];
                // The handshake happens on the first read; a client that
                // rejects the certificate ends it here.
                if tls.read(&mut buf).is_ok() {
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n2",
                    );
                    let _ = tls.flush();
                }
            }
        });
        port
    }

    fn version_with(ca: Option<PathBuf>) -> Result<u64, RapiError> {
        let port = serve_once();
        let mut config = RapiConfig::new(format!("https://cluster.lab.test:{port}"));
        config.connect_address = Some("127.0.0.1".parse().unwrap());
        config.ca_pem = ca;
        config.timeout = std::time::Duration::from_secs(5);
        let client = RapiClient::new(&config)?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.version())
    }

    #[test]
    fn the_pinned_self_signed_certificate_is_accepted_despite_its_name() {
        assert_eq!(version_with(Some(fixture("pinned-cert.pem"))).unwrap(), 2);
    }

    #[test]
    fn another_certificate_is_refused() {
        let err = version_with(Some(fixture("other-cert.pem"))).unwrap_err();
        assert!(matches!(err, RapiError::Transport { .. }), "{err}");
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "{err}"
        );
    }

    #[test]
    fn without_a_pem_the_system_cas_refuse_a_self_signed_server() {
        // ca-certificates is installed by scripts/install-deps: without the
        // bundle this test would prove nothing, so it fails instead.
        assert!(
            Path::new(SYSTEM_BUNDLE).exists(),
            "{SYSTEM_BUNDLE} is missing (apt-get install ca-certificates)"
        );
        assert!(version_with(None).is_err());
    }

    #[test]
    fn an_empty_pem_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("snf-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = client_config(Some(&empty)).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
