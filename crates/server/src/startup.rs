//! Start-up and shutdown, in the order the seed's log describes.

use crate::cli::Failure;
use actix_web::HttpServer;
use curatore_auth::{
    ApiKeyFormat, Argon2Settings, PasswordHasher, PasswordPolicy, SigningAlgorithm, TokenSettings,
    TokenSigner, random_password,
};
use curatore_config::{HealthDetails, JwtAlgorithm, Settings};
use curatore_domain::{EmailAddress, Slug, Username};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions, InstanceLock, SeedOutcome};
use curatore_service::{
    AuthConfig, DefaultOrganization, ErrorCode, InitialAdmin, LoginLimits, RegistrationLimits,
    Services,
};
use curatore_web::{AppState, ClassLimits, CorsPolicy, RateLimits};
use std::time::{Duration, Instant};

/// The placeholder admin password of the seed; never used when auth is on.
const PLACEHOLDER_ADMIN_PASSWORD: &str = "changeme";

pub async fn serve(settings: Settings) -> Result<(), Failure> {
    let started = Instant::now();
    if settings.enable_auth
        && let Some(problem) = settings.jwt_secret_problem()
    {
        return Err(Failure::Config(format!(
            "JWT_SECRET_KEY: {problem}; ENABLE_AUTH=true needs a real secret (e.g. `openssl rand -base64 48`)"
        )));
    }
    let services = prepare(&settings).await?;
    // Held until the server stops: what other instances forget, this one forgets too.
    let _invalidations = services.listen_for_invalidations();
    let db = services.database().clone();
    check_default_organization(&db, services.default_organization_rule()).await?;
    if settings.enable_auth {
        tracing::info!("Authentication: enabled");
    } else {
        tracing::info!("Authentication: disabled (backward compatibility mode)");
    }

    // The dummy hash for unknown-user logins, made now rather than on the first such login.
    spawn_retention(&settings, &services);
    let backups = crate::backup::schedule(&settings, &services)?;
    let hasher = services.config().hasher.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = hasher.warm_up().await {
            tracing::warn!("could not prepare password hashing: {e}");
        }
    });
    let request_timeout = Duration::from_secs(settings.request_timeout_seconds);
    let cors = CorsPolicy::new(
        &settings.cors_origins.0,
        settings.cors_origin_regex.0.as_deref(),
        settings.debug,
    )
    .map_err(|e| Failure::Config(format!("CORS_ORIGIN_REGEX: {e}")))?;
    let state = AppState::from_services(services)
        .with_cors(cors)
        .with_request_timeout(request_timeout)
        .with_health_details(match settings.health_details {
            HealthDetails::Public => curatore_web::HealthDetails::Public,
            HealthDetails::Authenticated => curatore_web::HealthDetails::Authenticated,
        })
        .with_metrics_token(settings.metrics_token.clone());
    let state = match rate_limits(&settings) {
        Some(limits) => state.with_rate_limits(limits),
        None => state,
    };
    curatore_web::metrics::install();
    let app_state = state.clone();
    let connections = crate::connections::prepare(settings.db_max_connections());
    tracing::info!(
        workers = connections.workers,
        max_connections_per_worker = connections.per_worker,
        open_file_limit = connections.open_files,
        open_file_limit_before = connections.raised_from,
        "Connections: at most {} per worker, {} workers",
        connections.per_worker,
        connections.workers
    );
    let signals = ShutdownSignals::listen()?;
    let server = HttpServer::new(move || curatore_web::app(app_state.clone()))
        .disable_signals()
        .workers(connections.workers)
        .max_connections(connections.per_worker)
        .shutdown_timeout(settings.shutdown_timeout_seconds)
        // Bounds the headers; the body's deadline is the web layer's (above).
        .client_request_timeout(request_timeout)
        .bind((settings.host.as_str(), settings.port))
        .map_err(|e| {
            Failure::Runtime(format!(
                "cannot listen on {} (HOST, PORT): {e}",
                settings.bind_address()
            ))
        })?;
    for addr in server.addrs() {
        tracing::info!(
            %addr,
            startup_ms = started.elapsed().as_millis() as u64,
            "Listening on http://{addr}"
        );
    }
    let server = server.run();
    let handle = server.handle();
    let watcher = actix_web::rt::spawn(async move {
        let signal = signals.recv().await;
        tracing::info!("{signal} received; finishing in-flight requests");
        state.begin_draining();
        handle.stop(true).await;
    });
    let served = server.await;
    watcher.abort();
    // No backup is started on a closing pool.
    drop(backups);
    db.close().await;
    tracing::info!("Database connections closed");
    served.map_err(|e| Failure::Runtime(format!("the HTTP server failed: {e}")))?;
    tracing::info!("Shutdown complete");
    Ok(())
}

/// The request rate limits, unless `RATE_LIMIT_ENABLED` is off.
fn rate_limits(settings: &Settings) -> Option<RateLimits> {
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

/// Maps the settings onto the web layer's authentication configuration.
fn auth_config(settings: &Settings) -> Result<AuthConfig, Failure> {
    let algorithm = match settings.jwt_algorithm {
        JwtAlgorithm::HS256 => SigningAlgorithm::HS256,
        JwtAlgorithm::HS384 => SigningAlgorithm::HS384,
        JwtAlgorithm::HS512 => SigningAlgorithm::HS512,
    };
    Ok(AuthConfig {
        enabled: settings.enable_auth,
        signer: TokenSigner::new(TokenSettings {
            secret: settings.jwt_secret_key.clone(),
            algorithm,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            access_ttl: Duration::from_secs(settings.jwt_access_token_expire_minutes * 60),
        }),
        hasher: password_hasher(settings)?,
        password_policy: password_policy(settings),
        api_keys: ApiKeyFormat::new(settings.api_key_prefix.clone()),
        refresh_ttl: Duration::from_secs(settings.jwt_refresh_token_expire_days * 86_400),
        refresh_reuse_grace: Duration::from_secs(settings.refresh_token_reuse_interval_seconds),
        allow_registration: settings.allow_registration,
        trusted_proxies: settings.trusted_proxies.clone(),
        login_limits: LoginLimits {
            per_account: settings.login_max_failures_per_account,
            per_ip: settings.login_max_failures_per_ip,
            window: Duration::from_secs(settings.login_failure_window_seconds),
        },
        registration_limits: RegistrationLimits {
            per_ip: settings.registration_limit_per_ip,
            window: Duration::from_secs(settings.registration_limit_window_seconds),
        },
        cache_ttl: Duration::from_secs(settings.auth_cache_seconds),
    })
}

/// The argon2id hasher at the configured cost.
fn password_hasher(settings: &Settings) -> Result<PasswordHasher, Failure> {
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

fn password_policy(settings: &Settings) -> PasswordPolicy {
    PasswordPolicy {
        min_chars: settings.password_min_length,
        ..PasswordPolicy::default()
    }
}

/// `curatore-server seed`: the same preparation as `serve`, without serving.
pub async fn seed_only(settings: &Settings) -> Result<(), Failure> {
    let services = prepare(settings).await?;
    services.database().close().await;
    Ok(())
}

/// Connect (with retries), migrate, seed: the first half of start-up. The
/// services it returns are the ones that then serve.
async fn prepare(settings: &Settings) -> Result<Services, Failure> {
    let (services, lock) = open_locked(settings).await?;
    seed(settings, &services).await?;
    if let Err(e) = crate::secrets::import_environment(&services).await {
        tracing::warn!("{e}");
    }
    release(lock).await?;
    Ok(services)
}

/// `curatore-server connections import-env`.
pub async fn import_env(settings: &Settings) -> Result<(), Failure> {
    let services = open_services(settings).await?;
    let done = crate::secrets::import_environment(&services).await;
    services.database().close().await;
    done.map_err(Failure::Runtime)
}

/// `curatore-server secrets rotate`: re-encrypts every stored secret under
/// the first key of `SECRETS_ENCRYPTION_KEY`, `batch` connections per
/// transaction; `resume_after` continues an interrupted run.
pub async fn rotate_secrets(
    settings: &Settings,
    batch: u64,
    resume_after: Option<uuid::Uuid>,
) -> Result<(), Failure> {
    let services = open_services(settings).await?;
    let rotated = services
        .rotate_secrets(batch, resume_after.map(Into::into), |done, last| {
            tracing::info!(re_encrypted = done, last_id = %last.as_uuid(), "secrets rotate: batch done (resume with --resume-after {})", last.as_uuid());
        })
        .await;
    // Clear values the original left (sealed now) must not stay behind in
    // free pages or dead rows.
    let scrubbed = match &rotated {
        Ok((changed, _)) if *changed > 0 => {
            curatore_migration::adopt::scrub(services.database().connection()).await
        }
        _ => Ok(()),
    };
    services.database().close().await;
    let (changed, _) =
        rotated.map_err(|e| Failure::Runtime(format!("secrets rotate failed: {e}")))?;
    scrubbed.map_err(|e| {
        Failure::Runtime(format!(
            "cannot scrub the database after re-encrypting: {e}"
        ))
    })?;
    tracing::info!(
        re_encrypted = changed,
        "secrets rotate: done, {changed} connections re-encrypted"
    );
    Ok(())
}

/// Connect (with retries) and migrate, without seeding.
pub(crate) async fn open_services(settings: &Settings) -> Result<Services, Failure> {
    let (services, lock) = open_locked(settings).await?;
    release(lock).await?;
    Ok(services)
}

/// Connect and migrate while holding the start-up lock: of several servers
/// starting at once on one PostgreSQL database, one migrates (and seeds)
/// while the others wait, then find nothing left to do.
async fn open_locked(settings: &Settings) -> Result<(Services, InstanceLock), Failure> {
    let auth = auth_config(settings)?;
    // Before connecting: a missing key is a configuration error (exit 2).
    let connections = crate::secrets::connections_config(settings)?;
    tracing::info!("Initializing database...");
    let db = connect_with_retry(settings).await?;
    tracing::info!(url = %db.redacted_url(), "Database connected ({})", db.kind().as_str());
    log_pool(settings, &db).await;
    let lock = db
        .lock_instances("startup")
        .await
        .map_err(|e| Failure::Runtime(format!("cannot take the start-up lock: {e}")))?;
    let adopted = migrate(settings, &db).await?;
    tracing::info!("Database tables initialized");
    let default_org = DefaultOrganization {
        id: settings.default_org_id.map(Into::into),
        slug: Some(settings.default_org_slug.clone()),
    };
    let services = Services::with_connections(db, default_org, auth, connections);
    if adopted {
        seal_clear_secrets(&services).await?;
    }
    Ok((services, lock))
}

/// Seals the connection secrets the original stored in clear, then scrubs
/// the storage so the clear values are gone from the database files.
async fn seal_clear_secrets(services: &Services) -> Result<(), Failure> {
    let (sealed, _) = services
        .rotate_secrets(100, None, |_, _| {})
        .await
        .map_err(|e| {
            Failure::Runtime(format!(
                "sealing the adopted connection secrets failed: {e}"
            ))
        })?;
    curatore_migration::adopt::scrub(services.database().connection())
        .await
        .map_err(|e| Failure::Runtime(format!("cannot scrub the database after sealing: {e}")))?;
    tracing::info!(
        connections = sealed,
        "Connection secrets of the original sealed ({sealed} connections)"
    );
    Ok(())
}

/// Connections one instance holds besides its pool: the invalidation listener.
const EXTRA_CONNECTIONS: u32 = 1;

/// Logs this instance's pool and, on PostgreSQL, how many such instances
/// the server's `max_connections` allows; warns when `INSTANCE_COUNT` of
/// them would not fit.
async fn log_pool(settings: &Settings, db: &Database) {
    let (size, overflow) = settings.db_pool();
    let per_instance = settings
        .db_max_connections()
        .saturating_add(EXTRA_CONNECTIONS);
    tracing::info!(
        pool_size = size,
        max_overflow = overflow,
        max_connections = settings.db_max_connections(),
        "Database pool of this instance: {size} kept + {overflow} overflow"
    );
    let max = match db.server_max_connections().await {
        Ok(Some(max)) => max,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read PostgreSQL's max_connections");
            return;
        }
    };
    // PostgreSQL keeps `superuser_reserved_connections` (3 by default) aside.
    let usable = max.saturating_sub(3);
    let fit = usable / per_instance.max(1);
    tracing::info!(
        server_max_connections = max,
        per_instance,
        instances_that_fit = fit,
        "PostgreSQL allows {max} connections: {fit} instances like this one fit"
    );
    if let Some(count) = settings.instance_count
        && u64::from(count) * u64::from(per_instance) > u64::from(usable)
    {
        tracing::warn!(
            instance_count = count,
            per_instance,
            server_max_connections = max,
            "INSTANCE_COUNT={count} instances of {per_instance} connections exceed PostgreSQL's max_connections={max}: lower DB_POOL_SIZE/DB_MAX_OVERFLOW or raise max_connections"
        );
    }
}

async fn release(lock: InstanceLock) -> Result<(), Failure> {
    lock.release()
        .await
        .map_err(|e| Failure::Runtime(format!("cannot release the start-up lock: {e}")))
}

/// `curatore-server audit purge`: deletes audit entries older than `days`.
pub async fn purge_audit(settings: &Settings, days: u32) -> Result<(), Failure> {
    let services = open_services(settings).await?;
    let purged = services.purge_audit_log(days).await;
    services.database().close().await;
    let deleted = purged.map_err(|e| match e.code() {
        ErrorCode::ValidationFailed => Failure::Config(format!("--older-than: {}", e.message())),
        _ => Failure::Runtime(format!("purging the audit log failed: {e}")),
    })?;
    tracing::info!(
        deleted,
        older_than_days = days,
        "Audit entries older than {days} days deleted: {deleted}"
    );
    Ok(())
}

/// How often retention runs while serving.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// With `AUDIT_RETENTION_DAYS` set, purges old audit entries a minute after
/// start and then hourly, for as long as the server runs.
fn spawn_retention(settings: &Settings, services: &Services) {
    let Some(days) = settings.audit_retention_days else {
        return;
    };
    tracing::info!(
        days,
        "Audit retention: entries older than {days} days are deleted hourly"
    );
    let services = services.clone();
    actix_web::rt::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        loop {
            match services.purge_audit_log(days).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "Audit retention deleted {deleted} entries"),
                Err(e) => tracing::warn!("audit retention failed; retrying in an hour: {e}"),
            }
            tokio::time::sleep(RETENTION_EVERY).await;
        }
    });
}

fn database_options(settings: &Settings) -> DatabaseOptions {
    DatabaseOptions {
        max_connections: settings.db_max_connections(),
        min_idle_connections: settings.db_pool().0,
        max_lifetime: Duration::from_secs(settings.db_pool_recycle),
        acquire_timeout: Duration::from_secs(settings.db_connect_timeout_seconds.max(1)),
        health_cache_ttl: Duration::from_secs(settings.health_cache_seconds),
        ..DatabaseOptions::new(settings.database_url.clone())
    }
}

/// Tries until `DB_STARTUP_RETRY_SECONDS` have passed, doubling the pause
/// from 250 ms up to 5 s, so a database that starts alongside us is waited for.
async fn connect_with_retry(settings: &Settings) -> Result<Database, Failure> {
    let options = database_options(settings);
    let budget = Duration::from_secs(settings.db_startup_retry_seconds);
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        match Database::connect(&options).await {
            Ok(db) => return Ok(db),
            Err(err) => {
                let elapsed = started.elapsed();
                if elapsed + pause > budget {
                    return Err(Failure::Runtime(format!(
                        "could not reach the database at {} after {attempt} attempts in {}s \
                         (DB_STARTUP_RETRY_SECONDS={}): {err}",
                        settings.database_url.redacted(),
                        elapsed.as_secs(),
                        settings.db_startup_retry_seconds
                    )));
                }
                tracing::warn!(
                    attempt,
                    retry_in_ms = pause.as_millis() as u64,
                    "Database not reachable yet: {err}"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
        }
    }
}

/// Applies pending migrations; first, a database made by the original Python
/// server (its tables, none of our history) is adopted when `AUTO_MIGRATE`
/// allows. Returns whether it adopted one (its connection secrets are then
/// still in clear).
async fn migrate(settings: &Settings, db: &Database) -> Result<bool, Failure> {
    let adopted = adopt_original(settings, db).await?;
    apply_pending(settings, db).await?;
    Ok(adopted)
}

async fn adopt_original(settings: &Settings, db: &Database) -> Result<bool, Failure> {
    use curatore_migration::adopt::{self, Finding};
    let conn = db.connection();
    let finding = adopt::inspect(conn)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot inspect the database schema: {e}")))?;
    match finding {
        Finding::NothingToAdopt => Ok(false),
        Finding::Unexpected(problems) => Err(Failure::Runtime(format!(
            "the database holds tables of the original server, but not as expected; \
             nothing was changed:\n  {}",
            problems.join("\n  ")
        ))),
        Finding::Original if !settings.auto_migrate => Err(Failure::Runtime(
            "the database was made by the original server and AUTO_MIGRATE=false; \
             back it up and run `curatore-migrate adopt` first"
                .to_owned(),
        )),
        Finding::Original => {
            tracing::info!("Database made by the original server: adopting it");
            adopt::adopt(conn, false)
                .await
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            tracing::info!("Original database adopted");
            Ok(true)
        }
    }
}

async fn apply_pending(settings: &Settings, db: &Database) -> Result<(), Failure> {
    let conn = db.connection();
    let pending = Migrator::get_pending_migrations(conn)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot read the migration history: {e}")))?;
    let names: Vec<String> = pending.iter().map(|m| m.name().to_owned()).collect();
    if names.is_empty() {
        tracing::info!("Migrations up to date");
        return Ok(());
    }
    if !settings.auto_migrate {
        return Err(Failure::Runtime(format!(
            "{} migration(s) pending ({}) and AUTO_MIGRATE=false; run `curatore-migrate up` first",
            names.len(),
            names.join(", ")
        )));
    }
    Migrator::up(conn, None)
        .await
        .map_err(|e| Failure::Runtime(format!("migration failed: {e}")))?;
    tracing::info!(applied = %names.join(", "), "Migrations applied ({} new)", names.len());
    Ok(())
}

/// Creates the default organization and admin when no organization exists,
/// through the same service a CLI or another service would use.
async fn seed(settings: &Settings, services: &Services) -> Result<(), Failure> {
    // Checked first so that settings only seeding needs are not required later.
    let exists = services
        .database()
        .system()
        .organizations()
        .any_exist()
        .await
        .map_err(|e| Failure::Runtime(format!("cannot check for organizations: {e}")))?;
    if exists {
        tracing::info!("Default organization present; nothing to seed");
        return Ok(());
    }
    let organization_slug = Slug::parse(&settings.default_org_slug)
        .map_err(|e| Failure::Config(format!("DEFAULT_ORG_SLUG: {e}")))?;
    let admin_email = EmailAddress::parse(&settings.admin_email)
        .map_err(|e| Failure::Config(format!("ADMIN_EMAIL: {e}")))?;
    let admin_username = Username::parse(&settings.admin_username)
        .map_err(|e| Failure::Config(format!("ADMIN_USERNAME: {e}")))?;
    let mut password = settings.admin_password.clone();
    let mut generated = false;
    if settings.enable_auth && password.expose() == PLACEHOLDER_ADMIN_PASSWORD {
        password = random_password(24);
        generated = true;
    }
    let outcome = services
        .seed_initial_tenant(InitialAdmin {
            organization_name: settings.default_org_name.clone(),
            organization_slug,
            admin_email,
            admin_username,
            admin_password: password.clone(),
            admin_full_name: Some(settings.admin_full_name.clone()).filter(|n| !n.is_empty()),
        })
        .await
        .map_err(|e| match e.code() {
            ErrorCode::WeakPassword => Failure::Config(format!(
                "ADMIN_PASSWORD (PASSWORD_MIN_LENGTH): {}",
                e.message()
            )),
            _ => Failure::Runtime(format!("seeding failed: {e}")),
        })?;
    match outcome {
        SeedOutcome::Created {
            organization,
            admin,
        } => {
            tracing::info!(
                organization_id = %organization.id,
                "Default organization '{}' ({}) and admin '{}' created",
                organization.name,
                organization.slug.as_str(),
                admin.username.as_str()
            );
            if generated {
                tracing::warn!(
                    "ADMIN_PASSWORD is the placeholder; generated admin password (shown once): {}",
                    password.expose()
                );
            }
        }
        SeedOutcome::AlreadySeeded => {
            tracing::info!("Default organization present; nothing to seed");
        }
    }
    Ok(())
}

/// Refuses to start when `DEFAULT_ORG_ID` names an organization that does not exist.
async fn check_default_organization(
    db: &Database,
    default_org: &DefaultOrganization,
) -> Result<(), Failure> {
    let found = default_org
        .resolve(db)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot look up the default organization: {e}")))?;
    match (found, default_org.id) {
        (Some(org), _) => {
            tracing::info!(organization_id = %org.id, slug = org.slug.as_str(), "Default organization: {}", org.name);
            Ok(())
        }
        (None, Some(id)) => Err(Failure::Config(format!(
            "DEFAULT_ORG_ID: no organization with id {id} exists"
        ))),
        (None, None) => {
            tracing::warn!(
                "No organization exists; requests needing one answer 404 until `curatore-server seed` runs"
            );
            Ok(())
        }
    }
}

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM, listened for from the moment this
/// is made: made before "Listening on" is logged, so a signal sent as soon as
/// the server says it listens is a graceful shutdown, never the default
/// (immediate) death.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn listen() -> Result<Self, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| {
                signal(kind)
                    .map_err(|e| Failure::Runtime(format!("cannot listen for signals: {e}")))
            };
            Ok(Self {
                interrupt: listen(SignalKind::interrupt())?,
                terminate: listen(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the first signal; returns which.
    async fn recv(mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
