//! Secrets sealed under a passphrase, for export files that leave the
//! server.
//!
//! A [`PassphraseBox`] derives a 32-byte key from a passphrase and a random
//! 16-byte salt with argon2id, then seals and opens values exactly as a
//! [`SecretBox`] does (XChaCha20-Poly1305, a random nonce per value), under
//! the key id `export`. The salt and the argon2 parameters travel with the
//! file ([`PassphraseParams`]) so the importer derives the same key. A wrong
//! passphrase is [`SecretsError::WrongKey`], never garbage plaintext.

use crate::secrets::{SECRET_KEY_LEN, SecretBox, SecretsError};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The fewest characters a passphrase may have.
pub const MIN_PASSPHRASE_LEN: usize = 12;
/// The key id sealed values carry.
const KEY_ID: &str = "export";
/// The most memory a document may ask the key derivation for (1 GiB).
const MAX_MEMORY_KIB: u32 = 1 << 20;
/// The most argon2 passes a document may ask for.
const MAX_PASSES: u32 = 16;
/// The most argon2 lanes a document may ask for.
const MAX_LANES: u32 = 16;
/// Salt bytes.
const SALT_LEN: usize = 16;

/// How the key was derived: stored in the export document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassphraseParams {
    /// Always `argon2id`.
    pub algorithm: String,
    /// The salt, base64.
    pub salt: String,
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// Why a passphrase box could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseError {
    /// Fewer than [`MIN_PASSPHRASE_LEN`] characters.
    #[error("the passphrase must have at least {MIN_PASSPHRASE_LEN} characters")]
    TooShort,
    /// Unknown algorithm, bad salt or parameters argon2 refuses.
    #[error("the key derivation parameters are not valid: {0}")]
    BadParams(String),
}

/// Seals and opens values under a key derived from a passphrase. `Debug`
/// shows the parameters only.
pub struct PassphraseBox {
    params: PassphraseParams,
    inner: SecretBox,
}

impl fmt::Debug for PassphraseBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseBox")
            .field("params", &self.params)
            .finish()
    }
}

impl PassphraseBox {
    /// A box with a fresh salt and the default parameters (argon2id,
    /// 64 MiB, 3 passes, 1 lane).
    ///
    /// # Errors
    /// [`PassphraseError::TooShort`].
    pub fn create(passphrase: &str) -> Result<Self, PassphraseError> {
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        Self::open_with(
            passphrase,
            PassphraseParams {
                algorithm: "argon2id".into(),
                salt: STANDARD.encode(salt),
                memory_kib: 65_536,
                iterations: 3,
                parallelism: 1,
            },
        )
    }

    /// The box a document's `params` describe.
    ///
    /// # Errors
    /// [`PassphraseError::TooShort`] or [`PassphraseError::BadParams`].
    pub fn open_with(passphrase: &str, params: PassphraseParams) -> Result<Self, PassphraseError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_LEN {
            return Err(PassphraseError::TooShort);
        }
        if params.algorithm != "argon2id" {
            return Err(PassphraseError::BadParams(format!(
                "unknown algorithm `{}`",
                params.algorithm
            )));
        }
        // The parameters come from a file: bound what it may make us spend.
        if params.memory_kib > MAX_MEMORY_KIB
            || !(1..=MAX_PASSES).contains(&params.iterations)
            || !(1..=MAX_LANES).contains(&params.parallelism)
        {
            return Err(PassphraseError::BadParams(format!(
                "at most {MAX_MEMORY_KIB} KiB, 1-{MAX_PASSES} passes and 1-{MAX_LANES} lanes"
            )));
        }
        let salt = STANDARD
            .decode(&params.salt)
            .map_err(|_| PassphraseError::BadParams("the salt is not base64".into()))?;
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(
                params.memory_kib,
                params.iterations,
                params.parallelism,
                Some(SECRET_KEY_LEN),
            )
            .map_err(|e| PassphraseError::BadParams(e.to_string()))?,
        );
        let mut key = [0u8; SECRET_KEY_LEN];
        argon
            .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
            .map_err(|e| PassphraseError::BadParams(e.to_string()))?;
        let inner = SecretBox::new([(KEY_ID, key)])
            .map_err(|e| PassphraseError::BadParams(e.to_string()))?;
        Ok(Self { params, inner })
    }

    /// The parameters to store next to the sealed values.
    pub fn params(&self) -> &PassphraseParams {
        &self.params
    }

    /// Seals `plaintext`.
    pub fn seal(&self, plaintext: &str) -> String {
        self.inner.seal(plaintext)
    }

    /// Opens a value sealed by [`PassphraseBox::seal`] with the same
    /// passphrase and parameters.
    ///
    /// # Errors
    /// [`SecretsError::WrongKey`] for a wrong passphrase or altered value,
    /// [`SecretsError::Malformed`] or [`SecretsError::UnknownKey`].
    pub fn open(&self, sealed: &str) -> Result<String, SecretsError> {
        self.inner.open(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap(passphrase: &str, salt: &str) -> Result<PassphraseBox, PassphraseError> {
        PassphraseBox::open_with(
            passphrase,
            PassphraseParams {
                algorithm: "argon2id".into(),
                salt: salt.into(),
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
        )
    }

    #[test]
    fn the_same_passphrase_and_params_open_what_was_sealed() {
        let a = cheap("correct horse battery", "c2FsdHNhbHRzYWx0c2FsdA==").unwrap();
        let sealed = a.seal("sk-live-123456");
        assert!(!sealed.contains("sk-live-123456"));
        let b = cheap("correct horse battery", "c2FsdHNhbHRzYWx0c2FsdA==").unwrap();
        assert_eq!(b.open(&sealed).unwrap(), "sk-live-123456");
    }

    #[test]
    fn a_wrong_passphrase_is_an_error_and_short_ones_are_refused() {
        let a = cheap("correct horse battery", "c2FsdHNhbHRzYWx0c2FsdA==").unwrap();
        let sealed = a.seal("sk-live-123456");
        let wrong = cheap("incorrect horse battery", "c2FsdHNhbHRzYWx0c2FsdA==").unwrap();
        assert_eq!(
            wrong.open(&sealed),
            Err(SecretsError::WrongKey("export".into()))
        );
        assert_eq!(
            cheap("short", "c2FsdHNhbHRzYWx0c2FsdA==").err(),
            Some(PassphraseError::TooShort)
        );
        let shown = format!("{a:?}");
        assert!(!shown.contains("correct horse"), "{shown}");
    }

    #[test]
    fn a_fresh_box_draws_a_new_salt() {
        let a = PassphraseBox::create("correct horse battery").unwrap();
        let b = PassphraseBox::create("correct horse battery").unwrap();
        assert_ne!(a.params().salt, b.params().salt);
        assert!(b.open(&a.seal("x")).is_err());
    }

    #[test]
    fn a_document_cannot_ask_for_unbounded_work() {
        let huge = PassphraseBox::open_with(
            "correct horse battery",
            PassphraseParams {
                algorithm: "argon2id".into(),
                salt: "c2FsdHNhbHRzYWx0c2FsdA==".into(),
                memory_kib: u32::MAX,
                iterations: 1,
                parallelism: 1,
            },
        );
        assert!(matches!(huge, Err(PassphraseError::BadParams(_))));
    }
}
