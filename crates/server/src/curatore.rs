//! The one start-up path: from settings to a running system.

use crate::adoption;
use crate::error::StartError;
use crate::from_settings;
use actix_web::HttpServer;
use actix_web::web::ServiceConfig;
use curatore_auth::random_password;
use curatore_config::Settings;
use curatore_domain::{EmailAddress, Slug, Username};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, InvalidationListener, SeedOutcome};
use curatore_service::{
    InitialAdmin, Invalid, MailTransport, NotFound, Operator, RegistryError, ServiceError,
    Services, ServicesConfig,
};
use curatore_web::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The placeholder admin password of the seed; never used when auth is on.
const PLACEHOLDER_ADMIN_PASSWORD: &str = "changeme";

/// Connections one instance holds besides its pool: the invalidation listener.
const EXTRA_CONNECTIONS: u32 = 1;

/// The key of the console's CSRF tokens: derived from `JWT_SECRET_KEY`, so
/// every instance of a deployment agrees on it, and useless for signing
/// tokens.
fn console_key(settings: &Settings) -> Vec<u8> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"curatore-console-csrf\0");
    hasher.update(settings.jwt_secret_key.expose().as_bytes());
    hasher.finalize().to_vec()
}

/// How often retention runs while serving.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// A running Curatore: the database connected and migrated, the services
/// with their operator, the web state, and (on PostgreSQL) the listener that
/// hears what other instances forget. The server binary is this plus a
/// command line; a service that embeds Curatore builds one the same way.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// let settings = curatore_config::Settings {
///     database_url: curatore_domain::DatabaseUrl::parse(
///         &format!("sqlite://{}/curatore.db", dir.path().display()),
///     )?,
///     ..curatore_config::Settings::default()
/// };
/// let curatore = curatore_server::Curatore::build(&settings).await?;
/// // Migrated and seeded: the default organization exists.
/// let org = curatore.operator().default_organization().await?.expect("seeded");
/// assert_eq!(org.slug.as_str(), "default");
/// curatore.close().await;
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct Curatore {
    settings: Settings,
    /// For the operator's maintenance below the services (scrubbing after
    /// sealing); never handed out.
    pub(crate) database: Database,
    services: Services,
    operator: Operator,
    state: AppState,
    /// The SMTP transport the outbox worker sends with (`SMTP_HOST`).
    mail: Option<Arc<dyn MailTransport>>,
    _invalidations: Option<InvalidationListener>,
}

impl std::fmt::Debug for Curatore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Curatore")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Curatore {
    /// Everything `curatore-server` does before it serves: connect (waiting
    /// up to `DB_STARTUP_RETRY_SECONDS` for the database), take the start-up
    /// lock (one of N instances migrates and seeds at a time), adopt a
    /// database of the original and apply pending migrations when
    /// `AUTO_MIGRATE` allows, seed the default organization and its admin,
    /// import the environment's connections, open the secrets key, and on
    /// PostgreSQL start listening for what other instances forget.
    ///
    /// # Errors
    /// [`StartError::Config`] for settings that cannot work (a weak JWT
    /// secret with authentication on, no secrets key on PostgreSQL, a bad
    /// seed value, `DEFAULT_ORG_ID` naming nothing); [`StartError::Runtime`]
    /// when the database cannot be reached or migrated.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        Self::start(settings, true, |_| Ok(())).await
    }

    /// [`Curatore::build`] with what an embedding service adds to the
    /// services before they start: its API-key scopes, audit actions and
    /// connection types.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let settings = curatore_config::Settings {
    /// #     database_url: curatore_domain::DatabaseUrl::parse(
    /// #         &format!("sqlite://{}/curatore.db", dir.path().display()),
    /// #     )?,
    /// #     ..curatore_config::Settings::default()
    /// # };
    /// let curatore = curatore_server::Curatore::build_with(&settings, |config| {
    ///     config.scopes.register("documents", "documents and their summaries")?;
    ///     config.audit_actions.register("summarize_document")
    /// })
    /// .await?;
    /// assert!(curatore.services().scopes().is_known("documents:write"));
    /// curatore.close().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`Curatore::build`]; a registration `customize` refuses
    /// ([`StartError::Config`]).
    pub async fn build_with(
        settings: &Settings,
        customize: impl FnOnce(&mut ServicesConfig) -> Result<(), RegistryError>,
    ) -> Result<Self, StartError> {
        Self::start(settings, true, customize).await
    }

    /// Like [`Curatore::build`], without seeding or importing the
    /// environment's connections: for commands that act on what exists.
    ///
    /// # Errors
    /// As [`Curatore::build`].
    pub async fn open(settings: &Settings) -> Result<Self, StartError> {
        Self::start(settings, false, |_| Ok(())).await
    }

    async fn start(
        settings: &Settings,
        seed_it: bool,
        customize: impl FnOnce(&mut ServicesConfig) -> Result<(), RegistryError>,
    ) -> Result<Self, StartError> {
        // Before connecting: configuration errors exit 2 without waiting.
        let mut config = from_settings::services(settings)?;
        let mail = from_settings::mail_transport(settings)?;
        customize(&mut config).map_err(|e| StartError::Config(e.to_string()))?;
        let secrets = config.connections.secrets.clone();
        // A database of the original that would be refused is refused before
        // anything opens it for writing (SQLite's WAL is a change to the file).
        adoption::check_before_opening(settings, secrets.as_deref()).await?;
        tracing::info!("Initializing database...");
        let db = connect_with_retry(settings).await?;
        tracing::info!(url = %db.redacted_url(), "Database connected ({})", db.kind().as_str());
        log_pool(settings, &db).await;
        let lock = db
            .lock_instances("startup")
            .await
            .map_err(|e| runtime("cannot take the start-up lock", e))?;
        adoption::adopt_original(settings, &db, secrets.as_deref()).await?;
        apply_pending(settings, &db).await?;
        tracing::info!("Database tables initialized");
        let database = db.clone();
        let (services, operator) = Services::open(db, config);
        adoption::seal_clear_secrets(&operator, &database).await?;
        if seed_it {
            seed(settings, &operator).await?;
            import_environment(&operator).await;
        }
        lock.release()
            .await
            .map_err(|e| runtime("cannot release the start-up lock", e))?;
        check_default_organization(&operator).await?;
        let state = from_settings::web_state(settings, services.clone())?;
        Ok(Self {
            settings: settings.clone(),
            database,
            _invalidations: operator.listen_for_invalidations(),
            services,
            operator,
            state,
            mail,
        })
    }

    /// The use cases; requests reach them through handles built from an
    /// authenticated `RequestContext`.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The operator: seeding, export and import, secret rotation, retention.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// The web layer's state (CORS, limits, timeouts set from the settings).
    pub fn web_state(&self) -> &AppState {
        &self.state
    }

    /// The settings this system was built from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Serves our API until SIGINT or SIGTERM, then finishes in-flight
    /// requests and closes the database.
    ///
    /// # Errors
    /// When `HOST:PORT` cannot be bound or the server fails.
    pub async fn serve(self) -> Result<(), StartError> {
        self.serve_with(|_| {}).await
    }

    /// [`Curatore::serve`] with routes of your own beside ours, behind the
    /// same middleware (request ids, JSON errors, the `/api` alias, CORS,
    /// rate limits): see `curatore_web::app_with`.
    ///
    /// # Errors
    /// As [`Curatore::serve`].
    pub async fn serve_with<F>(self, routes: F) -> Result<(), StartError>
    where
        F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
    {
        let started = Instant::now();
        let settings = &self.settings;
        if settings.enable_auth {
            tracing::info!("Authentication: enabled");
        } else {
            tracing::info!("Authentication: disabled (backward compatibility mode)");
        }
        spawn_retention(settings, &self.operator);
        let mail_worker = self.mail.clone().map(|transport| {
            tracing::info!(
                server = settings.smtp_host.as_deref().unwrap_or_default(),
                port = settings.smtp_port(),
                tls = settings.smtp_tls.as_str(),
                "Mail: invitations, resets and notices are sent over SMTP"
            );
            let operator = self.operator.clone();
            actix_web::rt::spawn(async move { operator.run_mail_outbox(transport).await })
        });
        if mail_worker.is_none() {
            tracing::info!(
                "Mail: off (SMTP_HOST is not set); invitations show a temporary password"
            );
        }
        #[cfg(feature = "sqlite")]
        let backups = crate::backup::schedule(settings, &self.operator, &self.database)?;
        #[cfg(not(feature = "sqlite"))]
        if settings.backup_schedule.is_some() {
            return Err(StartError::Config(
                "BACKUP_SCHEDULE: scheduled backups are of SQLite files, and this build has no \
                 SQLite; back PostgreSQL up with pg_dump (docs/operations.md, \"Backups\")"
                    .into(),
            ));
        }
        // The dummy hash for unknown-user logins, made now rather than on the first such login.
        let hasher = from_settings::auth(settings)?.hasher().clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = hasher.warm_up().await {
                tracing::warn!("could not prepare password hashing: {e}");
            }
        });
        curatore_web::metrics::install();
        let request_timeout = Duration::from_secs(settings.request_timeout_seconds);
        let budget = crate::open_files::prepare(settings.db_max_connections());
        tracing::info!(
            workers = budget.workers,
            max_connections_per_worker = budget.per_worker,
            open_file_limit = budget.open_files,
            open_file_limit_before = budget.raised_from,
            "Connections: at most {} per worker, {} workers",
            budget.per_worker,
            budget.workers
        );
        let signals = ShutdownSignals::listen()?;
        let state = self.state.clone();
        let console = settings.console_enabled.then(|| {
            curatore_console::Console::new(self.services.clone(), &console_key(settings)).routes()
        });
        if console.is_some() {
            tracing::info!("Console: /console");
        }
        let server = HttpServer::new(move || {
            let routes = routes.clone();
            let console = console.clone();
            curatore_web::app_with(state.clone(), move |cfg: &mut ServiceConfig| {
                routes(cfg);
                if let Some(console) = console {
                    console(cfg);
                }
            })
        })
        .disable_signals()
        .workers(budget.workers)
        .max_connections(budget.per_worker)
        .shutdown_timeout(settings.shutdown_timeout_seconds)
        // Bounds the headers; the body's deadline is the web layer's.
        .client_request_timeout(request_timeout)
        .bind((settings.host.as_str(), settings.port))
        .map_err(|e| {
            StartError::Runtime(format!(
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
        let state = self.state.clone();
        let watcher = actix_web::rt::spawn(async move {
            let signal = signals.recv().await;
            tracing::info!("{signal} received; finishing in-flight requests");
            state.begin_draining();
            handle.stop(true).await;
        });
        let served = server.await;
        watcher.abort();
        // The mail worker stops before the pool closes; a mail it was
        // sending is tried again (by any instance) once its claim runs out.
        if let Some(worker) = mail_worker {
            worker.abort();
        }
        // Scheduled backups stop before the pool they read closes.
        #[cfg(feature = "sqlite")]
        drop(backups);
        self.close().await;
        served.map_err(|e| StartError::Runtime(format!("the HTTP server failed: {e}")))?;
        tracing::info!("Shutdown complete");
        Ok(())
    }

    /// Closes the database pool (after in-flight work).
    pub async fn close(self) {
        self.operator.close().await;
        tracing::info!("Database connections closed");
    }
}

fn runtime(what: &str, e: impl std::fmt::Display) -> StartError {
    StartError::Runtime(format!("{what}: {e}"))
}

/// Tries until `DB_STARTUP_RETRY_SECONDS` have passed, doubling the pause
/// from 250 ms up to 5 s, so a database that starts alongside us is waited for.
async fn connect_with_retry(settings: &Settings) -> Result<Database, StartError> {
    let options = from_settings::database(settings);
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
                    return Err(StartError::Runtime(format!(
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

async fn apply_pending(settings: &Settings, db: &Database) -> Result<(), StartError> {
    let conn = db.connection();
    let pending = Migrator::get_pending_migrations(conn)
        .await
        .map_err(|e| runtime("cannot read the migration history", e))?;
    let names: Vec<String> = pending.iter().map(|m| m.name().to_owned()).collect();
    if names.is_empty() {
        tracing::info!("Migrations up to date");
        return Ok(());
    }
    if !settings.auto_migrate {
        return Err(StartError::Runtime(format!(
            "{} migration(s) pending ({}) and AUTO_MIGRATE=false; run `curatore-migrate up` first",
            names.len(),
            names.join(", ")
        )));
    }
    Migrator::up(conn, None)
        .await
        .map_err(|e| runtime("migration failed", e))?;
    tracing::info!(applied = %names.join(", "), "Migrations applied ({} new)", names.len());
    Ok(())
}

/// Rewrites the database files so values that were overwritten (clear
/// secrets now sealed) are not left in free pages or dead rows.
pub(crate) async fn scrub(db: &Database) -> Result<(), StartError> {
    curatore_migration::adopt::scrub(db.connection())
        .await
        .map_err(|e| runtime("cannot scrub the database", e))
}

/// Creates the default organization and admin when no organization exists.
async fn seed(settings: &Settings, operator: &Operator) -> Result<(), StartError> {
    // Checked first so that settings only seeding needs are not required later.
    if operator
        .is_seeded()
        .await
        .map_err(|e| runtime("cannot check for organizations", e))?
    {
        tracing::info!("Default organization present; nothing to seed");
        return Ok(());
    }
    let organization_slug = Slug::parse(&settings.default_org_slug)
        .map_err(|e| StartError::Config(format!("DEFAULT_ORG_SLUG: {e}")))?;
    let admin_email = EmailAddress::parse(&settings.admin_email)
        .map_err(|e| StartError::Config(format!("ADMIN_EMAIL: {e}")))?;
    let admin_username = Username::parse(&settings.admin_username)
        .map_err(|e| StartError::Config(format!("ADMIN_USERNAME: {e}")))?;
    let mut password = settings.admin_password.clone();
    let mut generated = false;
    if settings.enable_auth && password.expose() == PLACEHOLDER_ADMIN_PASSWORD {
        password = random_password(24);
        generated = true;
    }
    let outcome = operator
        .seed_initial_tenant(InitialAdmin {
            organization_name: settings.default_org_name.clone(),
            organization_slug,
            admin_email,
            admin_username,
            admin_password: password.clone(),
            admin_full_name: Some(settings.admin_full_name.clone()).filter(|n| !n.is_empty()),
        })
        .await
        .map_err(|e| match e {
            ServiceError::Invalid(Invalid::WeakPassword(_) | Invalid::SamePassword) => {
                StartError::Config(format!("ADMIN_PASSWORD (PASSWORD_MIN_LENGTH): {e}"))
            }
            _ => runtime("seeding failed", e),
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

/// Imports the environment's connections into the default organization; a
/// failure is logged and does not stop the start.
pub(crate) async fn import_environment(operator: &Operator) {
    match operator.import_environment_connections().await {
        Ok(results) => {
            let summary: Vec<String> = results
                .iter()
                .map(|(t, a)| format!("{t}: {}", a.as_str()))
                .collect();
            tracing::info!("Environment connections: {}", summary.join(", "));
        }
        Err(e) => tracing::warn!("importing connections from the environment failed: {e}"),
    }
}

/// Refuses to start when `DEFAULT_ORG_ID` names an organization that does not exist.
async fn check_default_organization(operator: &Operator) -> Result<(), StartError> {
    match operator.default_organization().await {
        Ok(Some(org)) => {
            tracing::info!(organization_id = %org.id, slug = org.slug.as_str(), "Default organization: {}", org.name);
            Ok(())
        }
        Ok(None) => {
            tracing::warn!(
                "No organization exists; requests needing one answer 404 until `curatore-server seed` runs"
            );
            Ok(())
        }
        Err(e @ ServiceError::NotFound(NotFound::ConfiguredOrganization(_))) => {
            Err(StartError::Config(format!("DEFAULT_ORG_ID: {e}")))
        }
        Err(e) => Err(runtime("cannot look up the default organization", e)),
    }
}

/// With `AUDIT_RETENTION_DAYS` set, purges old audit entries a minute after
/// start and then hourly, for as long as the server runs.
fn spawn_retention(settings: &Settings, operator: &Operator) {
    let Some(days) = settings.audit_retention_days else {
        return;
    };
    tracing::info!(
        days,
        "Audit retention: entries older than {days} days are deleted hourly"
    );
    let operator = operator.clone();
    actix_web::rt::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        loop {
            match operator.purge_audit_log(days).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "Audit retention deleted {deleted} entries"),
                Err(e) => tracing::warn!("audit retention failed; retrying in an hour: {e}"),
            }
            tokio::time::sleep(RETENTION_EVERY).await;
        }
    });
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
    fn listen() -> Result<Self, StartError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| signal(kind).map_err(|e| runtime("cannot listen for signals", e));
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
