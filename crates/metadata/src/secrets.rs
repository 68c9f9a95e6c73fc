//! Random tokens and secrets, and the hash under which secrets are stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// 32 lowercase hex characters of fresh randomness (128 bits), the shape of Mixpanel's
/// project tokens and secrets.
pub fn random_hex32() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_hashes_stable() {
        let (a, b) = (random_hex32(), random_hex32());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(hash_secret("x"), hash_secret("x"));
        assert_ne!(hash_secret("x"), hash_secret("y"));
    }
}
