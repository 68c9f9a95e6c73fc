//! HTTPS: a rustls listener beside the plain HTTP one.
//!
//! Several official SDKs only speak HTTPS (the Python SDK's flag providers build
//! `https://{api_host}`, the Node SDK's flag client uses port 443), so a self-hoster
//! needs TLS even on a laptop. Two ways to get a certificate:
//! - [`TlsSettings::Files`]: a PEM certificate chain and private key the operator
//!   provides (`--tls-cert`, `--tls-key`);
//! - [`TlsSettings::SelfSigned`]: a local certificate authority created in the data
//!   directory on first start ([`self_signed`]); clients trust its `ca.crt` once, and
//!   the server certificate it signs is reissued at every start for the configured
//!   hostnames, so changing them never asks clients to trust anything new.
//!
//! [`listener::TlsListener`] completes handshakes off the accept loop, so a slow or
//! silent client cannot hold up others, and counts each connection against the
//! server's connection cap from the moment it is accepted.

pub mod listener;
pub mod self_signed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use listener::TlsListener;

/// Where the HTTPS listener gets its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSettings {
    /// A PEM certificate chain (leaf first) and its PEM private key.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// A certificate signed by a local authority kept in `DATA_DIR/tls/`.
    SelfSigned {
        /// DNS names and IP addresses the certificate is valid for.
        hostnames: Vec<String>,
    },
}

/// The HTTPS listener's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// Address the HTTPS listener binds.
    pub listen: SocketAddr,
    /// Where its certificate comes from.
    pub settings: TlsSettings,
}

/// The names a self-signed certificate covers when the configuration names none.
pub const DEFAULT_SELF_SIGNED_HOSTNAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The HTTPS port used when only TLS settings are given.
pub const DEFAULT_TLS_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8443);

/// TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The certificate could not be generated.
    #[error("cannot create a self-signed certificate: {0}")]
    Generate(String),
    /// rustls refused the certificate and key together.
    #[error("the certificate and key cannot be used together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A ready rustls configuration, and the file clients should trust when self-signed.
pub struct PreparedTls {
    /// Used by every HTTPS connection.
    pub server_config: Arc<ServerConfig>,
    /// `DATA_DIR/tls/ca.crt` in self-signed mode.
    pub ca_certificate: Option<PathBuf>,
}

/// Loads or creates the certificate and builds the rustls configuration.
pub fn prepare(settings: &TlsSettings, data_dir: &Path) -> Result<PreparedTls, TlsError> {
    let (chain, key, ca_certificate) = match settings {
        TlsSettings::Files { cert, key } => (read_chain(cert)?, read_key(key)?, None),
        TlsSettings::SelfSigned { hostnames } => {
            let issued = self_signed::issue(&data_dir.join(self_signed::DIR), hostnames)?;
            (issued.chain, issued.key, Some(issued.ca_certificate))
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // The server speaks HTTP/1.1 only (as over plain TCP).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(PreparedTls { server_config: Arc::new(config), ca_certificate })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |message: String| TlsError::File { path: path.to_path_buf(), message };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if chain.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File { path: path.to_path_buf(), message: e.to_string() })
}
