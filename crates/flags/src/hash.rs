//! The hash every official SDK buckets users with: 64-bit FNV-1a over the UTF-8 bytes of
//! `key` then `salt`, taken modulo 100 and divided by 100 (so 0.00 to 0.99). Rollout and
//! variant choices compare it to fractions, so a user's bucket is the same in every SDK
//! and here.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits, over `parts` as one run of bytes.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash = OFFSET_BASIS;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

/// The SDKs' `normalized_hash(key, salt)`: a bucket in `0.00..=0.99`.
pub fn normalized_hash(key: &str, salt: &str) -> f64 {
    (fnv1a(&[key.as_bytes(), salt.as_bytes()]) % 100) as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::normalized_hash;

    #[test]
    fn the_sdks_test_vectors() {
        // mixpanel-python `test_utils.py` and mixpanel-node `utils.test.js`.
        assert_eq!(normalized_hash("abc", "variant"), 0.72);
        assert_eq!(normalized_hash("def", "variant"), 0.21);
    }

    #[test]
    fn rollout_and_variant_inputs() {
        // Recomputed in `mixpanel-wire-semantics.md` §3.3 for a legacy and a salted flag.
        assert_eq!(normalized_hash("user123", "new_checkout_flowrollout"), 0.27);
        assert_eq!(normalized_hash("user123", "new_checkout_flowvariant"), 0.59);
        let salt = "0123456789abcdef0123456789abcdef";
        assert_eq!(normalized_hash("user123", &format!("new_checkout_flow{salt}0")), 0.74);
        assert_eq!(normalized_hash("user123", &format!("new_checkout_flow{salt}1")), 0.85);
        assert_eq!(normalized_hash("user123", &format!("new_checkout_flow{salt}variant")), 0.79);
    }

    #[test]
    fn key_and_salt_are_one_run_of_bytes() {
        assert_eq!(normalized_hash("ab", "c"), normalized_hash("a", "bc"));
        assert_eq!(normalized_hash("é", ""), normalized_hash("", "é"));
    }
}
