//! The self-signed mode: a local certificate authority in `DATA_DIR/tls/` and a server
//! certificate it signs, reissued at every start.
//!
//! Clients are told to trust `ca.crt` (`REQUESTS_CA_BUNDLE` for Python,
//! `NODE_EXTRA_CA_CERTS` for Node, the system store for browsers). Signing a separate
//! server certificate, rather than serving a self-signed leaf, is what every TLS stack
//! accepts: some refuse an end-entity certificate used as its own trust anchor.

use std::path::{Path, PathBuf};

use chrono::Datelike;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TlsError;

/// The folder, inside the data directory, holding the local authority.
pub const DIR: &str = "tls";
/// The authority's certificate, which clients trust.
pub const CA_CERT: &str = "ca.crt";
/// The authority's private key (mode 0600).
pub const CA_KEY: &str = "ca.key";

/// A server certificate ready for rustls.
pub struct Issued {
    /// The server certificate, then the authority's.
    pub chain: Vec<CertificateDer<'static>>,
    /// The server certificate's key.
    pub key: PrivateKeyDer<'static>,
    /// Where the authority's certificate is.
    pub ca_certificate: PathBuf,
}

/// Creates the authority in `dir` if it is not there, then signs a new server
/// certificate for `hostnames` (DNS names or IP addresses).
pub fn issue(dir: &Path, hostnames: &[String]) -> Result<Issued, TlsError> {
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let (ca_key, ca_pem) = load_or_create_authority(dir)?;
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| TlsError::File { path: dir.join(CA_CERT), message: e.to_string() })?;
    let issuer = Issuer::new(authority_params(), ca_key);

    let mut params = CertificateParams::new(hostnames.to_vec()).map_err(gen_err)?;
    params.distinguished_name.push(DnType::CommonName, hostnames.first().map(String::as_str).unwrap_or("localhost"));
    params.distinguished_name.push(DnType::OrganizationName, "Sextant");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    // A little over a year: reissued at every start, and within what browsers accept.
    let year = chrono::Utc::now().year();
    params.not_before = date_time_ymd(year - 1, 12, 1);
    params.not_after = date_time_ymd(year + 1, 1, 1);
    let key = KeyPair::generate().map_err(gen_err)?;
    let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
    Ok(Issued {
        chain: vec![cert.der().clone(), ca_der],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ca_certificate: dir.join(CA_CERT),
    })
}

/// The authority's name and usages. A signer is rebuilt from these and the stored key,
/// so they must not change once an authority exists.
fn authority_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "Sextant local certificate authority");
    params.distinguished_name.push(DnType::OrganizationName, "Sextant");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

/// Reads the authority's key and certificate, creating both when either is missing.
fn load_or_create_authority(dir: &Path) -> Result<(KeyPair, String), TlsError> {
    let key_path = dir.join(CA_KEY);
    let cert_path = dir.join(CA_CERT);
    let file_err = |path: &Path, message: String| TlsError::File { path: path.to_path_buf(), message };
    if key_path.exists() && cert_path.exists() {
        let key_pem = std::fs::read_to_string(&key_path).map_err(|e| file_err(&key_path, e.to_string()))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| file_err(&key_path, e.to_string()))?;
        let cert_pem = std::fs::read_to_string(&cert_path).map_err(|e| file_err(&cert_path, e.to_string()))?;
        return Ok((key, cert_pem));
    }
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e.to_string()))?;
    let key = KeyPair::generate().map_err(gen_err)?;
    let mut params = authority_params();
    let year = chrono::Utc::now().year();
    params.not_before = date_time_ymd(year - 1, 1, 1);
    params.not_after = date_time_ymd(year + 10, 1, 1);
    let cert = params.self_signed(&key).map_err(gen_err)?;
    write_file(&key_path, &key.serialize_pem(), true).map_err(|e| file_err(&key_path, e.to_string()))?;
    let cert_pem = cert.pem();
    write_file(&cert_path, &cert_pem, false).map_err(|e| file_err(&cert_path, e.to_string()))?;
    Ok((key, cert_pem))
}

/// Written whole or not at all: a crash between the key and the certificate leaves one
/// of them missing, and the authority is then made anew, never half a key.
fn write_file(path: &Path, text: &str, secret: bool) -> std::io::Result<()> {
    crate::files::write_atomically(path, text.as_bytes(), if secret { 0o600 } else { 0o644 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = issue(dir.path(), &hosts).unwrap();
        let ca = std::fs::read(&first.ca_certificate).unwrap();
        let second = issue(dir.path(), &hosts).unwrap();
        assert_eq!(std::fs::read(&second.ca_certificate).unwrap(), ca, "the authority survives a restart");
        assert_ne!(first.chain[0], second.chain[0], "the server certificate is reissued");
        assert_eq!(first.chain[1], second.chain[1]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CA_KEY)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_hostname_that_is_not_a_name_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(issue(dir.path(), &["bäd.example".to_string()]).is_err());
    }
}
