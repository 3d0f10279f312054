use crate::cli::Failure;
use curatore_auth::{Argon2Settings, PasswordHasher};
use curatore_config::Settings;
use curatore_domain::Secret;
use rand::Rng;
use rand::distr::Alphanumeric;

/// The argon2id hasher at the configured cost.
pub fn hasher(settings: &Settings) -> Result<PasswordHasher, Failure> {
    PasswordHasher::new(Argon2Settings {
        memory_kib: settings.argon2_memory_kib,
        iterations: settings.argon2_iterations,
        parallelism: settings.argon2_parallelism,
    })
    .map_err(|e| {
        Failure::Config(format!(
            "ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM: {e}"
        ))
    })
}

/// A password nobody has to guess: 24 base62 characters, about 142 bits.
pub fn generate() -> Secret {
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    Secret::new(password)
}
