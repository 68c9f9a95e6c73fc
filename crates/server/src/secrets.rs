//! Secrets kept in the control plane (a pipeline's S3 secret key), sealed under a key
//! of the server's own so that a copy of the control plane alone does not give them
//! away.
//!
//! The key is 32 random bytes in `<data dir>/secrets.key`, made on first start with
//! mode 0600. A sealed secret is `sealed:v1:` then base64 of a random 96-bit nonce
//! and the AES-256-GCM ciphertext with its tag. Losing the key file loses the secrets:
//! the pipelines that hold one then fail with an error saying so, and are created again
//! with the key pair.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};

/// What a sealed secret starts with.
const PREFIX: &str = "sealed:v1:";

/// The key file's length.
const KEY_LEN: usize = 32;

/// Why a secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Not a sealed secret at all.
    #[error("the stored secret is not sealed")]
    NotSealed,
    /// Sealed under another key, or altered.
    #[error("the stored secret cannot be opened with this server's key (was secrets.key replaced?)")]
    WrongKey,
}

/// Seals and opens secrets under the server's key.
pub struct SecretBox {
    key: LessSafeKey,
    random: SystemRandom,
}

impl Default for SecretBox {
    /// A box with a key of its own that nothing keeps (tests, and servers without a data
    /// directory).
    fn default() -> Self {
        let random = SystemRandom::new();
        let mut key = [0u8; KEY_LEN];
        random.fill(&mut key).expect("the system's random source");
        SecretBox::with_key(&key)
    }
}

impl SecretBox {
    fn with_key(key: &[u8; KEY_LEN]) -> SecretBox {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key");
        SecretBox { key: LessSafeKey::new(key), random: SystemRandom::new() }
    }

    /// The box of the key in `path`, made there (mode 0600) when missing.
    pub fn open(path: &Path) -> std::io::Result<SecretBox> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is not a {KEY_LEN}-byte key", path.display()),
                    )
                })?;
                Ok(SecretBox::with_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                SystemRandom::new().fill(&mut key).map_err(|_| std::io::Error::other("no random source"))?;
                // Written whole or not at all: a crash never leaves a short key that
                // would stop the next start.
                crate::files::write_atomically(path, &key, 0o600)?;
                Ok(SecretBox::with_key(&key))
            }
            Err(e) => Err(e),
        }
    }

    /// `plain`, sealed.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).expect("the system's random source");
        let mut sealed = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed)
            .expect("a secret shorter than AES-GCM's limit");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// A sealed secret's text.
    pub fn unseal(&self, sealed: &str) -> Result<String, SecretError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(SecretError::NotSealed)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::NotSealed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::NotSealed);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::NotSealed)?;
        let mut rest = rest.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut rest).map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let sealed = SecretBox::open(&path).unwrap().seal("wJalrXUtnFEMI/K7MDENG");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("wJalr"), "{sealed}");
        assert_eq!(SecretBox::open(&path).unwrap().unseal(&sealed).unwrap(), "wJalrXUtnFEMI/K7MDENG", "the key kept");
        assert!(matches!(SecretBox::default().unseal(&sealed), Err(SecretError::WrongKey)));
        assert!(matches!(SecretBox::default().unseal("plain"), Err(SecretError::NotSealed)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
