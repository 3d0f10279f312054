//! API keys after GitHub's token design: a recognisable prefix, 30 random
//! base62 characters and a 6-character base62 CRC32 checksum, so secret
//! scanners can find leaked keys and a mistyped key is rejected before any
//! database query. Only the SHA-256 of a key is stored.

use crate::digest::sha256_hex;
use curatore_domain::Secret;
use rand::Rng;
use rand::distr::Alphanumeric;
use subtle::ConstantTimeEq;

/// Number of random base62 characters after the prefix (~178 bits).
const RANDOM_LEN: usize = 30;
/// Number of base62 characters of the CRC32 checksum (62^6 > 2^32).
const CHECKSUM_LEN: usize = 6;
/// How many leading characters of a key are kept in clear to identify it in lists.
const DISPLAY_PREFIX_CHARS: usize = 12;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The shape of this deployment's API keys (their prefix), so generation and
/// checking agree.
#[derive(Debug, Clone)]
pub struct ApiKeyFormat {
    prefix: String,
}

/// A freshly generated API key: the key for the caller and the forms to store.
#[derive(Debug, Clone)]
pub struct GeneratedApiKey {
    /// The full key; shown once in the create response, never stored.
    pub key: Secret,
    /// The first 12 characters, stored in clear so users can tell keys apart.
    pub display_prefix: String,
    /// SHA-256 hex of the full key; the stored, uniquely indexed form.
    pub hash: String,
}

/// Why a presented string is not one of our API keys; both mean 401 and need
/// no database query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    /// Wrong prefix, length or characters.
    #[error("the API key is malformed")]
    Malformed,
    /// Well-formed, but the checksum does not match: a typo or a forgery.
    #[error("the API key checksum does not match")]
    BadChecksum,
}

impl ApiKeyFormat {
    /// A format with the given prefix (e.g. `"cur_"`); the prefix should be
    /// short ASCII ending in a separator so keys are recognisable.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix every key of this format starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Generates a key: prefix, 30 CSPRNG base62 characters, checksum.
    pub fn generate(&self) -> GeneratedApiKey {
        let mut key = String::with_capacity(self.prefix.len() + RANDOM_LEN + CHECKSUM_LEN);
        key.push_str(&self.prefix);
        // `Alphanumeric` samples uniformly from the 62 base62 characters.
        key.extend(
            rand::rng()
                .sample_iter(Alphanumeric)
                .take(RANDOM_LEN)
                .map(char::from),
        );
        let checksum = checksum(key.as_bytes());
        key.push_str(&checksum);
        let display_prefix = key.chars().take(DISPLAY_PREFIX_CHARS).collect();
        let hash = sha256_hex(key.as_bytes());
        GeneratedApiKey {
            key: Secret::new(key),
            display_prefix,
            hash,
        }
    }

    /// Checks prefix, length, charset and checksum without any I/O, and
    /// returns the SHA-256 hex of the key for the indexed lookup.
    pub fn check(&self, candidate: &str) -> Result<String, ApiKeyError> {
        let rest = candidate
            .strip_prefix(self.prefix.as_str())
            .ok_or(ApiKeyError::Malformed)?;
        if rest.len() != RANDOM_LEN + CHECKSUM_LEN
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ApiKeyError::Malformed);
        }
        let (body, given) = candidate.split_at(candidate.len() - CHECKSUM_LEN);
        if checksum(body.as_bytes()) != given {
            return Err(ApiKeyError::BadChecksum);
        }
        Ok(sha256_hex(candidate.as_bytes()))
    }

    /// Whether the string starts with this format's prefix, to tell a bearer
    /// API key from a JWT before checking either.
    pub fn looks_like_key(&self, candidate: &str) -> bool {
        candidate.starts_with(self.prefix.as_str())
    }
}

/// The prefix of the original Python server's keys.
const ORIGINAL_PREFIX: &str = "cur_";
/// Lower-case hex characters after it (32 random bytes).
const ORIGINAL_HEX_LEN: usize = 64;

/// A key in the original Python server's format (`cur_` + 64 lower-case hex
/// characters, stored there as a bcrypt hash found by its first 12
/// characters): its 12-character display prefix and the SHA-256 hex digest
/// we store once it has been verified. `None` for anything else. New keys
/// always have our format ([`ApiKeyFormat`]); these are only accepted so that
/// keys issued before the switch keep working.
pub fn original_key(candidate: &str) -> Option<(&str, String)> {
    let hex = candidate.strip_prefix(ORIGINAL_PREFIX)?;
    if hex.len() != ORIGINAL_HEX_LEN
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Some((
        &candidate[..DISPLAY_PREFIX_CHARS],
        sha256_hex(candidate.as_bytes()),
    ))
}

/// Compares two byte strings (digests after a lookup) in time independent of
/// where they differ, so the comparison leaks nothing about the stored value.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// CRC32 of `body` in base62, left-padded with '0' to exactly 6 characters.
fn checksum(body: &[u8]) -> String {
    let mut value = crc32fast::hash(body);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_keys_are_recognised_by_their_exact_shape() {
        let key = "cur_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfe";
        let (prefix, digest) = original_key(key).unwrap();
        assert_eq!(prefix, "cur_987aaed5");
        assert_eq!(digest, sha256_hex(key.as_bytes()));
        assert_eq!(digest.len(), 64);
        for bad in [
            "cur_987AAED5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfe",
            "cur_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bf",
            "cur_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfe0",
            "key_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfe",
            "cur_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfg",
            "",
        ] {
            assert!(original_key(bad).is_none(), "{bad}");
        }
        // Ours are never mistaken for the original's.
        let ours = ApiKeyFormat::new("cur_").generate();
        assert!(original_key(ours.key.expose()).is_none());
    }

    fn format() -> ApiKeyFormat {
        ApiKeyFormat::new("cur_")
    }

    #[test]
    fn generated_keys_pass_and_have_the_documented_shape() {
        let f = format();
        let generated = f.generate();
        let key = generated.key.expose();
        assert_eq!(key.len(), 4 + 30 + 6);
        assert!(key.starts_with("cur_"));
        assert!(f.looks_like_key(key));
        assert_eq!(f.check(key).unwrap(), generated.hash);
        assert_eq!(generated.display_prefix, &key[..12]);
        assert_eq!(generated.hash.len(), 64);
        assert!(generated.hash.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(generated.hash, sha256_hex(key.as_bytes()));
        assert!(!format!("{generated:?}").contains(key));
    }

    #[test]
    fn two_keys_differ() {
        let f = format();
        let a = f.generate();
        let b = f.generate();
        assert_ne!(a.key, b.key);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn hash_is_stable() {
        let f = format();
        let key = f.generate().key;
        assert_eq!(f.check(key.expose()), f.check(key.expose()));
    }

    #[test]
    fn any_single_character_change_is_rejected() {
        let f = format();
        let key = f.generate().key.expose().to_owned();
        for i in 4..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(
                f.check(&changed),
                Err(ApiKeyError::BadChecksum),
                "position {i}"
            );
        }
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let f = format();
        let key = f.generate().key.expose().to_owned();
        let rest = &key[4..];
        assert_eq!(f.check(&format!("xyz_{rest}")), Err(ApiKeyError::Malformed));
        assert_eq!(f.check(rest), Err(ApiKeyError::Malformed));
        assert_eq!(f.check(&key[..key.len() - 1]), Err(ApiKeyError::Malformed));
        assert_eq!(f.check(&format!("{key}0")), Err(ApiKeyError::Malformed));
        assert_eq!(f.check(""), Err(ApiKeyError::Malformed));
        assert_eq!(f.check("cur_"), Err(ApiKeyError::Malformed));
        let mut bad = key.clone().into_bytes();
        bad[10] = b'-';
        assert_eq!(
            f.check(&String::from_utf8(bad).unwrap()),
            Err(ApiKeyError::Malformed)
        );
        // A multi-byte character must not panic on slicing.
        let unicode = format!("cur_{}é{}", &rest[..29], &rest[31..]);
        assert_eq!(f.check(&unicode), Err(ApiKeyError::Malformed));
        assert!(!f.looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }

    #[test]
    fn checksum_is_six_base62_characters() {
        assert_eq!(checksum(b""), "000000");
        // crc32("cur_") encoded by hand must round-trip through base62.
        let encoded = checksum(b"cur_");
        let decoded = encoded.bytes().fold(0u64, |acc, c| {
            acc * 62 + BASE62.iter().position(|&b| b == c).unwrap() as u64
        });
        assert_eq!(decoded, u64::from(crc32fast::hash(b"cur_")));
        assert_eq!(checksum(&[0xff; 64]).len(), 6);
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
