//! Password policy and argon2id hashing on a bounded pool of worker threads.
//!
//! Hashing is deliberately expensive (tens of milliseconds and ~19 MiB each),
//! so it runs on one dedicated thread per core, off the async executor, and an
//! admission limit turns overload into [`AuthError::Busy`] instead of an
//! unbounded queue. During a burst each worker reuses its argon2 memory from
//! one hash to the next; when its queue is empty it frees it, so memory is
//! bounded by cores × `ARGON2_MEMORY_KIB` while logins run and an idle
//! server holds none. The block is reserved large enough to always be a
//! mapping of its own, returned to the system when freed (glibc keeps
//! smaller freed blocks in per-thread arenas: a burst of logins once left
//! the process hundreds of MiB larger when each hash allocated afresh).

use crate::error::AuthError;
use argon2::password_hash::{self, ParamsString, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use curatore_domain::{PasswordHash, Secret};
use rand::Rng;
use rand::distr::Alphanumeric;
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::{OnceCell, Semaphore};

/// How many hash requests may wait for a CPU beyond the ones running: enough
/// that a burst of a few hundred concurrent logins queues (each waiting one
/// costs a few hundred bytes; only running ones hold argon2's memory), small
/// enough that a flood is refused quickly rather than timing out.
const QUEUE_BOUND: usize = 512;

/// A password nobody has to guess: `len` base62 characters from a CSPRNG
/// (about 5.95 bits each; 24 give ~142 bits).
pub fn random_password(len: usize) -> Secret {
    let password: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    Secret::new(password)
}

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

/// Work for a hashing thread: it gets the thread's reusable argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

struct Inner {
    settings: Argon2Settings,
    params: Params,
    /// Feeds the worker threads; dropping it ends them.
    jobs: Mutex<mpsc::Sender<Job>>,
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
    /// hashes as there are cores, and at most 512 more waiting.
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
        .map_err(|e| AuthError::Internal(format!("invalid argon2 parameters: {e}")))?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let admission = Arc::new(Semaphore::new(cores + queue_bound));
        for n in 0..cores.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("curatore-argon2-{n}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        // The lock is held only while waiting for the next
                        // job: held by another thread means that one waits
                        // for work, so none is queued and the memory can go.
                        let rx = match receiver.try_lock() {
                            Ok(rx) => rx,
                            Err(std::sync::TryLockError::WouldBlock) => {
                                release(&mut memory);
                                let Ok(rx) = receiver.lock() else { break };
                                rx
                            }
                            Err(std::sync::TryLockError::Poisoned(_)) => break,
                        };
                        let job = match rx.try_recv() {
                            Ok(job) => job,
                            Err(mpsc::TryRecvError::Disconnected) => break,
                            Err(mpsc::TryRecvError::Empty) => {
                                // Nothing queued: the burst is over, so the
                                // argon2 memory goes back before waiting.
                                release(&mut memory);
                                let Ok(job) = rx.recv() else { break };
                                job
                            }
                        };
                        drop(rx);
                        job(&mut memory);
                    }
                })
                .map_err(|e| AuthError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                params,
                jobs: Mutex::new(sender),
                admission,
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
            .run_blocking(Work::Hash, move |memory| {
                hash_blocking(&params, &password, memory)
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
        self.run_blocking(Work::Verify, move |memory| {
            verify_blocking(&password, &stored, configured, memory)
        })
        .await
    }

    /// Checks a secret (an API key of the original) against a bcrypt hash on
    /// the hashing pool, off the async executor. A stored value that is not
    /// bcrypt, or malformed, is a mismatch.
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the pool is full.
    pub async fn verify_bcrypt(&self, value: &Secret, stored: &str) -> Result<bool, AuthError> {
        if !is_bcrypt(stored) {
            return Ok(false);
        }
        let value = value.clone();
        let stored = stored.to_owned();
        self.run_blocking(Work::Verify, move |_| {
            verify_bcrypt_blocking(value.expose(), &stored)
        })
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
                let random = random_password(32);
                let params = self.inner.params.clone();
                let phc = self
                    .run_blocking(Work::Hash, move |memory| {
                        hash_blocking(&params, &random, memory)
                    })
                    .await??;
                Ok(PasswordHash::new(phc))
            })
            .await
            .cloned()
    }

    /// Runs `work` on a hashing thread once admitted; answers
    /// [`AuthError::Busy`] at once when admission is full.
    async fn run_blocking<T, F>(&self, kind: Work, work: F) -> Result<T, AuthError>
    where
        F: FnOnce(&mut Vec<Block>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = match Arc::clone(&self.inner.admission).try_acquire_owned() {
            Ok(admitted) => admitted,
            Err(_) => {
                metrics::counter!(metric::REFUSED).increment(1);
                return Err(AuthError::Busy);
            }
        };
        let admission = Arc::clone(&self.inner.admission);
        let capacity = self.inner.cores + self.inner.queue_bound;
        let depth = move || capacity.saturating_sub(admission.available_permits()) as f64;
        metrics::gauge!(metric::QUEUE_DEPTH).set(depth());
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // Held until the work is done, even if the caller stops waiting,
            // so admission always matches the work actually queued.
            let started = std::time::Instant::now();
            let result = work(memory);
            metrics::histogram!(metric::DURATION, "operation" => kind.label())
                .record(started.elapsed().as_secs_f64());
            drop(admitted);
            metrics::gauge!(metric::QUEUE_DEPTH).set(depth());
            let _ = reply.send(result);
        });
        self.inner
            .jobs
            .lock()
            .map_err(|_| AuthError::Internal("hashing pool poisoned".into()))?
            .send(job)
            .map_err(|_| AuthError::Internal("hashing pool stopped".into()))?;
        answer
            .await
            .map_err(|_| AuthError::Internal("hashing task failed".into()))
    }
}

/// Frees a hashing thread's argon2 memory when no work is queued. Under a
/// burst of logins the block is reused from one hash to the next; once the
/// queue is empty it is freed, and since it is a mapping of its own
/// ([`RESERVED_BLOCKS`]) the process shrinks back to its idle size at once.
fn release(memory: &mut Vec<Block>) {
    if memory.capacity() > 0 {
        *memory = Vec::new();
    }
}

/// What a hashing thread is asked to do, for the latency metric.
#[derive(Debug, Clone, Copy)]
enum Work {
    Hash,
    Verify,
}

impl Work {
    fn label(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Verify => "verify",
        }
    }
}

/// Names of the metrics recorded here (see `docs/metrics.md`).
pub mod metric {
    /// Gauge: password hashes and checks running or waiting for a thread.
    pub const QUEUE_DEPTH: &str = "curatore_password_hash_queue_depth";
    /// Histogram, seconds, by `operation` (`hash`, `verify`): time on a hashing thread.
    pub const DURATION: &str = "curatore_password_hash_duration_seconds";
    /// Counter: hashes and checks refused because the queue was full (503 `server_busy`).
    pub const REFUSED: &str = "curatore_password_hash_refused_total";
}

/// Grows the worker's memory to what `params` needs (never shrinks: the
/// next hash needs the same).
/// Blocks reserved at least, so the allocation is always a mapping of its
/// own that goes back to the system when freed: 33 MiB of address space,
/// above the 32 MiB up to which glibc's malloc raises its mapping threshold
/// after a free and then serves such sizes from (and keeps them in) its
/// arenas. Only the blocks a hash uses are ever touched, so only they count
/// in the process's memory.
const RESERVED_BLOCKS: usize = 33 * 1024;

fn memory_for<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let blocks = params.block_count();
    if memory.len() < blocks {
        if memory.capacity() < blocks {
            *memory = Vec::with_capacity(blocks.max(RESERVED_BLOCKS));
        }
        memory.resize(blocks, Block::default());
    }
    &mut memory[..blocks]
}

/// Below this many MiB of argon2 memory filled per second, hashing is
/// taken to run unoptimised: optimised it fills well over 1,000 on one
/// core, unoptimised under 100 (a login then takes half a second).
const SLOW_MIB_PER_SECOND: f64 = 250.0;

/// Whether one hash with `params` taking `took` means argon2 runs unoptimised.
fn hashes_unoptimised(params: &Params, took: std::time::Duration) -> bool {
    let filled_mib = f64::from(params.m_cost()) * f64::from(params.t_cost()) / 1024.0;
    filled_mib / took.as_secs_f64().max(1e-9) < SLOW_MIB_PER_SECOND
}

/// The first hash of a debug build says, once, when argon2 was compiled
/// without optimisation: an embedding service's own profile does not carry
/// ours over, and nothing else would tell it why logins take 0.45 s.
fn note_speed(params: &Params, took: std::time::Duration) {
    static NOTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !cfg!(debug_assertions) || NOTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if hashes_unoptimised(params, took) {
        tracing::warn!(
            hash_ms = took.as_millis() as u64,
            "password hashing is slow: one hash took {} ms in this debug build, so argon2 is \
             compiled without optimisation. Add `[profile.dev.package.argon2] opt-level = 3` \
             (and `blake2`) to the workspace's Cargo.toml (see docs/embedding.md, \"Build profiles\")",
            took.as_millis()
        );
    }
}

fn hash_blocking(
    params: &Params,
    password: &Secret,
    memory: &mut Vec<Block>,
) -> Result<String, AuthError> {
    let fail = |e: &dyn fmt::Display| AuthError::Internal(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|e| fail(&e))?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let started = std::time::Instant::now();
    argon2id(params.clone())
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt_bytes,
            &mut out,
            memory_for(memory, params),
        )
        .map_err(|e| fail(&e))?;
    note_speed(params, started.elapsed());
    let phc = password_hash::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(password_hash::Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn verify_blocking(
    password: &Secret,
    stored: &str,
    configured: Argon2Settings,
    memory: &mut Vec<Block>,
) -> PasswordCheck {
    if is_bcrypt(stored) {
        // The original's hashes: valid until the first login replaces them.
        return match verify_bcrypt_blocking(password.expose(), stored) {
            true => PasswordCheck::Valid { needs_rehash: true },
            false => PasswordCheck::Invalid,
        };
    }
    let parsed = match password_hash::PasswordHash::new(stored) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is not a valid PHC string");
            return PasswordCheck::Invalid;
        }
    };
    // The algorithm, version and cost come from the stored hash itself.
    match recompute(password, &parsed, memory) {
        Ok(true) => PasswordCheck::Valid {
            needs_rehash: needs_rehash(&parsed, configured),
        },
        Ok(false) => PasswordCheck::Invalid,
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

/// Whether `stored` is a password hash this server can verify: an argon2
/// PHC string (`$argon2id$…`, `$argon2i$…`, `$argon2d$…`) or a bcrypt hash
/// of the original (`$2b$12$` and 53 characters of bcrypt's base64). An
/// import refuses anything else, which no password would ever match.
pub fn is_password_hash(stored: &str) -> bool {
    if is_bcrypt(stored) {
        let Some(rest) = stored.get(4..) else {
            return false;
        };
        let (cost, hash) = rest.split_once('$').unwrap_or(("", ""));
        return cost.len() == 2
            && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
            && hash.len() == 53
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    }
    password_hash::PasswordHash::new(stored).is_ok_and(|p| {
        matches!(p.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") && p.hash.is_some()
    })
}

/// Whether a stored hash is bcrypt's modular-crypt form (`$2a$`, `$2b$`,
/// `$2y$`), as the original Python server stored passwords and API keys.
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

/// Checks `value` against a bcrypt hash (blocking: ~250 ms at cost 12).
/// A malformed hash is a mismatch, logged as a warning.
fn verify_bcrypt_blocking(value: &str, stored: &str) -> bool {
    match bcrypt::verify(value.as_bytes(), stored) {
        Ok(matches) => matches,
        Err(e) => {
            tracing::warn!(error = %e, "stored bcrypt hash cannot be verified");
            false
        }
    }
}

/// Hashes `password` as `parsed` was hashed and compares in constant time.
fn recompute(
    password: &Secret,
    parsed: &password_hash::PasswordHash<'_>,
    memory: &mut Vec<Block>,
) -> Result<bool, password_hash::Error> {
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|_| password_hash::Error::Version)?,
        None => Version::default(),
    };
    let params = Params::try_from(parsed)?;
    let expected = parsed.hash.ok_or(password_hash::Error::Crypto)?;
    let salt = parsed.salt.ok_or(password_hash::Error::SaltInvalid(
        password_hash::errors::InvalidValue::Malformed,
    ))?;
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt_bytes,
            &mut out,
            memory_for(memory, &params),
        )
        .map_err(password_hash::Error::from)?;
    Ok(crate::constant_time_eq(&out, expected.as_bytes()))
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
    #[test]
    fn an_unoptimised_argon2_is_told_from_an_optimised_one() {
        let owasp = Params::new(19_456, 2, 1, None).unwrap();
        // Optimised: ~30 ms per hash (1,260 MiB/s); unoptimised: ~450 ms (84 MiB/s).
        assert!(!hashes_unoptimised(
            &owasp,
            std::time::Duration::from_millis(30)
        ));
        assert!(!hashes_unoptimised(
            &owasp,
            std::time::Duration::from_millis(120)
        ));
        assert!(hashes_unoptimised(
            &owasp,
            std::time::Duration::from_millis(450)
        ));
        // Costlier settings may take longer without being slow.
        let heavy = Params::new(262_144, 4, 1, None).unwrap();
        assert!(!hashes_unoptimised(
            &heavy,
            std::time::Duration::from_millis(900)
        ));
    }

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
            Err(AuthError::Internal(_))
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
        use argon2::password_hash::PasswordHasher as _;
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
            "$2b$04$not-a-bcrypt-hash",
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

    /// Polls every future at once (each queues its job at its first poll).
    async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
                if out.is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => *out = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        outputs.into_iter().flatten().collect()
    }

    /// How much argon2 memory each of `threads` hashing threads holds when
    /// it gets to this check (one check per thread: they meet at a barrier).
    async fn held_blocks(hasher: &PasswordHasher, threads: usize) -> Vec<usize> {
        let barrier = Arc::new(std::sync::Barrier::new(threads));
        let checks = (0..threads)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                hasher.run_blocking(Work::Verify, move |memory| {
                    barrier.wait();
                    memory.capacity()
                })
            })
            .collect();
        join_all(checks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn a_burst_reuses_the_argon2_memory_and_idle_threads_free_it() {
        for threads in [1, 2] {
            let hasher = PasswordHasher::with_limits(CHEAP, threads, 16).unwrap();
            let pw = secret("correct horse");
            let burst = (0..6).map(|_| hasher.hash(&pw)).collect();
            let (hashes, during) = tokio::join!(join_all(burst), held_blocks(&hasher, threads));
            assert!(hashes.iter().all(Result::is_ok));
            if threads == 1 {
                // Queued right behind the hashes: the block is still there, reused.
                assert!(during[0] >= 1024, "{during:?} blocks held during the burst");
            }
            // Once nothing is queued every thread lets its block go (one may
            // pick up a check before noticing the queue is empty: retried).
            let mut held = vec![usize::MAX];
            for _ in 0..100 {
                held = held_blocks(&hasher, threads).await;
                if held.iter().all(|&blocks| blocks == 0) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(
                held.iter().all(|&blocks| blocks == 0),
                "{held:?}: idle hashing threads ({threads}) still hold their argon2 memory"
            );
        }
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
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        // Ours verifies with the argon2 crate's own verifier …
        let ours = hasher.hash(&secret("correct horse")).await.unwrap();
        let parsed = password_hash::PasswordHash::new(ours.as_str()).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );
        // … and a hash made by the argon2 crate verifies with ours.
        let params = Params::new(1024, 1, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let reference = argon2id(params)
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        let reference = PasswordHash::new(reference);
        assert_eq!(
            hasher
                .verify(&secret("battery staple"), &reference)
                .await
                .unwrap(),
            PasswordCheck::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(&secret("battery stapler"), &reference)
                .await
                .unwrap(),
            PasswordCheck::Invalid
        );
    }

    /// bcrypt hashes as the original stored them, under each of the three
    /// prefixes; the first one was made by Python's `bcrypt` 4.1.2 (the
    /// fixture's `admin`, cost 12).
    #[tokio::test]
    async fn bcrypt_hashes_of_the_original_verify_and_need_a_rehash() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let python =
            PasswordHash::new("$2b$12$WDIQ2QnmtyvI0kSE.V9JqO1beo7j7DAVX2DynYqq7aEO2peHLKDC2");
        assert_eq!(
            hasher
                .verify(&secret("Fixture-Admin-7q2"), &python)
                .await
                .unwrap(),
            PasswordCheck::Valid { needs_rehash: true }
        );
        assert_eq!(
            hasher
                .verify(&secret("fixture-admin-7q2"), &python)
                .await
                .unwrap(),
            PasswordCheck::Invalid
        );
        let made = bcrypt::hash_with_salt("Fixture-Admin-7q2", 4, [7u8; 16]).unwrap();
        for version in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoY,
        ] {
            let stored = PasswordHash::new(made.format_for_version(version));
            assert!(is_bcrypt(stored.as_str()), "{}", stored.as_str());
            assert_eq!(
                hasher
                    .verify(&secret("Fixture-Admin-7q2"), &stored)
                    .await
                    .unwrap(),
                PasswordCheck::Valid { needs_rehash: true }
            );
            assert_eq!(
                hasher
                    .verify(&secret("Fixture-Admin-7q3"), &stored)
                    .await
                    .unwrap(),
                PasswordCheck::Invalid
            );
        }
        let key = "cur_987aaed5ca5c129772a338ecc6babb0706277eb76fd7bb6f15cff2c0acaf7bfe";
        let stored = bcrypt::hash_with_salt(key, 4, [9u8; 16])
            .unwrap()
            .to_string();
        assert!(hasher.verify_bcrypt(&secret(key), &stored).await.unwrap());
        assert!(
            !hasher
                .verify_bcrypt(&secret("cur_0"), &stored)
                .await
                .unwrap()
        );
        // Not bcrypt at all: a mismatch, not an error.
        let argon = hasher.hash(&secret(key)).await.unwrap();
        assert!(
            !hasher
                .verify_bcrypt(&secret(key), argon.as_str())
                .await
                .unwrap()
        );
    }

    #[test]
    fn debug_shows_settings_only() {
        let hasher = PasswordHasher::new(CHEAP).unwrap();
        let debug = format!("{hasher:?}");
        assert!(debug.contains("memory_kib: 1024"));
    }
}
