//! Password policy and argon2id hashing on a bounded blocking pool.
//!
//! Hashing is deliberately expensive (tens of milliseconds and ~19 MiB each),
//! so it runs on tokio's blocking pool behind a semaphore sized to the CPU
//! count, and an admission limit turns overload into [`AuthError::Busy`]
//! instead of an unbounded queue.

use crate::error::AuthError;
use argon2::password_hash::{
    self, PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use curatore_domain::{PasswordHash, Secret};
use rand::Rng;
use rand::distr::Alphanumeric;
use std::fmt;
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

/// How many hash requests may wait for a CPU beyond the ones running.
const QUEUE_BOUND: usize = 64;

/// Argon2id cost parameters, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    /// Memory cost in KiB (`m`).
    pub memory_kib: u32,
    /// Number of passes (`t`).
    pub iterations: u32,
    /// Degree of parallelism (`p`).
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    /// The OWASP minimum for argon2id: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Which passwords are accepted (ASVS 5.0 V6.2): a length floor in Unicode
/// characters and a byte cap so hashing cannot be used to exhaust the CPU; no
/// composition rules, no trimming, no case folding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest Unicode scalar values accepted (default 8).
    pub min_chars: usize,
    /// Most UTF-8 bytes accepted (default 1024).
    pub max_bytes: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 8,
            max_bytes: 1024,
        }
    }
}

impl PasswordPolicy {
    /// Checks a new password against the policy; the error message is safe to
    /// show the user and never contains the password.
    pub fn check(&self, password: &Secret) -> Result<(), AuthError> {
        let value = password.expose();
        if value.len() > self.max_bytes {
            return Err(AuthError::PasswordPolicy(format!(
                "password must be at most {} bytes",
                self.max_bytes
            )));
        }
        if value.chars().count() < self.min_chars {
            return Err(AuthError::PasswordPolicy(format!(
                "password must be at least {} characters",
                self.min_chars
            )));
        }
        Ok(())
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password matches.
    Valid {
        /// The stored hash is weaker than the configured parameters (or not
        /// argon2id v19); store a fresh hash while the password is at hand.
        needs_rehash: bool,
    },
    /// The password does not match, or the stored hash is unusable.
    Invalid,
}

/// Hashes and verifies passwords off the async executor with bounded
/// concurrency; clones share the same pool limits and dummy hash.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Argon2Settings,
    params: Params,
    /// One permit per core: how many hashes run at once.
    cpu: Arc<Semaphore>,
    /// Running plus waiting requests; full means [`AuthError::Busy`].
    admission: Arc<Semaphore>,
    cores: usize,
    queue_bound: usize,
    /// Hash of a random password with the configured parameters, for
    /// [`PasswordHasher::verify_dummy`].
    dummy: OnceCell<PasswordHash>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("settings", &self.inner.settings)
            .field("cores", &self.inner.cores)
            .field("queue_bound", &self.inner.queue_bound)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Validates the argon2 parameters and sizes the pool: as many concurrent
    /// hashes as there are cores, and at most 64 more waiting.
    pub fn new(settings: Argon2Settings) -> Result<Self, AuthError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_limits(settings, cores, QUEUE_BOUND)
    }

    fn with_limits(
        settings: Argon2Settings,
        cores: usize,
        queue_bound: usize,
    ) -> Result<Self, AuthError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| AuthError::Hashing(format!("invalid argon2 parameters: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                params,
                cpu: Arc::new(Semaphore::new(cores)),
                admission: Arc::new(Semaphore::new(cores + queue_bound)),
                cores,
                queue_bound,
                dummy: OnceCell::new(),
            }),
        })
    }

    /// The configured cost parameters.
    pub fn settings(&self) -> Argon2Settings {
        self.inner.settings
    }

    /// Hashes a password with argon2id v19 and a fresh random salt, returning
    /// the PHC string to store.
    pub async fn hash(&self, password: &Secret) -> Result<PasswordHash, AuthError> {
        let params = self.inner.params.clone();
        let password = password.clone();
        let phc = self
            .run_blocking(move || {
                let salt = SaltString::generate(&mut OsRng);
                argon2id(params)
                    .hash_password(password.expose().as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| AuthError::Hashing(e.to_string()))
            })
            .await??;
        Ok(PasswordHash::new(phc))
    }

    /// Checks a password against a stored hash. A malformed stored hash is
    /// [`PasswordCheck::Invalid`] (logged as a warning), never a panic.
    pub async fn verify(
        &self,
        password: &Secret,
        hash: &PasswordHash,
    ) -> Result<PasswordCheck, AuthError> {
        let configured = self.inner.settings;
        let password = password.clone();
        let stored = hash.as_str().to_owned();
        self.run_blocking(move || verify_blocking(&password, &stored, configured))
            .await
    }

    /// Verifies against a dummy hash with the configured parameters and
    /// discards the result, so a login for an unknown user costs the same time
    /// as one for a known user with a wrong password.
    ///
    /// The dummy hash is computed once, on first use (or by
    /// [`PasswordHasher::warm_up`]).
    ///
    /// # Errors
    /// [`AuthError::Busy`] exactly when a real verification would fail with
    /// it, so callers answer both cases alike (no account enumeration).
    pub async fn verify_dummy(&self, password: &Secret) -> Result<(), AuthError> {
        let dummy = self.dummy_hash().await?;
        self.verify(password, &dummy).await.map(|_| ())
    }

    /// Computes the dummy hash ahead of time, so the first unknown-user login
    /// does not pay for two hashes.
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        self.dummy_hash().await.map(|_| ())
    }

    async fn dummy_hash(&self) -> Result<PasswordHash, AuthError> {
        self.inner
            .dummy
            .get_or_try_init(|| async {
                let random: String = rand::rng()
                    .sample_iter(Alphanumeric)
                    .take(32)
                    .map(char::from)
                    .collect();
                self.hash(&Secret::new(random)).await
            })
            .await
            .cloned()
    }

    /// Runs `work` on the blocking pool once admitted and a CPU permit is
    /// free; answers [`AuthError::Busy`] at once when admission is full.
    async fn run_blocking<T, F>(&self, work: F) -> Result<T, AuthError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = Arc::clone(&self.inner.admission)
            .try_acquire_owned()
            .map_err(|_| AuthError::Busy)?;
        let cpu = Arc::clone(&self.inner.cpu)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Hashing("hashing pool closed".into()))?;
        tokio::task::spawn_blocking(move || {
            // Held until the work is done, even if the caller stops waiting,
            // so the permits always match the CPU actually in use.
            let _permits = (admitted, cpu);
            work()
        })
        .await
        .map_err(|e| AuthError::Hashing(format!("hashing task failed: {e}")))
    }
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn verify_blocking(password: &Secret, stored: &str, configured: Argon2Settings) -> PasswordCheck {
    let parsed = match password_hash::PasswordHash::new(stored) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is not a valid PHC string");
            return PasswordCheck::Invalid;
        }
    };
    // The algorithm, version and cost come from the stored hash itself.
    match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => PasswordCheck::Valid {
            needs_rehash: needs_rehash(&parsed, configured),
        },
        Err(password_hash::Error::Password) => PasswordCheck::Invalid,
        Err(e) => {
            tracing::warn!(
                error = %e,
                algorithm = %parsed.algorithm,
                "stored password hash cannot be verified"
            );
            PasswordCheck::Invalid
        }
    }
}

fn needs_rehash(parsed: &password_hash::PasswordHash<'_>, configured: Argon2Settings) -> bool {
    if parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13.into())
    {
        return true;
    }
    match Params::try_from(parsed) {
        Ok(stored) => {
            stored.m_cost() < configured.memory_kib
                || stored.t_cost() < configured.iterations
                || stored.p_cost() < configured.parallelism
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters so the tests stay fast.
    const CHEAP: Argon2Settings = Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    fn secret(s: &str) -> Secret {
        Secret::new(s)
    }

    #[test]
    fn policy_counts_characters_without_trimming() {
        let p = PasswordPolicy::default();
        assert!(p.check(&secret("1234567")).is_err());
        assert!(p.check(&secret("12345678")).is_ok());
        // Seven two-byte characters: 14 bytes but only 7 characters.
        assert!(p.check(&secret("ééééééé")).is_err());
        assert!(p.check(&secret("éééééééé")).is_ok());
        assert!(p.check(&secret("🔑🔑🔑🔑🔑🔑🔑🔑")).is_ok());
        // Spaces count; nothing is trimmed.
        assert!(p.check(&secret("       a")).is_ok());
        assert!(p.check(&secret("")).is_err());
        assert!(p.check(&secret("password")).is_ok());
    }

    #[test]
    fn policy_caps_bytes_and_never_echoes_the_password() {
        let p = PasswordPolicy::default();
        assert!(p.check(&secret(&"a".repeat(1024))).is_ok());
        assert!(p.check(&secret(&"a".repeat(64))).is_ok());
        let too_long = "é".repeat(513); // 1026 bytes
        let err = p.check(&secret(&too_long)).unwrap_err();
        assert!(matches!(err, AuthError::PasswordPolicy(_)));
        assert!(!err.to_string().contains('é'));
        let short = p.check(&secret("hunter2")).unwrap_err().to_string();
        assert!(!short.contains("hunter2"));
        assert_eq!(short, "password must be at least 8 characters");
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let bad = Argon2Settings {
            memory_kib: 1,
            iterations: 0,
            parallelism: 0,
        };
        assert!(matches!(
            PasswordHasher::new(bad),
            Err(AuthError::Hashing(_))
        ));
        assert!(PasswordHasher::new(Argon2Settings::default()).is_ok());
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let hash = hasher.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            hasher
                .verify(&secret("correct horse"), &hash)
                .await
                .unwrap(),
            PasswordCheck::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(&secret("correct horsE"), &hash)
                .await
                .unwrap(),
            PasswordCheck::Invalid
        );
        // Salts are random.
        let again = hasher.hash(&secret("correct horse")).await.unwrap();
        assert_ne!(hash, again);
    }

    #[tokio::test]
    async fn default_parameters_hash_at_the_owasp_minimum() {
        let hasher = PasswordHasher::new(Argon2Settings::default()).unwrap();
        let hash = hasher.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[tokio::test]
    async fn weaker_stored_parameters_need_a_rehash() {
        let weak = PasswordHasher::new(CHEAP).unwrap();
        let stronger = PasswordHasher::new(Argon2Settings {
            memory_kib: 2048,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        let hash = weak.hash(&secret("correct horse")).await.unwrap();
        assert_eq!(
            stronger
                .verify(&secret("correct horse"), &hash)
                .await
                .unwrap(),
            PasswordCheck::Valid { needs_rehash: true }
        );
        assert_eq!(
            stronger.verify(&secret("wrong"), &hash).await.unwrap(),
            PasswordCheck::Invalid
        );
        // A stronger stored hash is kept.
        let strong_hash = stronger.hash(&secret("correct horse")).await.unwrap();
        assert_eq!(
            weak.verify(&secret("correct horse"), &strong_hash)
                .await
                .unwrap(),
            PasswordCheck::Valid {
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn other_argon2_variants_need_a_rehash() {
        let params = Params::new(1024, 1, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        assert_eq!(
            hasher
                .verify(&secret("correct horse"), &PasswordHash::new(argon2i))
                .await
                .unwrap(),
            PasswordCheck::Valid { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn malformed_stored_hashes_are_invalid_not_panics() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        for stored in [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$!!!",
            "$argon2id$v=19$m=0,t=0,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$bcrypt$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ] {
            assert_eq!(
                hasher
                    .verify(&secret("anything"), &PasswordHash::new(stored))
                    .await
                    .unwrap(),
                PasswordCheck::Invalid,
                "{stored}"
            );
        }
    }

    #[tokio::test]
    async fn dummy_verification_is_computed_once_and_reused() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        hasher.verify_dummy(&secret("whatever")).await.unwrap();
        let first = hasher.inner.dummy.get().cloned().unwrap();
        assert!(first.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        let clone = hasher.clone();
        clone.verify_dummy(&secret("other")).await.unwrap();
        assert_eq!(clone.inner.dummy.get(), Some(&first));
        assert!(hasher.warm_up().await.is_ok());
    }

    #[tokio::test]
    async fn full_admission_answers_busy_immediately() {
        let hasher = PasswordHasher::with_limits(CHEAP, 1, 2).unwrap();
        let held = Arc::clone(&hasher.inner.admission)
            .try_acquire_many_owned(3)
            .unwrap();
        assert!(matches!(
            hasher.hash(&secret("correct horse")).await,
            Err(AuthError::Busy)
        ));
        let hash = PasswordHash::new("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA");
        assert!(matches!(
            hasher.verify(&secret("x"), &hash).await,
            Err(AuthError::Busy)
        ));
        // Unknown users get the same Busy as known ones: no enumeration.
        assert!(matches!(
            hasher.verify_dummy(&secret("x")).await,
            Err(AuthError::Busy)
        ));
        assert!(hasher.inner.dummy.get().is_none());
        drop(held);
        assert!(hasher.hash(&secret("correct horse")).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_within_the_bound_all_succeed() {
        let hasher = PasswordHasher::with_limits(CHEAP, 1, 16).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(&Secret::new(format!("password{i}"))).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(hasher.inner.admission.available_permits(), 17);
        assert_eq!(hasher.inner.cpu.available_permits(), 1);
    }

    #[test]
    fn debug_shows_settings_only() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let debug = format!("{hasher:?}");
        assert!(debug.contains("memory_kib: 1024"));
    }
}
