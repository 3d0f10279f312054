//! Curatore's settings: one typed [`Settings`] value, loaded in layers.
//!
//! Precedence, lowest first: built-in defaults, `config/default.toml`,
//! `config/<CURATORE_ENV>.toml`, a `.env` file, the process environment. The
//! variable names are those of the Python system's `.env`, so an existing
//! deployment keeps working; TOML keys are the same names in lower case.
//!
//! Loading never mutates the process environment and takes the environment as
//! a map ([`ConfigSource`]), so tests can load settings side by side. Errors
//! name the variable, the problem and the layer it came from, and never echo a
//! secret. This crate depends only on `curatore-domain`: it knows nothing of the
//! database driver or the web framework.
//!
//! ```
//! use std::collections::BTreeMap;
//! use curatore_config::{ConfigError, ConfigSource, Settings};
//!
//! // A root without config/ or .env: the defaults, then this map as the environment.
//! let dir = std::env::temp_dir().join("curatore-doc-no-such-dir");
//! let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
//!     pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
//! };
//!
//! let loaded = Settings::load_from(&ConfigSource::new(&dir, env(&[("DB_POOL_SIZE", "7")])))?;
//! assert_eq!(loaded.settings.db_pool_size, Some(7));
//! let shown = loaded.describe().into_iter().find(|v| v.name == "DB_POOL_SIZE").unwrap();
//! assert_eq!((shown.value.as_str(), shown.source.as_str()), ("7", "environment"));
//!
//! // A bad value is refused with the variable named, and where it came from.
//! let err = Settings::load_from(&ConfigSource::new(&dir, env(&[("DB_POOL_SIZE", "many")])))
//!     .unwrap_err();
//! assert!(matches!(err, ConfigError::Invalid { variable: "DB_POOL_SIZE", .. }), "{err}");
//! # Ok::<(), ConfigError>(())
//! ```

mod error;
mod load;
mod secret_key_source;
mod secret_keys;
mod settings;
mod values;

pub use error::ConfigError;
pub use load::{CONFIG_DIR_VARIABLE, ConfigSource, LoadedSettings, SettingView};
pub use secret_key_source::{
    KeyFileMode, ResolvedSecretKeys, SecretKeysError, SecretKeysOrigin, key_file_for,
    resolve_secret_keys,
};
pub use secret_keys::{DEFAULT_SECRET_KEY_ID, SECRET_KEY_BYTES, SecretKeys};
pub use settings::{DEFAULT_DATABASE_URL, JWT_SECRET_MIN_BYTES, JWT_SECRET_PLACEHOLDER, Settings};
pub use values::{
    CorsOriginRegex, CorsOrigins, DEFAULT_CORS_ORIGIN_REGEX, HealthDetails, JwtAlgorithm, LogFormat,
};

#[cfg(test)]
mod tests;
