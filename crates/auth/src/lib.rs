//! Curatore's security primitives, kept apart from the web framework and the
//! ORM so they can be reviewed, tested and reused on their own.
//!
//! - [`passwords`]: argon2id hashing and verification with a password policy,
//!   run on a bounded blocking pool so logins cannot starve the async executor
//!   or queue without limit.
//! - [`tokens`]: short-lived JWT access tokens with strict validation (pinned
//!   algorithm, required `exp`/`nbf`/`iss`/`aud`/`sub`, a `typ` claim).
//! - [`refresh`]: opaque refresh tokens, stored only as SHA-256.
//! - [`api_keys`]: GitHub-style API keys with a CRC32 checksum so mistyped
//!   keys are rejected without a database query.
//! - [`secrets`]: XChaCha20-Poly1305 sealing of stored secrets under named,
//!   rotatable keys.
//!
//! Nothing here performs I/O apart from drawing from the operating system's
//! CSPRNG and running hashes on tokio's blocking pool; storage and transport
//! belong to the callers.
//!
//! ```
//! use curatore_auth::{ApiKeyFormat, SecretBox};
//!
//! // Stored secrets are sealed under a named key and say so, so any process
//! // holding the keys can open or re-seal them, whatever they belong to.
//! let old = SecretBox::new([("k1", SecretBox::generate_key())])?;
//! let sealed = old.seal("sk-live-123");
//! assert!(SecretBox::is_sealed(&sealed) && !sealed.contains("sk-live"));
//! assert_eq!(SecretBox::key_id_of(&sealed), Some("k1"));
//!
//! // Rotation: a new key seals, the old one still opens until dropped.
//! let k2 = SecretBox::generate_key();
//! let alone = SecretBox::new([("k2", k2)])?;
//! assert!(alone.open(&sealed).is_err(), "k2 alone cannot open k1's seal");
//! assert_eq!(old.open(&sealed)?, "sk-live-123");
//!
//! // API keys carry a checksum: a typo is refused without a database query.
//! let format = ApiKeyFormat::new("cur_");
//! let generated = format.generate();
//! let key = generated.key.expose().to_owned();
//! assert_eq!(format.check(&key)?, generated.hash);
//! let mut typo = key.clone();
//! typo.replace_range(6..7, if &key[6..7] == "a" { "b" } else { "a" });
//! assert!(format.check(&typo).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod api_keys;
mod digest;
mod error;
mod hmac_jwt;
pub mod passphrase;
pub mod passwords;
pub mod refresh;
pub mod secrets;
pub mod tokens;

pub use api_keys::{ApiKeyError, ApiKeyFormat, GeneratedApiKey, constant_time_eq, original_key};
pub use error::AuthError;
pub use passphrase::{MIN_PASSPHRASE_LEN, PassphraseBox, PassphraseError, PassphraseParams};
pub use passwords::{
    Argon2Settings, PasswordCheck, PasswordHasher, PasswordPolicy, random_password,
};
pub use refresh::{
    NewRefreshToken, REFRESH_TOKEN_PREFIX, RESET_TOKEN_PREFIX, RefreshSuccessorKey,
    generate_refresh_token, generate_reset_token, hash_refresh_token,
};
pub use secrets::{SECRET_KEY_LEN, SecretBox, SecretsError};
pub use tokens::{
    AccessClaims, IssuedAccessToken, SigningAlgorithm, TokenError, TokenSettings, TokenSigner,
};
