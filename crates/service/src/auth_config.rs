//! How authentication behaves: built once at start-up, read by every use case.

use crate::limiter::{ClientNetworks, LoginLimits, RegistrationLimits};
use curatore_auth::{ApiKeyFormat, PasswordHasher, PasswordPolicy, TokenSigner};
use std::net::IpAddr;
use std::time::Duration;

/// Everything authentication needs. Made from the settings by
/// `curatore_server::Curatore::build`; elsewhere with [`AuthConfig::new`]
/// (the defaults of `config/default.toml`, except that authentication is
/// on) and the `with_*` setters.
///
/// ```
/// use curatore_auth::{Argon2Settings, PasswordHasher, SigningAlgorithm, TokenSettings, TokenSigner};
/// use curatore_domain::Secret;
/// use curatore_service::AuthConfig;
/// use std::time::Duration;
///
/// let signer = TokenSigner::new(TokenSettings {
///     secret: Secret::new("a-long-random-signing-secret-of-32-bytes-or-more"),
///     algorithm: SigningAlgorithm::HS256,
///     issuer: "curatore".into(),
///     audience: "curatore-api".into(),
///     access_ttl: Duration::from_secs(1800),
/// });
/// let hasher = PasswordHasher::new(Argon2Settings::default()).unwrap();
/// let auth = AuthConfig::new(signer, hasher)
///     .with_cache_ttl(Duration::ZERO)
///     .with_allow_registration(false);
/// assert!(auth.enabled());
/// ```
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub(crate) enabled: bool,
    pub(crate) signer: TokenSigner,
    pub(crate) hasher: PasswordHasher,
    pub(crate) password_policy: PasswordPolicy,
    pub(crate) api_keys: ApiKeyFormat,
    pub(crate) refresh_ttl: Duration,
    pub(crate) refresh_reuse_grace: Duration,
    pub(crate) allow_registration: bool,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    pub(crate) client_networks: ClientNetworks,
    pub(crate) login_limits: LoginLimits,
    pub(crate) registration_limits: RegistrationLimits,
    pub(crate) cache_ttl: Duration,
}

impl AuthConfig {
    /// Authentication on, tokens signed by `signer`, passwords hashed by
    /// `hasher`; everything else at the documented defaults (policy of 8
    /// characters, `cur_` keys, 7-day sessions with a 10 s reuse grace, no
    /// open registration, no trusted proxies, IPv6 clients counted per /64,
    /// 5 failures per account and 20
    /// per address in 15 minutes, 5 registrations per address an hour, a
    /// 2 s authentication cache).
    pub fn new(signer: TokenSigner, hasher: PasswordHasher) -> Self {
        Self {
            enabled: true,
            signer,
            hasher,
            password_policy: PasswordPolicy::default(),
            api_keys: ApiKeyFormat::new("cur_"),
            refresh_ttl: Duration::from_secs(7 * 86_400),
            refresh_reuse_grace: Duration::from_secs(10),
            allow_registration: false,
            trusted_proxies: Vec::new(),
            client_networks: ClientNetworks::default(),
            login_limits: LoginLimits {
                per_account: 5,
                per_ip: 20,
                window: Duration::from_secs(900),
            },
            registration_limits: RegistrationLimits {
                per_ip: 5,
                window: Duration::from_secs(3600),
            },
            cache_ttl: Duration::from_secs(2),
        }
    }

    /// `ENABLE_AUTH`: when false, every request acts as the default organization.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// What a new password must satisfy.
    #[must_use]
    pub fn with_password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.password_policy = policy;
        self
    }

    /// The API key format (`API_KEY_PREFIX`).
    #[must_use]
    pub fn with_api_keys(mut self, format: ApiKeyFormat) -> Self {
        self.api_keys = format;
        self
    }

    /// Absolute lifetime of a session (refresh-token family).
    #[must_use]
    pub fn with_refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// How long after its rotation a refresh token may be presented again
    /// and get the same successor instead of ending the session (zero: never).
    #[must_use]
    pub fn with_refresh_reuse_grace(mut self, grace: Duration) -> Self {
        self.refresh_reuse_grace = grace;
        self
    }

    /// `ALLOW_REGISTRATION`: anyone may register into the default organization.
    #[must_use]
    pub fn with_allow_registration(mut self, allow: bool) -> Self {
        self.allow_registration = allow;
        self
    }

    /// Proxies whose `X-Forwarded-For` is believed.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpAddr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// How client addresses are grouped by the login, registration and
    /// request limits: IPv4 per address, IPv6 per network.
    #[must_use]
    pub fn with_client_networks(mut self, networks: ClientNetworks) -> Self {
        self.client_networks = networks;
        self
    }

    /// Failed-login limits.
    #[must_use]
    pub fn with_login_limits(mut self, limits: LoginLimits) -> Self {
        self.login_limits = limits;
        self
    }

    /// Open-registration limits.
    #[must_use]
    pub fn with_registration_limits(mut self, limits: RegistrationLimits) -> Self {
        self.registration_limits = limits;
        self
    }

    /// How long a checked session or key is trusted without asking the
    /// database again; changes made through this process, and on PostgreSQL
    /// through any instance, apply at once.
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Whether requests must authenticate.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How client addresses are grouped by the limits.
    pub fn client_networks(&self) -> ClientNetworks {
        self.client_networks
    }

    /// The password hasher (shared: clones use the same pool).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }
}
