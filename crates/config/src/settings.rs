//! The `Settings` value: one field per variable, declared once so the struct,
//! its defaults, the list of accepted names and the `config` view cannot drift.

use crate::SecretKeys;
use crate::error::ConfigError;
use crate::load::Resolver;
use crate::values::{
    CorsOriginRegex, CorsOrigins, HealthDetails, JwtAlgorithm, LogFormat, SettingValue, SmtpTls,
};
use curatore_domain::{DatabaseUrl, Schedule, Secret};
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use uuid::Uuid;

/// The built-in `JWT_SECRET_KEY`. It is public, so tokens signed with it can be
/// forged: [`Settings::jwt_secret_problem`] reports it, and a production server
/// should refuse to start with it.
pub const JWT_SECRET_PLACEHOLDER: &str = "change-me-in-production-use-a-long-random-string";

/// The shortest `JWT_SECRET_KEY` we accept without complaint: HMAC-SHA256 wants
/// a key at least as long as its 32-byte output.
pub const JWT_SECRET_MIN_BYTES: usize = 32;

/// Example values of `JWT_SECRET_KEY` that are published, lower case: ours, the
/// Python system's `.env.example`, and those of widespread docs and tutorials.
/// A key made of these (repeated, joined, or with little added) is public.
const KNOWN_PLACEHOLDERS: &[&str] = &[
    JWT_SECRET_PLACEHOLDER,
    // The Python system's .env.example.
    "your-secret-key-change-in-production",
    "your-secret-key-here",
    "your-secret-key",
    "your_secret_key",
    "change-me-in-production",
    "change-me",
    "change_me",
    "changeme",
    "change-this",
    // FastAPI's project template.
    "changethis",
    // jwt.io's HS256 example.
    "your-256-bit-secret",
    // FastAPI's OAuth2/JWT tutorial.
    "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    "super-secret-key",
    "supersecret",
    "my-secret-key",
    "mysecret",
    "jwt-secret-key",
    "jwt_secret_key",
    "jwt-secret",
    "jwt_secret",
    "secret-key",
    "secret_key",
    "secretkey",
    "secret",
    "password",
];

/// How many letters and digits a key must have besides known placeholders.
const MIN_CHARS_BESIDES_PLACEHOLDERS: usize = JWT_SECRET_MIN_BYTES / 2;

/// Fewer different characters than this is not a random key: 32 random hex
/// digits show fewer than 8 about once in 10^7 draws.
const MIN_DISTINCT_CHARS: usize = 8;

/// Below this share of distinct 3-character sequences a key repeats itself;
/// random keys of 32 characters or more stay above 0.9.
const MIN_DISTINCT_TRIGRAM_SHARE: f64 = 0.75;

/// Shannon entropy per character below which a key is mostly one or two
/// characters; random hex scores about 3.6, random base64 about 5 to 6.
const MIN_BITS_PER_CHAR: f64 = 2.5;

/// The built-in `DATABASE_URL`: a SQLite file under `./data`, so a first run
/// needs no database server.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/curatore.db";

/// Declares every setting once: `field: Type = default, env "NAME";`.
macro_rules! settings {
    ($( $(#[$attr:meta])* $field:ident : $ty:ty = $default:expr, env $env:literal; )*) => {
        /// Every setting of a Curatore process, typed and validated.
        ///
        /// Build it with [`Settings::load`] (files and environment) or
        /// [`Settings::default`] (built-in defaults, for tests), then pass it by
        /// value: there is no global, so tests and embedding services can each
        /// hold their own. Field names are the lower-cased variable names.
        ///
        /// There is one way in, the layered loader; `Settings` deliberately has
        /// no `Deserialize`, so no second parser can skip its checks.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $( $(#[$attr])* pub $field: $ty, )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        /// Every variable as `(ENV_NAME, toml_key)`, in display order.
        pub(crate) const VARIABLES: &[(&str, &str)] = &[ $( ($env, stringify!($field)) ),* ];

        impl Settings {
            /// Takes each field from the highest layer that sets it, else its default.
            pub(crate) fn resolve(resolver: &mut Resolver) -> Result<Self, ConfigError> {
                let defaults = Self::default();
                Ok(Self { $( $field: resolver.get($env, stringify!($field), defaults.$field)?, )* })
            }

            /// Every variable with its value as an operator may see it.
            pub(crate) fn shown_values(&self) -> Vec<(&'static str, String)> {
                vec![ $( ($env, SettingValue::show(&self.$field)) ),* ]
            }
        }
    };
}

settings! {
    // --- Server ---
    /// Address the HTTP server binds to; `0.0.0.0` to accept outside connections.
    host: String = "127.0.0.1".to_owned(), env "HOST";
    /// Port the HTTP server binds to; 0 picks a free one (tests).
    port: u16 = 8000, env "PORT";
    /// Deployment name; also selects the optional `config/<CURATORE_ENV>.toml`.
    curatore_env: String = "development".to_owned(), env "CURATORE_ENV";
    /// Apply pending migrations at start-up, so a fresh deployment just works.
    auto_migrate: bool = true, env "AUTO_MIGRATE";
    /// How long a graceful shutdown waits for in-flight requests.
    shutdown_timeout_seconds: u64 = 30, env "SHUTDOWN_TIMEOUT_SECONDS";
    /// Longest a client may take to send a request's headers, and then again
    /// its body, before it is answered 408 and disconnected (0: no limit).
    request_timeout_seconds: u64 = 30, env "REQUEST_TIMEOUT_SECONDS";
    /// Reverse proxies whose `X-Forwarded-For` is believed when finding a client's address.
    trusted_proxies: Vec<IpAddr> = Vec::new(), env "TRUSTED_PROXIES";
    /// Origins a browser may call the API from (with credentials): a JSON
    /// list or comma-separated; `*` for any.
    cors_origins: CorsOrigins = CorsOrigins::default(), env "CORS_ORIGINS";
    /// Origins matching this pattern as a whole are allowed too (empty: none).
    cors_origin_regex: CorsOriginRegex = CorsOriginRegex::default(), env "CORS_ORIGIN_REGEX";
    /// Development mode: any localhost origin (http or https, any port) may call the API.
    debug: bool = false, env "DEBUG";

    // --- Database ---
    /// Where the data lives: SQLite file or PostgreSQL server.
    database_url: DatabaseUrl = DatabaseUrl::Sqlite { path: PathBuf::from("./data/curatore.db") },
        env "DATABASE_URL";
    /// Connections kept open in the pool once opened (PostgreSQL); with
    /// `DB_MAX_OVERFLOW` also the cap on SQLite's readers. Unset: two per
    /// available core (see [`Settings::db_pool`]).
    db_pool_size: Option<u32> = None, env "DB_POOL_SIZE";
    /// Extra connections allowed under load on top of `db_pool_size`.
    /// Unset: two per available core.
    db_max_overflow: Option<u32> = None, env "DB_MAX_OVERFLOW";
    /// How many server instances are meant to share the database: only
    /// compared, at start-up, with PostgreSQL's `max_connections`.
    instance_count: Option<u32> = None, env "INSTANCE_COUNT";
    /// Seconds after which a connection is closed and replaced (its maximum lifetime).
    db_pool_recycle: u64 = 3600, env "DB_POOL_RECYCLE";
    /// How long to wait for a connection before failing the request.
    db_connect_timeout_seconds: u64 = 5, env "DB_CONNECT_TIMEOUT_SECONDS";
    /// How long the server keeps retrying an unreachable database at start-up.
    db_startup_retry_seconds: u64 = 30, env "DB_STARTUP_RETRY_SECONDS";
    /// How long a database health result is reused, so probes cannot hammer the database.
    health_cache_seconds: u64 = 5, env "HEALTH_CACHE_SECONDS";
    /// Who sees the database health report's URL, row counts and size.
    health_details: HealthDetails = HealthDetails::Public, env "HEALTH_DETAILS";

    // --- Authentication ---
    /// Key that signs access and refresh tokens; must be long and random in production.
    jwt_secret_key: Secret = Secret::new(JWT_SECRET_PLACEHOLDER), env "JWT_SECRET_KEY";
    /// HMAC algorithm for token signatures.
    jwt_algorithm: JwtAlgorithm = JwtAlgorithm::HS256, env "JWT_ALGORITHM";
    /// Lifetime of an access token.
    jwt_access_token_expire_minutes: u64 = 30, env "JWT_ACCESS_TOKEN_EXPIRE_MINUTES";
    /// Lifetime of a refresh token.
    jwt_refresh_token_expire_days: u64 = 7, env "JWT_REFRESH_TOKEN_EXPIRE_DAYS";
    /// Seconds after its rotation a refresh token may come back (parallel tabs,
    /// retries) and get the same successor instead of ending the session; 0..=60, 0 disables.
    refresh_token_reuse_interval_seconds: u64 = 10, env "REFRESH_TOKEN_REUSE_INTERVAL_SECONDS";
    /// `iss` claim written into and required of every token.
    jwt_issuer: String = "curatore".to_owned(), env "JWT_ISSUER";
    /// `aud` claim written into and required of every token.
    jwt_audience: String = "curatore-api".to_owned(), env "JWT_AUDIENCE";
    /// Argon2id memory cost in KiB (default: the OWASP minimum, 19 MiB).
    argon2_memory_kib: u32 = 19456, env "ARGON2_MEMORY_KIB";
    /// Argon2id passes over memory.
    argon2_iterations: u32 = 2, env "ARGON2_ITERATIONS";
    /// Argon2id lanes.
    argon2_parallelism: u32 = 1, env "ARGON2_PARALLELISM";
    /// Accepted from old deployments and ignored (passwords use argon2id); setting it warns.
    bcrypt_rounds: Option<u32> = None, env "BCRYPT_ROUNDS";
    /// Prefix of every API key, so a leaked key is recognisable (and scannable).
    api_key_prefix: String = "cur_".to_owned(), env "API_KEY_PREFIX";
    /// Whether anyone may create an account; off, only admins add users.
    allow_registration: bool = false, env "ALLOW_REGISTRATION";
    /// Shortest password accepted when a password is set.
    password_min_length: usize = 8, env "PASSWORD_MIN_LENGTH";
    /// Failed logins for one account from one client address within the window
    /// before that address is refused for that account (the owner elsewhere is not).
    login_max_failures_per_account: u32 = 5, env "LOGIN_MAX_FAILURES_PER_ACCOUNT";
    /// Failed logins from one client address within the window before it is refused.
    login_max_failures_per_ip: u32 = 20, env "LOGIN_MAX_FAILURES_PER_IP";
    /// The sliding window, in seconds, over which failed logins are counted.
    login_failure_window_seconds: u64 = 900, env "LOGIN_FAILURE_WINDOW_SECONDS";
    /// Open registrations (`ALLOW_REGISTRATION=true`) one client address may attempt within the window.
    registration_limit_per_ip: u32 = 5, env "REGISTRATION_LIMIT_PER_IP";
    /// The sliding window, in seconds, over which registrations are counted.
    registration_limit_window_seconds: u64 = 3600, env "REGISTRATION_LIMIT_WINDOW_SECONDS";

    /// Seconds a checked session or API key is trusted before the database is
    /// asked again; changes made through this process apply at once (0: always ask).
    auth_cache_seconds: u64 = 2, env "AUTH_CACHE_SECONDS";

    /// Days audit entries are kept; older ones are deleted hourly in batches
    /// (unset: kept forever). `curatore-server audit purge` does the same on demand.
    audit_retention_days: Option<u32> = None, env "AUDIT_RETENTION_DAYS";

    // --- Backups (SQLite) ---
    /// When the server backs the SQLite database up by itself: an interval
    /// (`6h`) or a cron expression (`0 3 * * *`, UTC); unset: never.
    backup_schedule: Option<Schedule> = None, env "BACKUP_SCHEDULE";
    /// Where scheduled (and `curatore-server backup` without `--output`)
    /// archives go; unset: `backups/` beside the database file.
    backup_dir: Option<PathBuf> = None, env "BACKUP_DIR";
    /// How many scheduled archives are kept in `BACKUP_DIR`; older ones are
    /// deleted after each successful backup.
    backup_keep: u32 = 7, env "BACKUP_KEEP";

    // --- Mail (unset SMTP_HOST: no mail is sent) ---
    /// The SMTP server that sends invitations, password resets and notices;
    /// unset: no mail (invitations show a temporary password once instead).
    smtp_host: Option<String> = None, env "SMTP_HOST";
    /// Its port; unset: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    smtp_port: Option<u16> = None, env "SMTP_PORT";
    /// Sign in to the SMTP server with this name (and `SMTP_PASSWORD`); unset: no sign-in.
    smtp_username: Option<String> = None, env "SMTP_USERNAME";
    /// The password for `SMTP_USERNAME`.
    smtp_password: Option<Secret> = None, env "SMTP_PASSWORD";
    /// `starttls` (upgrade, the server must offer it), `tls` (TLS from the
    /// start) or `none` (only to a server on this machine).
    smtp_tls: SmtpTls = SmtpTls::StartTls, env "SMTP_TLS";
    /// A PEM file of certificates trusted besides the public roots: a
    /// private CA, or the SMTP server's self-signed certificate.
    smtp_ca_file: Option<PathBuf> = None, env "SMTP_CA_FILE";
    /// Longest one SMTP exchange may take, in seconds.
    smtp_timeout_seconds: u64 = 30, env "SMTP_TIMEOUT_SECONDS";
    /// The sender of every mail: `Name <address>` or an address.
    mail_from: Option<String> = None, env "MAIL_FROM";
    /// The address people use to reach the console (`https://curatore.example.com`);
    /// links in mail point under it (`/console/reset?token=…`).
    public_url: Option<String> = None, env "PUBLIC_URL";
    /// Seconds before the second attempt at a mail the server did not
    /// accept; each further attempt waits twice as long (at most an hour).
    mail_retry_base_seconds: u64 = 30, env "MAIL_RETRY_BASE_SECONDS";
    /// Attempts before a mail is given up.
    mail_max_attempts: u32 = 8, env "MAIL_MAX_ATTEMPTS";

    // --- Rate limits (0: no limit) ---
    /// Apply the request rate limits below; off, no request is counted.
    rate_limit_enabled: bool = true, env "RATE_LIMIT_ENABLED";
    /// Length of a rate-limit window in seconds (counts restart at each multiple of it).
    rate_limit_window_seconds: u64 = 60, env "RATE_LIMIT_WINDOW_SECONDS";
    /// Requests per window from one client address to `POST /auth/…` (login, refresh, register).
    rate_limit_ip_auth: u32 = 300, env "RATE_LIMIT_IP_AUTH";
    /// Reads (`GET`, `HEAD`) per window from one client address.
    rate_limit_ip_reads: u32 = 6000, env "RATE_LIMIT_IP_READS";
    /// Writes per window from one client address.
    rate_limit_ip_writes: u32 = 1200, env "RATE_LIMIT_IP_WRITES";
    /// Reads per window by one signed-in user.
    rate_limit_user_reads: u32 = 3000, env "RATE_LIMIT_USER_READS";
    /// Writes per window by one signed-in user.
    rate_limit_user_writes: u32 = 600, env "RATE_LIMIT_USER_WRITES";
    /// Reads per window by one API key.
    rate_limit_api_key_reads: u32 = 6000, env "RATE_LIMIT_API_KEY_READS";
    /// Writes per window by one API key.
    rate_limit_api_key_writes: u32 = 1200, env "RATE_LIMIT_API_KEY_WRITES";
    /// IPv6 clients are counted per network of this prefix length (32 to
    /// 128), by every per-address limit (requests, logins, registrations):
    /// one subscriber usually holds a whole /64. IPv4 clients per address.
    rate_limit_ipv6_prefix: u8 = 64, env "RATE_LIMIT_IPV6_PREFIX";

    // --- Metrics ---
    /// When set, `GET /metrics` requires `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: Option<Secret> = None, env "METRICS_TOKEN";

    // --- Console ---
    /// Serve the administration console under `/console` (and redirect `/` there).
    console_enabled: bool = true, env "CONSOLE_ENABLED";

    // --- Multi-Tenancy ---
    /// Require authentication; off keeps the single-tenant behaviour of old deployments.
    enable_auth: bool = false, env "ENABLE_AUTH";
    /// Organization that unauthenticated requests act in while auth is off (empty: the seeded default).
    default_org_id: Option<Uuid> = None, env "DEFAULT_ORG_ID";
    /// Test a connection's settings whenever it is saved.
    auto_test_connections: bool = true, env "AUTO_TEST_CONNECTIONS";

    // --- Connections ---
    /// Keys that encrypt connection secrets at rest: `<base64 of 32 bytes>` or
    /// `id1:<base64>,id2:<base64>` (the first encrypts, all decrypt). Unset
    /// with SQLite: a key file is created beside the database.
    secrets_encryption_key: Option<SecretKeys> = None, env "SECRETS_ENCRYPTION_KEY";
    /// Refuse connection tests to private and loopback addresses (multi-tenant
    /// deployments); cloud metadata addresses are refused whatever this says.
    connections_block_private_networks: bool = false, env "CONNECTIONS_BLOCK_PRIVATE_NETWORKS";
    /// An `http://` or `https://` proxy that connection tests go through
    /// (unset: straight to the address checked; `HTTP_PROXY` and its kin are
    /// ignored). Through a proxy the address guard cannot pin the address
    /// the proxy connects to.
    connections_test_proxy: Option<Secret> = None, env "CONNECTIONS_TEST_PROXY";
    /// API key of the managed "Default LLM" connection; unset: none is imported.
    openai_api_key: Option<Secret> = None, env "OPENAI_API_KEY";
    /// Model of the managed LLM connection.
    openai_model: String = "gpt-4o-mini".to_owned(), env "OPENAI_MODEL";
    /// Base URL of the managed LLM connection.
    openai_base_url: String = "https://api.openai.com/v1".to_owned(), env "OPENAI_BASE_URL";
    /// Timeout in seconds of the managed LLM connection (1 to 600).
    openai_timeout: u32 = 60, env "OPENAI_TIMEOUT";
    /// Whether the managed LLM connection checks TLS certificates.
    openai_verify_ssl: bool = true, env "OPENAI_VERIFY_SSL";
    /// URL of the managed "Default Extraction Service" connection; unset: none is imported.
    extraction_service_url: Option<String> = None, env "EXTRACTION_SERVICE_URL";
    /// Timeout in seconds of the managed extraction connection (1 to 600).
    extraction_service_timeout: u32 = 60, env "EXTRACTION_SERVICE_TIMEOUT";
    /// API key of the managed extraction connection (optional).
    extraction_service_api_key: Option<Secret> = None, env "EXTRACTION_SERVICE_API_KEY";
    /// Whether the managed extraction connection checks TLS certificates.
    extraction_service_verify_ssl: bool = true, env "EXTRACTION_SERVICE_VERIFY_SSL";
    /// Azure tenant of the managed "Default SharePoint" connection; with the
    /// client id and secret, all three needed to import it.
    ms_tenant_id: Option<String> = None, env "MS_TENANT_ID";
    /// Application (client) id of the managed SharePoint connection.
    ms_client_id: Option<String> = None, env "MS_CLIENT_ID";
    /// Client secret of the managed SharePoint connection.
    ms_client_secret: Option<Secret> = None, env "MS_CLIENT_SECRET";
    /// OAuth scope of the managed SharePoint connection.
    ms_graph_scope: String = "https://graph.microsoft.com/.default".to_owned(), env "MS_GRAPH_SCOPE";
    /// Graph API base URL of the managed SharePoint connection.
    ms_graph_base_url: String = "https://graph.microsoft.com/v1.0".to_owned(), env "MS_GRAPH_BASE_URL";

    // --- Seeding ---
    /// E-mail of the first admin, created by the seed command.
    admin_email: String = "admin@example.com".to_owned(), env "ADMIN_EMAIL";
    /// Username of the first admin.
    admin_username: String = "admin".to_owned(), env "ADMIN_USERNAME";
    /// Password of the first admin; change it right after seeding.
    admin_password: Secret = Secret::new("changeme"), env "ADMIN_PASSWORD";
    /// Display name of the first admin.
    admin_full_name: String = "Admin User".to_owned(), env "ADMIN_FULL_NAME";
    /// Name of the organization the seed command creates.
    default_org_name: String = "Default Organization".to_owned(), env "DEFAULT_ORG_NAME";
    /// Slug of the organization the seed command creates.
    default_org_slug: String = "default".to_owned(), env "DEFAULT_ORG_SLUG";

    // --- Logging ---
    /// Log filter, e.g. `info` or `info,curatore_web=debug`.
    log_level: String = "info".to_owned(), env "LOG_LEVEL";
    /// Log line format.
    log_format: LogFormat = LogFormat::Pretty, env "LOG_FORMAT";
}

/// Whether `key` is made of published placeholders, ignoring case, with fewer
/// than [`MIN_CHARS_BESIDES_PLACEHOLDERS`] letters and digits besides them.
fn is_known_placeholder(key: &str) -> bool {
    let mut rest = key.trim().to_lowercase();
    let mut known = KNOWN_PLACEHOLDERS.to_vec();
    // Longest first, so `secret-key` goes as a whole before `secret`.
    known.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut found = false;
    for placeholder in known {
        if rest.contains(placeholder) {
            found = true;
            rest = rest.replace(placeholder, " ");
        }
    }
    found && rest.chars().filter(|c| c.is_alphanumeric()).count() < MIN_CHARS_BESIDES_PLACEHOLDERS
}

/// Why a long enough key is still predictable, or `None`.
fn predictability(key: &str) -> Option<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut counts = std::collections::HashMap::<char, usize>::new();
    for c in &chars {
        *counts.entry(*c).or_default() += 1;
    }
    if counts.len() < MIN_DISTINCT_CHARS {
        return Some(format!(
            "uses only {} different characters, so it is easy to guess",
            counts.len()
        ));
    }
    let trigrams: Vec<&[char]> = chars.windows(3).collect();
    let distinct: std::collections::HashSet<&[char]> = trigrams.iter().copied().collect();
    if (distinct.len() as f64) < MIN_DISTINCT_TRIGRAM_SHARE * trigrams.len() as f64 {
        return Some("repeats a short pattern, so it is easy to guess".to_owned());
    }
    let n = chars.len() as f64;
    let bits_per_char: f64 = counts
        .values()
        .map(|&count| {
            let p = count as f64 / n;
            -p * p.log2()
        })
        .sum();
    if bits_per_char < MIN_BITS_PER_CHAR {
        return Some(
            "is mostly the same few characters (far below the entropy of a random key), \
             so it is easy to guess"
                .to_owned(),
        );
    }
    None
}

impl Settings {
    /// Why `JWT_SECRET_KEY` is unsafe, or `None` if it looks fine.
    ///
    /// Reports, in this order: an empty key, the built-in placeholder, a key
    /// shorter than [`JWT_SECRET_MIN_BYTES`], a published example value (see
    /// `KNOWN_PLACEHOLDERS`; in any case, repeated, or with fewer than 16
    /// letters and digits added), and an obviously predictable
    /// one: fewer than 8 different characters, a repeated pattern, or a
    /// Shannon entropy under 2.5 bits per character. Hex, UUID and base64
    /// keys from a random source pass. The text never contains the key, so it
    /// can be logged or returned as a start-up error.
    pub fn jwt_secret_problem(&self) -> Option<String> {
        let key = self.jwt_secret_key.expose();
        let advice = "generate one with `openssl rand -base64 48`";
        let problem = if key.is_empty() {
            "is empty".to_owned()
        } else if key == JWT_SECRET_PLACEHOLDER {
            "is the built-in placeholder, so anyone can forge tokens".to_owned()
        } else if key.len() < JWT_SECRET_MIN_BYTES {
            format!("is shorter than {JWT_SECRET_MIN_BYTES} bytes")
        } else if is_known_placeholder(key) {
            "is a published placeholder (from an .env.example, documentation or a tutorial), \
             so anyone can forge tokens"
                .to_owned()
        } else {
            predictability(key)?
        };
        Some(format!("JWT_SECRET_KEY {problem}; {advice}"))
    }

    /// The pool of one instance: (`DB_POOL_SIZE`, `DB_MAX_OVERFLOW`), each
    /// two per available core when unset (4 + 4 on two cores). The seed's
    /// 20 + 40 let one instance open 60 connections, which on a small
    /// machine costs latency (docs/benchmarks.md) and multiplies with every
    /// instance against PostgreSQL's `max_connections`.
    pub fn db_pool(&self) -> (u32, u32) {
        let per_machine = std::thread::available_parallelism()
            .map_or(2, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .saturating_mul(2);
        (
            self.db_pool_size.unwrap_or(per_machine.clamp(4, 20)),
            self.db_max_overflow.unwrap_or(per_machine.clamp(4, 40)),
        )
    }

    /// The most database connections the pool may open: `DB_POOL_SIZE + DB_MAX_OVERFLOW`.
    ///
    /// sqlx pools have one limit, not SQLAlchemy's size-plus-overflow; summing
    /// keeps the ceiling an existing deployment was tuned for.
    pub fn db_max_connections(&self) -> u32 {
        let (size, overflow) = self.db_pool();
        size.saturating_add(overflow)
    }

    /// The folder backup archives go to: `BACKUP_DIR`, else `backups/`
    /// beside the SQLite database file; `None` with PostgreSQL.
    pub fn backup_dir(&self) -> Option<PathBuf> {
        let database = self.database_url.sqlite_path()?;
        Some(self.backup_dir.clone().unwrap_or_else(|| {
            database
                .parent()
                .map_or_else(|| PathBuf::from("backups"), |dir| dir.join("backups"))
        }))
    }

    /// Whether mail is sent (`SMTP_HOST` is set).
    pub fn mail_enabled(&self) -> bool {
        self.smtp_host.is_some()
    }

    /// `SMTP_PORT`, else the usual port of `SMTP_TLS`.
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
            .unwrap_or_else(|| self.smtp_tls.default_port())
    }

    /// `host:port` for binding, with an IPv6 host bracketed (`[::1]:8000`).
    pub fn bind_address(&self) -> String {
        if self.host.parse::<Ipv6Addr>().is_ok() {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
