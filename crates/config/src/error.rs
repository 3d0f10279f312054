/// Why the settings could not be loaded.
///
/// Every message names the variable or file at fault and where the value came
/// from, so an operator can fix it without reading code. No message ever
/// contains the value of a secret (`JWT_SECRET_KEY`, `ADMIN_PASSWORD`, the
/// credentials of a `DATABASE_URL`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable holds a value its type or rule refuses.
    #[error("invalid {variable} from {origin}: {problem}")]
    Invalid {
        /// The variable as it is spelled in the environment (`DB_POOL_SIZE`).
        variable: &'static str,
        /// Where the value came from (`environment variable`, `.env file at …`, a TOML file's path).
        origin: String,
        /// What is wrong with the value, in words an operator can act on.
        problem: String,
    },
    /// A TOML settings file holds a key that is not a setting (usually a typo).
    #[error("unknown setting `{key}` in {file}: {hint}")]
    UnknownKey {
        /// The key as written in the file.
        key: String,
        /// The file's path.
        file: String,
        /// A likely correction, or how keys are spelled.
        hint: String,
    },
    /// A settings file exists but cannot be read or parsed.
    #[error("cannot load {file}: {problem}")]
    File {
        /// The file's path.
        file: String,
        /// What went wrong (never the offending line's text, which may hold a secret).
        problem: String,
    },
}
