use crate::cli::Failure;
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use curatore_config::Settings;
use curatore_domain::{PasswordHash, Secret};
use rand::Rng;
use rand::distr::Alphanumeric;

/// Hashes a password with argon2id at the configured cost, off the async
/// executor (it takes tens of milliseconds and ~19 MiB by design).
pub async fn hash(settings: &Settings, password: Secret) -> Result<PasswordHash, Failure> {
    let params = Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        None,
    )
    .map_err(|e| {
        Failure::Config(format!(
            "ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM: {e}"
        ))
    })?;
    let phc = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| Failure::Runtime(format!("password hashing stopped: {e}")))?
    .map_err(|e| Failure::Runtime(format!("password hashing failed: {e}")))?;
    Ok(PasswordHash::new(phc))
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
