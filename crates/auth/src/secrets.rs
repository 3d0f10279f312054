//! Secrets at rest: XChaCha20-Poly1305 under keys that never enter the
//! database.
//!
//! A [`SecretBox`] holds one or more named 32-byte keys. The first encrypts;
//! every key decrypts, so keys can be rotated: put the new key first, run
//! `curatore-server secrets rotate`, then drop the old one. A sealed value is
//! text, `v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`, with a random
//! 192-bit nonce per value (XChaCha's nonce is long enough to draw at random
//! without counting). The version and key id are bound into the tag as
//! associated data, so a value cannot be relabelled to another key.
//!
//! A wrong key, a truncated or altered value, or an unknown key id is an
//! error ([`SecretsError`]) that names the key id, never garbage plaintext.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::fmt;

/// The version tag of the sealed form.
const VERSION: &str = "v1";
/// XChaCha20's nonce length.
const NONCE_LEN: usize = 24;
/// Poly1305's tag length.
const TAG_LEN: usize = 16;
/// Bytes in a key.
pub const SECRET_KEY_LEN: usize = 32;

/// Why a secret could not be sealed or opened. Never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// No key was given.
    #[error("no secrets encryption key is configured")]
    NoKey,
    /// Two keys share an id.
    #[error("the secrets encryption key id `{0}` is used twice")]
    DuplicateKeyId(String),
    /// A key id is empty or holds other than letters, digits, `-` and `_`.
    #[error("the secrets encryption key id `{0}` must be 1-32 letters, digits, `-` or `_`")]
    BadKeyId(String),
    /// The value was sealed under a key id this box does not hold.
    #[error(
        "a stored secret was encrypted with key `{0}`, which is not configured in SECRETS_ENCRYPTION_KEY"
    )]
    UnknownKey(String),
    /// The key with the right id does not open the value: a different key
    /// under the same id, or an altered value.
    #[error(
        "a stored secret does not decrypt with key `{0}`: the key is not the one it was encrypted with, or the value was altered"
    )]
    WrongKey(String),
    /// The value is not in the sealed form at all.
    #[error("a stored secret is not in the encrypted form (v1:<key id>:<base64>)")]
    Malformed,
}

/// One named key.
struct NamedKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// Seals and opens secrets under one or more named keys; the first seals.
/// `Debug` shows the key ids only.
pub struct SecretBox {
    keys: Vec<NamedKey>,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl SecretBox {
    /// A box over `keys`, the first of which seals new values.
    ///
    /// # Errors
    /// [`SecretsError::NoKey`] for an empty list, [`SecretsError::BadKeyId`]
    /// and [`SecretsError::DuplicateKeyId`] for bad ids.
    pub fn new<I, S>(keys: I) -> Result<Self, SecretsError>
    where
        I: IntoIterator<Item = (S, [u8; SECRET_KEY_LEN])>,
        S: Into<String>,
    {
        let mut named: Vec<NamedKey> = Vec::new();
        for (id, key) in keys {
            let id = id.into();
            if !valid_id(&id) {
                return Err(SecretsError::BadKeyId(id));
            }
            if named.iter().any(|k| k.id == id) {
                return Err(SecretsError::DuplicateKeyId(id));
            }
            named.push(NamedKey {
                id,
                cipher: XChaCha20Poly1305::new(&key.into()),
            });
        }
        if named.is_empty() {
            return Err(SecretsError::NoKey);
        }
        Ok(Self { keys: named })
    }

    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate_key() -> [u8; SECRET_KEY_LEN] {
        let mut key = [0u8; SECRET_KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        key
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    /// Every key id, the sealing one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Whether `value` looks sealed (`v1:<id>:…`); says nothing of which key.
    pub fn is_sealed(value: &str) -> bool {
        Self::split(value).is_some()
    }

    /// The key id a sealed value names, if it is in the sealed form.
    pub fn key_id_of(value: &str) -> Option<&str> {
        Self::split(value).map(|(id, _)| id)
    }

    fn split(value: &str) -> Option<(&str, &str)> {
        let rest = value.strip_prefix(VERSION)?.strip_prefix(':')?;
        let (id, data) = rest.split_once(':')?;
        valid_id(id).then_some((id, data))
    }

    /// Seals `plaintext` under the first key.
    pub fn seal(&self, plaintext: &str) -> String {
        // `new` refuses an empty list, so there is always a first key.
        let Some(key) = self.keys.first() else {
            return String::new();
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = format!("{VERSION}:{}", key.id);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        // Encryption with a valid key and an in-memory buffer cannot fail.
        let ciphertext = key
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        format!("{aad}:{}", STANDARD.encode(out))
    }

    /// Opens a value sealed by [`SecretBox::seal`] under any of the keys.
    ///
    /// # Errors
    /// [`SecretsError::Malformed`], [`SecretsError::UnknownKey`] or
    /// [`SecretsError::WrongKey`].
    pub fn open(&self, sealed: &str) -> Result<String, SecretsError> {
        let (id, data) = Self::split(sealed).ok_or(SecretsError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SecretsError::UnknownKey(id.to_owned()))?;
        let bytes = STANDARD.decode(data).map_err(|_| SecretsError::Malformed)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretsError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let aad = format!("{VERSION}:{id}");
        let plaintext = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::WrongKey(id.to_owned()))?;
        String::from_utf8(plaintext).map_err(|_| SecretsError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(ids: &[&str]) -> SecretBox {
        SecretBox::new(
            ids.iter()
                .enumerate()
                .map(|(i, id)| (*id, [i as u8 + 1; 32])),
        )
        .unwrap()
    }

    #[test]
    fn a_sealed_value_opens_and_hides_the_plaintext() {
        let b = boxed(&["k1"]);
        let sealed = b.seal("sk-very-secret");
        assert!(sealed.starts_with("v1:k1:"), "{sealed}");
        assert!(!sealed.contains("sk-very-secret"));
        assert_ne!(sealed, b.seal("sk-very-secret"), "a fresh nonce each time");
        assert_eq!(b.open(&sealed).unwrap(), "sk-very-secret");
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let old = boxed(&["old"]);
        let sealed_old = old.seal("a");
        let both = SecretBox::new([("new", [9u8; 32]), ("old", [1u8; 32])]).unwrap();
        assert_eq!(both.current_key_id(), "new");
        assert_eq!(both.open(&sealed_old).unwrap(), "a");
        assert!(both.seal("b").starts_with("v1:new:"));
    }

    #[test]
    fn a_wrong_key_or_an_altered_value_is_an_error_not_garbage() {
        let sealed = boxed(&["k1"]).seal("secret");
        let other = SecretBox::new([("k1", [7u8; 32])]).unwrap();
        assert_eq!(
            other.open(&sealed),
            Err(SecretsError::WrongKey("k1".into()))
        );
        let unknown = boxed(&["k2"]);
        assert_eq!(
            unknown.open(&sealed),
            Err(SecretsError::UnknownKey("k1".into()))
        );
        // Relabelling to another key id breaks the tag.
        let both = SecretBox::new([("k1", [1u8; 32]), ("k2", [1u8; 32])]).unwrap();
        let relabelled = sealed.replacen("v1:k1:", "v1:k2:", 1);
        assert_eq!(
            both.open(&relabelled),
            Err(SecretsError::WrongKey("k2".into()))
        );
        assert_eq!(boxed(&["k1"]).open("plain"), Err(SecretsError::Malformed));
        assert_eq!(
            boxed(&["k1"]).open("v1:k1:AAAA"),
            Err(SecretsError::Malformed)
        );
    }

    #[test]
    fn ids_are_checked_and_debug_shows_no_key() {
        assert_eq!(
            SecretBox::new(Vec::<(String, [u8; 32])>::new()).unwrap_err(),
            SecretsError::NoKey
        );
        assert!(matches!(
            SecretBox::new([("a b", [0u8; 32])]),
            Err(SecretsError::BadKeyId(_))
        ));
        assert!(matches!(
            SecretBox::new([("a", [0u8; 32]), ("a", [1u8; 32])]),
            Err(SecretsError::DuplicateKeyId(_))
        ));
        let debug = format!("{:?}", boxed(&["k1"]));
        assert_eq!(debug, r#"SecretBox { key_ids: ["k1"] }"#);
    }
}
