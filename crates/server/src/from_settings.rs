//! The settings mapped onto what each layer takes, once, here. The start-up
//! path ([`crate::Curatore::build`]) uses exactly these; a service that
//! builds part of the system itself calls them too, and gets the server's
//! behaviour for the same variables.

use crate::error::StartError;
use crate::secrets;
use curatore_auth::{
    ApiKeyFormat, Argon2Settings, PasswordHasher, PasswordPolicy, SigningAlgorithm, TokenSettings,
    TokenSigner,
};
use curatore_config::{HealthDetails, JwtAlgorithm, Settings};
use curatore_persistence::DatabaseOptions;
use curatore_service::{
    AuthConfig, ClientNetworks, ConnectionRegistry, ConnectionsConfig, DefaultOrganization,
    LoginLimits, MailConfig, MailFailure, MailFuture, MailTransport, OutboundPolicy,
    RegistrationLimits, ServicesConfig,
};
use curatore_web::{AppState, ClassLimits, CorsPolicy, RateLimits};
use std::sync::Arc;
use std::time::Duration;

/// `JWT_*`, `ARGON2_*`, `PASSWORD_MIN_LENGTH`, `API_KEY_PREFIX`,
/// `ALLOW_REGISTRATION`, `TRUSTED_PROXIES`, `RATE_LIMIT_IPV6_PREFIX`,
/// `LOGIN_*`, `REGISTRATION_*`, `AUTH_CACHE_SECONDS`, `ENABLE_AUTH`.
///
/// # Errors
/// A placeholder or weak `JWT_SECRET_KEY` with `ENABLE_AUTH=true`; argon2
/// parameters the algorithm refuses.
pub fn auth(settings: &Settings) -> Result<AuthConfig, StartError> {
    if settings.enable_auth
        && let Some(problem) = settings.jwt_secret_problem()
    {
        return Err(StartError::Config(format!(
            "JWT_SECRET_KEY: {problem}; ENABLE_AUTH=true needs a real secret (e.g. `openssl rand -base64 48`)"
        )));
    }
    let algorithm = match settings.jwt_algorithm {
        JwtAlgorithm::HS256 => SigningAlgorithm::HS256,
        JwtAlgorithm::HS384 => SigningAlgorithm::HS384,
        JwtAlgorithm::HS512 => SigningAlgorithm::HS512,
    };
    let signer = TokenSigner::new(TokenSettings {
        secret: settings.jwt_secret_key.clone(),
        algorithm,
        issuer: settings.jwt_issuer.clone(),
        audience: settings.jwt_audience.clone(),
        access_ttl: Duration::from_secs(settings.jwt_access_token_expire_minutes * 60),
    });
    let hasher = PasswordHasher::new(Argon2Settings {
        memory_kib: settings.argon2_memory_kib,
        iterations: settings.argon2_iterations,
        parallelism: settings.argon2_parallelism,
    })
    .map_err(|e| {
        StartError::Config(format!(
            "ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM: {e}"
        ))
    })?;
    Ok(AuthConfig::new(signer, hasher)
        .with_enabled(settings.enable_auth)
        .with_password_policy(PasswordPolicy {
            min_chars: settings.password_min_length,
            ..PasswordPolicy::default()
        })
        .with_api_keys(ApiKeyFormat::new(settings.api_key_prefix.clone()))
        .with_refresh_ttl(Duration::from_secs(
            settings.jwt_refresh_token_expire_days * 86_400,
        ))
        .with_refresh_reuse_grace(Duration::from_secs(
            settings.refresh_token_reuse_interval_seconds,
        ))
        .with_allow_registration(settings.allow_registration)
        .with_trusted_proxies(settings.trusted_proxies.clone())
        .with_client_networks(
            ClientNetworks::new(settings.rate_limit_ipv6_prefix)
                .map_err(|e| StartError::Config(format!("RATE_LIMIT_IPV6_PREFIX: {e}")))?,
        )
        .with_login_limits(LoginLimits {
            per_account: settings.login_max_failures_per_account,
            per_ip: settings.login_max_failures_per_ip,
            window: Duration::from_secs(settings.login_failure_window_seconds),
        })
        .with_registration_limits(RegistrationLimits {
            per_ip: settings.registration_limit_per_ip,
            window: Duration::from_secs(settings.registration_limit_window_seconds),
        })
        .with_cache_ttl(Duration::from_secs(settings.auth_cache_seconds)))
}

/// The built-in connection types, the secrets key (`SECRETS_ENCRYPTION_KEY`,
/// or with SQLite the key file beside the database, created on first use),
/// `CONNECTIONS_BLOCK_PRIVATE_NETWORKS`, `AUTO_TEST_CONNECTIONS`, and the
/// connections `OPENAI_*`, `EXTRACTION_SERVICE_*` and `MS_*` describe (the
/// fallback when an organization has no default of its own).
///
/// # Errors
/// PostgreSQL with `ENABLE_AUTH=true` and no key; a key file that cannot be
/// read, made or parsed.
pub fn connections(settings: &Settings) -> Result<ConnectionsConfig, StartError> {
    Ok(ConnectionsConfig {
        registry: ConnectionRegistry::builtin(),
        secrets: secrets::secret_box(settings)?.map(Arc::new),
        outbound: OutboundPolicy {
            block_private_networks: settings.connections_block_private_networks,
        },
        test_proxy: settings.connections_test_proxy.clone(),
        auto_test: settings.auto_test_connections,
        environment: secrets::environment(settings),
    })
}

/// `DEFAULT_ORG_ID`, else `DEFAULT_ORG_SLUG`.
pub fn default_organization(settings: &Settings) -> DefaultOrganization {
    DefaultOrganization {
        id: settings.default_org_id.map(Into::into),
        slug: Some(settings.default_org_slug.clone()),
    }
}

/// Everything the services take: [`auth`], [`connections`],
/// [`default_organization`]; our scopes and no audit actions of an
/// embedding service (see `Curatore::build_with`).
///
/// # Errors
/// As [`auth`] and [`connections`].
pub fn services(settings: &Settings) -> Result<ServicesConfig, StartError> {
    Ok(ServicesConfig {
        connections: connections(settings)?,
        default_organization: default_organization(settings),
        mail: mail_config(settings),
        ..ServicesConfig::new(auth(settings)?)
    })
}

/// `SMTP_HOST` (on or off), `MAIL_RETRY_BASE_SECONDS`, `MAIL_MAX_ATTEMPTS`.
pub fn mail_config(settings: &Settings) -> MailConfig {
    let config = if settings.mail_enabled() {
        MailConfig::enabled()
    } else {
        MailConfig::disabled()
    };
    config
        .with_retry_base(Duration::from_secs(settings.mail_retry_base_seconds))
        .with_max_attempts(settings.mail_max_attempts)
        // A claim outlives the slowest exchange SMTP_TIMEOUT_SECONDS allows.
        .with_lease(Duration::from_secs(
            (settings.smtp_timeout_seconds * 4).max(60),
        ))
}

/// The SMTP transport of `SMTP_*`, `MAIL_FROM` and `PUBLIC_URL`; `None`
/// without `SMTP_HOST`.
///
/// # Errors
/// An `SMTP_CA_FILE` that cannot be read or holds no certificate; a
/// `MAIL_FROM` that is no mailbox.
pub fn mail_transport(settings: &Settings) -> Result<Option<Arc<dyn MailTransport>>, StartError> {
    let Some(host) = &settings.smtp_host else {
        return Ok(None);
    };
    let extra_roots_pem = match &settings.smtp_ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            StartError::Config(format!("SMTP_CA_FILE: cannot read {}: {e}", path.display()))
        })?),
        None => None,
    };
    let tls = settings.smtp_tls;
    let mailer = curatore_mail::Mailer::new(&curatore_mail::SmtpOptions {
        host: host.clone(),
        port: settings.smtp_port(),
        tls,
        username: settings.smtp_username.clone(),
        password: settings.smtp_password.clone(),
        extra_roots_pem,
        from: settings.mail_from.clone().unwrap_or_default(),
        public_url: settings.public_url.clone().unwrap_or_default(),
        timeout: Duration::from_secs(settings.smtp_timeout_seconds),
    })
    .map_err(|e| StartError::Config(e.to_string()))?;
    Ok(Some(Arc::new(SmtpTransport(mailer))))
}

/// `curatore-mail`'s SMTP mailer as the service layer's transport.
struct SmtpTransport(curatore_mail::Mailer);

impl MailTransport for SmtpTransport {
    fn send<'a>(&'a self, mail: &'a curatore_domain::OutgoingMail) -> MailFuture<'a> {
        Box::pin(async move {
            self.0.send(mail).await.map_err(|f| MailFailure {
                message: f.message,
                permanent: f.permanent,
            })
        })
    }
}

/// `DATABASE_URL`, `DB_POOL_SIZE`, `DB_MAX_OVERFLOW`, `DB_POOL_RECYCLE`,
/// `DB_CONNECT_TIMEOUT_SECONDS`, `HEALTH_CACHE_SECONDS`.
pub fn database(settings: &Settings) -> DatabaseOptions {
    DatabaseOptions {
        max_connections: settings.db_max_connections(),
        min_idle_connections: settings.db_pool().0,
        max_lifetime: Duration::from_secs(settings.db_pool_recycle),
        acquire_timeout: Duration::from_secs(settings.db_connect_timeout_seconds.max(1)),
        health_cache_ttl: Duration::from_secs(settings.health_cache_seconds),
        ..DatabaseOptions::new(settings.database_url.clone())
    }
}

/// The request rate limits (`RATE_LIMIT_*`), unless `RATE_LIMIT_ENABLED` is off.
pub fn rate_limits(settings: &Settings) -> Option<RateLimits> {
    settings.rate_limit_enabled.then(|| RateLimits {
        window: Duration::from_secs(settings.rate_limit_window_seconds),
        per_ip: ClassLimits {
            auth: settings.rate_limit_ip_auth,
            read: settings.rate_limit_ip_reads,
            write: settings.rate_limit_ip_writes,
        },
        per_user: ClassLimits {
            // A signed-in user's POSTs to /auth/… (logout, refresh) count as writes.
            auth: settings.rate_limit_user_writes,
            read: settings.rate_limit_user_reads,
            write: settings.rate_limit_user_writes,
        },
        per_api_key: ClassLimits {
            auth: settings.rate_limit_api_key_writes,
            read: settings.rate_limit_api_key_reads,
            write: settings.rate_limit_api_key_writes,
        },
    })
}

/// `CORS_ORIGINS`, `CORS_ORIGIN_REGEX`, `DEBUG`.
///
/// # Errors
/// A `CORS_ORIGIN_REGEX` that is not a valid expression.
pub fn cors(settings: &Settings) -> Result<CorsPolicy, StartError> {
    CorsPolicy::new(
        &settings.cors_origins.0,
        settings.cors_origin_regex.0.as_deref(),
        settings.debug,
    )
    .map_err(|e| StartError::Config(format!("CORS_ORIGIN_REGEX: {e}")))
}

/// The web layer's state over `services`: CORS, `REQUEST_TIMEOUT_SECONDS`
/// (body deadline), `HEALTH_DETAILS`, `METRICS_TOKEN`, the rate limits.
///
/// # Errors
/// As [`cors`].
pub fn web_state(
    settings: &Settings,
    services: curatore_service::Services,
) -> Result<AppState, StartError> {
    let state = AppState::from_services(services)
        .with_cors(cors(settings)?)
        .with_request_timeout(Duration::from_secs(settings.request_timeout_seconds))
        .with_health_details(match settings.health_details {
            HealthDetails::Public => curatore_web::HealthDetails::Public,
            HealthDetails::Authenticated => curatore_web::HealthDetails::Authenticated,
        })
        .with_metrics_token(settings.metrics_token.clone());
    Ok(match rate_limits(settings) {
        Some(limits) => state.with_rate_limits(limits),
        None => state,
    })
}
