//! `SECRETS_ENCRYPTION_KEY`: the keys that encrypt stored secrets.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use std::fmt;
use std::path::{Path, PathBuf};

/// Bytes in one key.
pub const SECRET_KEY_BYTES: usize = 32;

/// The id a key gets when written without one (`SECRETS_ENCRYPTION_KEY=<base64>`).
pub const DEFAULT_SECRET_KEY_ID: &str = "k1";

/// One or more named 32-byte keys, as `SECRETS_ENCRYPTION_KEY` gives them:
/// `<base64>` (id `k1`) or `id1:<base64>,id2:<base64>`. The first encrypts
/// new secrets; all decrypt, so a key is rotated by putting the new one
/// first. `Debug` and `Display` show the ids only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKeys(Vec<(String, [u8; SECRET_KEY_BYTES])>);

impl SecretKeys {
    /// Parses the variable's value. The error never contains key material.
    ///
    /// # Errors
    /// An empty list, a bad or repeated id, a key that is not base64 or not
    /// 32 bytes long once decoded.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, [u8; SECRET_KEY_BYTES])> = Vec::new();
        for (i, item) in text.split(',').map(str::trim).enumerate() {
            if item.is_empty() {
                continue;
            }
            let (id, encoded) = match item.split_once(':') {
                Some((id, encoded)) => (id.trim(), encoded.trim()),
                None => (DEFAULT_SECRET_KEY_ID, item),
            };
            let n = i + 1;
            let id_ok = !id.is_empty()
                && id.len() <= 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(format!(
                    "key {n}: its id must be 1-32 letters, digits, `-` or `_` (write `id:base64`)"
                ));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(format!("key {n}: the id `{id}` is used twice"));
            }
            let bytes = STANDARD
                .decode(encoded)
                .or_else(|_| URL_SAFE.decode(encoded))
                .map_err(|_| format!("key {n} (`{id}`) is not valid base64"))?;
            let key: [u8; SECRET_KEY_BYTES] = bytes.try_into().map_err(|b: Vec<u8>| {
                format!(
                    "key {n} (`{id}`) decodes to {} bytes; it must be {SECRET_KEY_BYTES} \
                     (generate one with `openssl rand -base64 32`)",
                    b.len()
                )
            })?;
            keys.push((id.to_owned(), key));
        }
        if keys.is_empty() {
            return Err(
                "is empty; give `openssl rand -base64 32`, or `id:base64,...` for several keys"
                    .to_owned(),
            );
        }
        Ok(Self(keys))
    }

    /// Wraps keys made elsewhere (a generated key file).
    pub fn from_keys(keys: Vec<(String, [u8; SECRET_KEY_BYTES])>) -> Self {
        Self(keys)
    }

    /// The keys, the encrypting one first.
    pub fn keys(&self) -> &[(String, [u8; SECRET_KEY_BYTES])] {
        &self.0
    }

    /// The ids, the encrypting one first.
    pub fn ids(&self) -> Vec<&str> {
        self.0.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The variable's text form of these keys (for writing a key file).
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|(id, key)| format!("{id}:{}", STANDARD.encode(key)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The key file that holds the secrets key of a SQLite database when
/// `SECRETS_ENCRYPTION_KEY` is unset: `<database file>.secrets-key`, beside
/// it. The server creates it; backups carry it with the database.
pub fn secrets_key_file(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".secrets-key");
    database.with_file_name(name)
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKeys({:?}, [REDACTED])", self.ids())
    }
}

impl fmt::Display for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[REDACTED: keys {}]", self.ids().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_or_several_with_ids() {
        let one = SecretKeys::parse(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(one.ids(), ["k1"]);
        let text = format!(
            "new:{}, old:{}",
            STANDARD.encode([1u8; 32]),
            STANDARD.encode([2u8; 32])
        );
        let two = SecretKeys::parse(&text).unwrap();
        assert_eq!(two.ids(), ["new", "old"]);
        assert_eq!(two.keys()[1].1, [2u8; 32]);
        assert_eq!(SecretKeys::parse(&two.to_text()).unwrap(), two);
    }

    #[test]
    fn problems_are_named_without_the_key() {
        let short = STANDARD.encode([1u8; 16]);
        let err = SecretKeys::parse(&short).unwrap_err();
        assert!(err.contains("16 bytes") && !err.contains(&short), "{err}");
        assert!(SecretKeys::parse("k:***").unwrap_err().contains("base64"));
        assert!(SecretKeys::parse(" , ").unwrap_err().contains("empty"));
        let dup = format!("a:{0},a:{0}", STANDARD.encode([1u8; 32]));
        assert!(SecretKeys::parse(&dup).unwrap_err().contains("twice"));
        let keys = SecretKeys::parse(&STANDARD.encode([9u8; 32])).unwrap();
        let shown = format!("{keys:?} {keys}");
        assert!(!shown.contains(&STANDARD.encode([9u8; 32])), "{shown}");
    }
}
