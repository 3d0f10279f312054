//! Connections to outside services (LLM APIs, the extraction service,
//! SharePoint): typed by a [`ConnectionRegistry`], their secrets sealed at
//! rest and redacted in every answer, tested on save without holding a
//! transaction, at most one default per organization and type.
//!
//! Services that call those outside services ask for one thing:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("sqlite://{}/doc.db", dir.path().display());
//! # let (services, _operator) = curatore_service::testing::seeded(&url, "docs").await;
//! # let client = curatore_service::Client::local();
//! # let password = curatore_domain::Secret::new(curatore_service::testing::ADMIN_PASSWORD);
//! # let session = services.anonymous(&client).login("admin", &password).await?;
//! # let ctx = services
//! #     .authenticate(curatore_service::Credentials::Bearer(session.access_token), client)
//! #     .await?;
//! // The caller's organization's active default `llm` connection,
//! // decrypted, or the one the OPENAI_* variables describe when it has none.
//! match services.connections(&ctx).active("llm").await? {
//!     Some(llm) => {
//!         let base_url = llm.text("base_url").unwrap_or_default();
//!         let api_key = llm.secret("api_key"); // `Debug` shows [REDACTED]
//!         println!("{} via {base_url} ({api_key:?})", llm.name);
//!     }
//!     None => println!("no llm configured for this organization"),
//! }
//! // Unknown types are refused, not silently empty.
//! assert!(services.connections(&ctx).active("no_such_type").await.is_err());
//! # Ok::<(), curatore_service::ServiceError>(()) }).unwrap();
//! ```
//!
//! [`ActiveConnection`]'s `Debug` and `Serialize` never show a secret.

pub mod config;
pub mod kinds;
pub mod outbound;
mod sealing;

pub use sealing::{ClearSecrets, SecretsReport};

use crate::audit::{AuditEvent, Entry};
use crate::context::{Access, RequestContext, Scope};
use crate::error::{Denied, Invalid, Result, SecretsFailure, ServiceError};
use crate::handle::Bound;
use crate::operator::Operator;
use crate::page::Page;
use crate::services::Services;
use crate::text;
use crate::work::{Origin, Work};
use chrono::{DateTime, Utc};
use curatore_auth::{SecretBox, SecretsError};
use curatore_domain::{
    Connection, ConnectionId, ConnectionScope, ConnectionType, NewConnection, OrganizationId, Role,
    Secret,
};
use curatore_persistence::{ConnectionChanges, ConnectionFilter};
use kinds::{ConnectionKind, ConnectionRegistry, TestOutcome};
use outbound::{Outbound, OutboundPolicy};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const READ: Scope = Scope::new("connections", Access::Read);
const WRITE: Scope = Scope::new("connections", Access::Write);

/// The most connections one page may hold.
pub const MAX_CONNECTION_PAGE: u64 = 1000;
/// The longest description.
pub const DESCRIPTION_MAX: usize = 500;

/// A connection described by environment variables (`OPENAI_*`, …): imported
/// as a managed connection of the default organization, and the fallback of
/// [`Connections::active`]. `Debug` hides the configuration.
#[derive(Clone)]
pub struct EnvironmentConnection {
    /// Its type (`llm`).
    pub connection_type: String,
    /// Its name ("Default LLM").
    pub name: String,
    /// The variables it comes from, for `managed_by`.
    pub variables: String,
    /// The configuration, secrets in clear.
    pub config: Value,
}

impl std::fmt::Debug for EnvironmentConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvironmentConnection")
            .field("connection_type", &self.connection_type)
            .field("name", &self.name)
            .field("variables", &self.variables)
            .finish_non_exhaustive()
    }
}

/// How connections behave in this process.
#[derive(Clone, Debug)]
pub struct ConnectionsConfig {
    /// The known types (start from [`ConnectionRegistry::builtin`]).
    pub registry: ConnectionRegistry,
    /// The keys sealing secrets; without them a secret cannot be saved or read.
    pub secrets: Option<Arc<SecretBox>>,
    /// Which outbound addresses tests may reach.
    pub outbound: OutboundPolicy,
    /// `CONNECTIONS_TEST_PROXY`: the proxy tests go through; `None`, straight
    /// to the checked address (the environment's proxy variables are ignored).
    pub test_proxy: Option<Secret>,
    /// `AUTO_TEST_CONNECTIONS`: test on save when asked to.
    pub auto_test: bool,
    /// Connections the environment describes, per type.
    pub environment: Vec<EnvironmentConnection>,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        Self {
            registry: ConnectionRegistry::builtin(),
            secrets: None,
            outbound: OutboundPolicy::default(),
            test_proxy: None,
            auto_test: true,
            environment: Vec::new(),
        }
    }
}

/// A type as `GET /connections/types` lists it.
#[derive(Debug, Clone)]
pub struct ConnectionTypeInfo {
    /// `llm`.
    pub type_name: &'static str,
    /// "LLM API".
    pub display_name: &'static str,
    /// One sentence.
    pub description: &'static str,
    /// JSON Schema of the configuration.
    pub schema: Value,
    /// A valid configuration with placeholders.
    pub example_config: Value,
}

/// A connection as asked for.
#[derive(Debug, Clone)]
pub struct NewConnectionRequest {
    /// 1 to 255 characters.
    pub name: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// A registered type.
    pub connection_type: String,
    /// Its configuration, secrets in clear.
    pub config: Value,
    /// Make it the organization's default for its type.
    pub is_default: bool,
    /// Organization-wide or the caller's own.
    pub scope: ConnectionScope,
    /// Test it before saving (unless `AUTO_TEST_CONNECTIONS=false`).
    pub test_on_save: bool,
}

/// What a `PUT` changes; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ConnectionUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// Laid over the stored configuration; the marker or an omitted secret
    /// keeps the stored secret, `null` removes a field.
    pub config: Option<Value>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Become the default (moving it) or stop being it.
    pub is_default: Option<bool>,
    /// Test it before saving.
    pub test_on_save: bool,
    /// Immutable: accepted only when equal to the stored type.
    pub connection_type: Option<String>,
    /// Immutable: accepted only when equal to the stored scope.
    pub scope: Option<ConnectionScope>,
}

/// Which connections to list.
#[derive(Debug, Clone)]
pub struct ConnectionQuery {
    /// Only this type.
    pub connection_type: Option<String>,
    /// Only active or inactive ones.
    pub is_active: Option<bool>,
    /// Only the defaults or the others.
    pub is_default: Option<bool>,
    /// How many to pass over.
    pub skip: u64,
    /// The most to return (1 to [`MAX_CONNECTION_PAGE`]).
    pub limit: u64,
}

impl Default for ConnectionQuery {
    fn default() -> Self {
        Self {
            connection_type: None,
            is_active: None,
            is_default: None,
            skip: 0,
            limit: 100,
        }
    }
}

/// A saved connection (its configuration redacted) and, if it was tested on
/// save, the outcome.
#[derive(Debug, Clone)]
pub struct SavedConnection {
    /// The record; `config` shows every secret as [`config::REDACTED`].
    pub connection: Connection,
    /// The test run before saving, if any.
    pub test: Option<TestOutcome>,
}

/// The outcome of `POST /connections/{id}/test`.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// The connection tested.
    pub connection_id: ConnectionId,
    /// The outcome (scrubbed of secrets).
    pub outcome: TestOutcome,
    /// When.
    pub tested_at: DateTime<Utc>,
}

/// Where an [`ActiveConnection`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionSource {
    /// The organization's default connection.
    Database,
    /// Environment variables (the organization has no default).
    Environment,
}

/// A connection ready to use: its settings and its decrypted secrets, the
/// latter in [`Secret`]s that `Debug` and `Serialize` show as `[REDACTED]`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActiveConnection {
    /// The stored connection, if it came from the database.
    pub connection_id: Option<ConnectionId>,
    /// Its type.
    pub connection_type: String,
    /// Its name.
    pub name: String,
    /// Database or environment.
    pub source: ConnectionSource,
    /// The non-secret settings (defaults filled).
    pub settings: Value,
    /// The secrets, by top-level field name (nested ones dotted).
    pub secrets: BTreeMap<String, Secret>,
}

impl ActiveConnection {
    /// A non-secret text setting.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.settings.get(field).and_then(Value::as_str)
    }

    /// A secret, to be exposed only where it is used.
    pub fn secret(&self, field: &str) -> Option<&Secret> {
        self.secrets.get(field)
    }
}

fn unknown_type(name: &str, registry: &ConnectionRegistry) -> ServiceError {
    let known: Vec<&str> = registry.all().map(|k| k.type_name()).collect();
    ServiceError::validation(format!(
        "connection_type: `{name}` is not a known type ({})",
        known.join(", ")
    ))
}

pub(crate) fn secrets_error(e: &SecretsError) -> ServiceError {
    tracing::error!(error = %e, "cannot open a stored connection secret");
    SecretsFailure::CannotOpen(e.clone()).into()
}

pub(crate) fn no_key() -> ServiceError {
    SecretsFailure::NoKey.into()
}

fn managed_refusal(c: &Connection) -> ServiceError {
    Denied::ManagedConnection {
        managed_by: c
            .managed_by
            .clone()
            .unwrap_or_else(|| "see the server's configuration".to_owned()),
    }
    .into()
}

fn audit_details(c: &Connection) -> Value {
    json!({
        "name": c.name,
        "connection_type": c.connection_type.as_str(),
        "scope": c.scope.as_str(),
        "is_default": c.is_default,
        "is_active": c.is_active,
    })
}

fn stored_result(outcome: &TestOutcome, at: DateTime<Utc>) -> Value {
    let mut v = serde_json::to_value(outcome).unwrap_or_else(|_| json!({}));
    v["tested_at"] = json!(at);
    v
}

impl Services {
    pub(crate) fn connections_config(&self) -> &ConnectionsConfig {
        self.connections_runtime()
    }

    pub(crate) fn kind(&self, name: &str) -> Result<Arc<dyn ConnectionKind>> {
        let registry = &self.connections_config().registry;
        registry
            .get(name)
            .cloned()
            .ok_or_else(|| unknown_type(name, registry))
    }

    pub(crate) fn secret_box(&self) -> Option<&SecretBox> {
        self.connections_config().secrets.as_deref()
    }

    /// The record as answers show it: secrets redacted.
    pub(crate) fn redacted(&self, mut c: Connection) -> Connection {
        let paths = match self
            .connections_config()
            .registry
            .get(c.connection_type.as_str())
        {
            Some(kind) => kind.secret_fields(),
            // A type no longer registered: show no value that could be secret.
            None => {
                c.config = json!({});
                return c;
            }
        };
        c.config = config::redact(&c.config, &paths);
        c
    }

    /// The stored configuration, opened.
    pub(crate) fn opened(&self, kind: &dyn ConnectionKind, c: &Connection) -> Result<Value> {
        let paths = kind.secret_fields();
        let mut cfg = c.config.clone();
        if !config::has_sealed(&cfg, &paths) {
            return Ok(cfg);
        }
        let secrets = self.secret_box().ok_or_else(no_key)?;
        config::open(&mut cfg, &paths, secrets).map_err(|e| secrets_error(&e))?;
        Ok(cfg)
    }

    /// The configuration as stored: secrets sealed.
    pub(crate) fn sealed(&self, kind: &dyn ConnectionKind, mut cfg: Value) -> Result<Value> {
        let paths = kind.secret_fields();
        if config::secret_values(&cfg, &paths).is_empty() {
            return Ok(cfg);
        }
        let secrets = self.secret_box().ok_or_else(no_key)?;
        config::seal(&mut cfg, &paths, secrets);
        Ok(cfg)
    }

    /// Runs the type's test on an open configuration, off any transaction,
    /// and scrubs every secret from the outcome.
    pub(crate) async fn run_test(&self, kind: &dyn ConnectionKind, cfg: &Value) -> TestOutcome {
        let http = Outbound::new(self.connections_config().outbound)
            .through_proxy(self.connections_config().test_proxy.clone());
        let secrets = config::secret_values(cfg, &kind.secret_fields());
        kind.test(cfg, &http).await.scrubbed(&secrets)
    }

    /// The active default connection of `connection_type` for `org`,
    /// decrypted; when the organization has none, the one the environment
    /// describes (`OPENAI_*`, `EXTRACTION_SERVICE_*`, `MS_*`); `None` when
    /// neither exists. For services calling outside services; no audit entry.
    ///
    /// # Errors
    /// 400 for an unknown type; 500 when a stored secret does not decrypt;
    /// 503 when the database is unavailable.
    pub(crate) async fn active_connection(
        &self,
        org: OrganizationId,
        connection_type: &str,
    ) -> Result<Option<ActiveConnection>> {
        let kind = self.kind(connection_type)?;
        let ty = ConnectionType::parse(connection_type)?;
        let paths = kind.secret_fields();
        let split = |cfg: Value| {
            let mut secrets = BTreeMap::new();
            for path in &paths {
                if let Some(v) = path
                    .iter()
                    .try_fold(&cfg, |v, k| v.get(k))
                    .and_then(Value::as_str)
                {
                    secrets.insert(path.join("."), Secret::new(v));
                }
            }
            let settings = config::redact(&cfg, &paths);
            let settings = strip_redacted(settings);
            (settings, secrets)
        };
        if let Some(c) = self
            .database()
            .tenant(org)
            .connections()
            .active_default(&ty)
            .await?
        {
            let open = self.opened(kind.as_ref(), &c)?;
            let (settings, secrets) = split(open);
            return Ok(Some(ActiveConnection {
                connection_id: Some(c.id),
                connection_type: connection_type.to_owned(),
                name: c.name,
                source: ConnectionSource::Database,
                settings,
                secrets,
            }));
        }
        let Some(env) = self
            .connections_config()
            .environment
            .iter()
            .find(|e| e.connection_type == connection_type)
        else {
            return Ok(None);
        };
        let cfg = kind
            .validate(&env.config)
            .map_err(ServiceError::validation)?;
        let (settings, secrets) = split(cfg);
        Ok(Some(ActiveConnection {
            connection_id: None,
            connection_type: connection_type.to_owned(),
            name: env.name.clone(),
            source: ConnectionSource::Environment,
            settings,
            secrets,
        }))
    }
}

/// The caller's organization's connections (`services.connections(&ctx)`).
#[derive(Clone, Copy)]
pub struct Connections<'a>(Bound<'a>);

impl Services {
    /// The caller's organization's connections.
    pub fn connections<'a>(&'a self, ctx: &'a RequestContext) -> Connections<'a> {
        Connections(Bound::new(self, ctx))
    }
}

impl Connections<'_> {
    fn can_see(&self, c: &Connection) -> bool {
        let p = self.0.principal();
        c.scope == ConnectionScope::Organization
            || p.role() == Role::OrgAdmin
            || (c.owner_user_id.is_some() && c.owner_user_id == p.user_id())
    }

    async fn visible(&self, id: ConnectionId) -> Result<Connection> {
        let c = self
            .0
            .tenant()
            .connections()
            .get(id)
            .await?
            .filter(|c| self.can_see(c))
            .ok_or_else(|| ServiceError::not_found("connection"))?;
        Ok(c)
    }

    /// The caller's organization's active default connection of
    /// `connection_type`, decrypted; when the organization has none, the
    /// one the environment describes (`OPENAI_*`, `EXTRACTION_SERVICE_*`,
    /// `MS_*`); `None` when neither exists. For services calling outside
    /// services on the caller's behalf (any role: using a connection is not
    /// changing it); no audit entry.
    ///
    /// A key's scopes are not consulted: the connection is used by your
    /// code and never shown to the caller, so a key scoped to your own
    /// resource (`documents:write`) needs no `connections:read` to have a
    /// document summarized. Check your own scope first.
    ///
    /// # Errors
    /// 400 for an unknown type; 500 when a stored secret does not decrypt;
    /// 503 when the database is unavailable.
    pub async fn active(&self, connection_type: &str) -> Result<Option<ActiveConnection>> {
        self.0
            .services
            .active_connection(self.0.org(), connection_type)
            .await
    }

    /// The registered connection types.
    ///
    /// # Errors
    /// 403 for a key without `connections:read`.
    pub fn types(&self) -> Result<Vec<ConnectionTypeInfo>> {
        self.0.scope(READ)?;
        Ok(self
            .0
            .services
            .connections_config()
            .registry
            .all()
            .map(|k| ConnectionTypeInfo {
                type_name: k.type_name(),
                display_name: k.display_name(),
                description: k.description(),
                schema: k.schema(),
                example_config: k.example_config(),
            })
            .collect())
    }

    /// A page of the organization's connections the caller may see
    /// (organization-wide ones and their own; admins all), oldest first.
    ///
    /// # Errors
    /// 400 for a bad type or limit; 403 for a key without `connections:read`.
    pub async fn list(&self, q: ConnectionQuery) -> Result<Page<Connection>> {
        self.0.scope(READ)?;
        if !(1..=MAX_CONNECTION_PAGE).contains(&q.limit) {
            return Err(Invalid::PageSize {
                max: MAX_CONNECTION_PAGE,
            }
            .into());
        }
        crate::page::check_skip(q.skip)?;
        let connection_type = q
            .connection_type
            .as_deref()
            .map(ConnectionType::parse)
            .transpose()?;
        let visible_to = if self.0.principal().role() == Role::OrgAdmin {
            None
        } else {
            Some(self.0.principal().user_id())
        };
        let filter = ConnectionFilter {
            connection_type,
            is_active: q.is_active,
            is_default: q.is_default,
            visible_to,
        };
        let (items, total) = self
            .0
            .services
            .database()
            .tenant(self.0.org())
            .connections()
            .page(&filter, q.skip, q.limit)
            .await?;
        // One schema walk per type, not per connection.
        let mut paths: BTreeMap<String, Option<Vec<config::FieldPath>>> = BTreeMap::new();
        let registry = &self.0.services.connections_config().registry;
        let items = items
            .into_iter()
            .map(|mut c| {
                let secret = paths
                    .entry(c.connection_type.as_str().to_owned())
                    .or_insert_with(|| {
                        registry
                            .get(c.connection_type.as_str())
                            .map(|k| k.secret_fields())
                    });
                c.config = match secret {
                    Some(p) => config::redact(&c.config, p),
                    None => json!({}),
                };
                c
            })
            .collect();
        Ok(Page {
            items,
            total: Some(total.count),
            total_estimated: total.estimated,
            limit: q.limit,
            offset: q.skip,
            next_cursor: None,
        })
    }

    /// One connection the caller may see, secrets redacted.
    ///
    /// # Errors
    /// 404 for another organization's, another user's private, or a missing one.
    pub async fn get(&self, id: ConnectionId) -> Result<Connection> {
        self.0.scope(READ)?;
        let c = self.visible(id).await?;
        Ok(self.0.services.redacted(c))
    }

    /// Creates a connection (org_admin). The configuration is validated
    /// against its type; with `test_on_save` (and `AUTO_TEST_CONNECTIONS`)
    /// it is tested first, outside any transaction, and the outcome stored;
    /// a failed test does not stop the save. `is_default` moves the default
    /// of the type in the same transaction as the insert.
    ///
    /// # Errors
    /// 403 below org_admin; 400 naming the bad field; 500
    /// `secret_decryption_failed` without an encryption key.
    pub async fn create(&self, req: NewConnectionRequest) -> Result<SavedConnection> {
        self.0.scope(WRITE)?;
        self.0.admin("create_connection", WRITE).await?;
        let name = text::required("name", &req.name, text::NAME_MAX)?;
        let description = description_of(req.description.as_deref())?;
        let kind = self.0.services.kind(&req.connection_type)?;
        let connection_type = ConnectionType::parse(kind.type_name())?;
        let cfg = kind
            .validate(&req.config)
            .map_err(ServiceError::validation)?;
        if req.is_default && req.scope == ConnectionScope::User {
            return Err(ServiceError::validation(
                "is_default: a user-scoped connection cannot be the organization's default",
            ));
        }
        let owner = match req.scope {
            ConnectionScope::User => Some(self.0.principal().user_id().ok_or_else(|| {
                ServiceError::validation("scope: `user` needs a signed-in user to own it")
            })?),
            ConnectionScope::Organization => None,
        };
        let test = if req.test_on_save && self.0.services.connections_config().auto_test {
            Some(self.0.services.run_test(kind.as_ref(), &cfg).await)
        } else {
            None
        };
        let stored = self.0.services.sealed(kind.as_ref(), cfg)?;
        let tested_at = Utc::now();
        let work = self.0.begin().await?;
        let tenant = work.own();
        if req.is_default {
            tenant.organization().get_for_update().await?;
            tenant
                .connections()
                .clear_default(&connection_type, None)
                .await?;
        }
        let mut created = tenant
            .connections()
            .create(NewConnection {
                organization_id: self.0.org(),
                name,
                description,
                connection_type,
                config: stored,
                is_default: req.is_default,
                scope: req.scope,
                owner_user_id: owner,
                created_by: self.0.principal().user_id(),
                managed_by: None,
            })
            .await?;
        if let Some(outcome) = &test {
            created = tenant
                .connections()
                .record_test(
                    created.id,
                    outcome.status,
                    Some(stored_result(outcome, tested_at)),
                )
                .await?;
        }
        work.commit(
            AuditEvent::CreateConnection,
            Entry::about("connection", created.id.as_uuid(), audit_details(&created)),
        )
        .await?;
        Ok(SavedConnection {
            connection: self.0.services.redacted(created),
            test,
        })
    }

    /// Changes a connection (org_admin; not a managed one). Type and scope
    /// cannot change. The configuration is laid over the stored one (see
    /// [`config::merge`]) and validated again.
    ///
    /// # Errors
    /// 404; 403 below org_admin and for managed connections; 400 naming the field.
    pub async fn update(&self, id: ConnectionId, upd: ConnectionUpdate) -> Result<SavedConnection> {
        self.0.scope(WRITE)?;
        self.0.admin("update_connection", WRITE).await?;
        let current = self.visible(id).await?;
        if current.is_managed {
            return Err(managed_refusal(&current));
        }
        if upd
            .connection_type
            .as_deref()
            .is_some_and(|t| t != current.connection_type.as_str())
        {
            return Err(ServiceError::validation(
                "connection_type cannot be changed; create a new connection",
            ));
        }
        if upd.scope.is_some_and(|s| s != current.scope) {
            return Err(ServiceError::validation(
                "scope cannot be changed; create a new connection",
            ));
        }
        if upd.is_default == Some(true) && current.scope == ConnectionScope::User {
            return Err(ServiceError::validation(
                "is_default: a user-scoped connection cannot be the organization's default",
            ));
        }
        let name = upd
            .name
            .as_deref()
            .map(|n| text::required("name", n, text::NAME_MAX))
            .transpose()?;
        let description = match &upd.description {
            Some(d) => Some(description_of(d.as_deref())?),
            None => None,
        };
        let kind = self.0.services.kind(current.connection_type.as_str())?;
        let (stored, test) = match &upd.config {
            Some(incoming) => {
                let open = self.0.services.opened(kind.as_ref(), &current)?;
                let merged = config::merge(&open, incoming, &kind.secret_fields());
                let cfg = kind.validate(&merged).map_err(ServiceError::validation)?;
                let test = if upd.test_on_save && self.0.services.connections_config().auto_test {
                    Some(self.0.services.run_test(kind.as_ref(), &cfg).await)
                } else {
                    None
                };
                (Some(self.0.services.sealed(kind.as_ref(), cfg)?), test)
            }
            None if upd.test_on_save && self.0.services.connections_config().auto_test => {
                let open = self.0.services.opened(kind.as_ref(), &current)?;
                (
                    None,
                    Some(self.0.services.run_test(kind.as_ref(), &open).await),
                )
            }
            None => (None, None),
        };
        let tested_at = Utc::now();
        let moves_default = upd.is_default == Some(true) && !current.is_default;
        let work = self.0.begin().await?;
        let tenant = work.own();
        if moves_default {
            // First, like every default move: the organization row, then connections.
            tenant.organization().get_for_update().await?;
        }
        let repo = tenant.connections();
        let mut updated = repo
            .update(
                id,
                ConnectionChanges {
                    name,
                    description,
                    config: stored,
                    is_active: upd.is_active,
                    managed_by: None,
                },
            )
            .await?;
        match upd.is_default {
            Some(true) if moves_default => {
                repo.clear_default(&current.connection_type, Some(id))
                    .await?;
                updated = repo.set_default_flag(id, true).await?;
            }
            Some(false) if current.is_default => {
                updated = repo.set_default_flag(id, false).await?;
            }
            _ => {}
        }
        if let Some(outcome) = &test {
            updated = repo
                .record_test(id, outcome.status, Some(stored_result(outcome, tested_at)))
                .await?;
        }
        let mut details = audit_details(&updated);
        details["changed"] = json!({
            "name": upd.name.is_some(),
            "description": upd.description.is_some(),
            "config": upd.config.is_some(),
            "is_active": upd.is_active.is_some(),
            "is_default": upd.is_default.is_some(),
        });
        work.commit(
            AuditEvent::UpdateConnection,
            Entry::about("connection", id.as_uuid(), details),
        )
        .await?;
        Ok(SavedConnection {
            connection: self.0.services.redacted(updated),
            test,
        })
    }

    /// Deletes a connection (org_admin; not a managed one). Deleting the
    /// default leaves the type without one.
    ///
    /// # Errors
    /// 404; 403 below org_admin and for managed connections.
    pub async fn delete(&self, id: ConnectionId) -> Result<()> {
        self.0.scope(WRITE)?;
        self.0.admin("delete_connection", WRITE).await?;
        let current = self.visible(id).await?;
        if current.is_managed {
            return Err(managed_refusal(&current));
        }
        let work = self.0.begin().await?;
        work.own().connections().delete(id).await?;
        work.commit(
            AuditEvent::DeleteConnection,
            Entry::about("connection", id.as_uuid(), audit_details(&current)),
        )
        .await
    }

    /// Tests a stored connection (member or above) and records the outcome.
    /// The test runs with no transaction open and no write turn held.
    ///
    /// # Errors
    /// 404; 403 for viewers; 500 when a secret does not decrypt.
    pub async fn test(&self, id: ConnectionId) -> Result<TestReport> {
        self.0.scope(WRITE)?;
        self.0.role(Role::Member)?;
        let current = self.visible(id).await?;
        let kind = self.0.services.kind(current.connection_type.as_str())?;
        let open = self.0.services.opened(kind.as_ref(), &current)?;
        let outcome = self.0.services.run_test(kind.as_ref(), &open).await;
        let tested_at = Utc::now();
        let work = self.0.begin().await?;
        work.own()
            .connections()
            .record_test(id, outcome.status, Some(stored_result(&outcome, tested_at)))
            .await?;
        work.commit(
            AuditEvent::TestConnection,
            Entry::about(
                "connection",
                id.as_uuid(),
                json!({"name": current.name, "connection_type": current.connection_type.as_str(), "status": outcome.status.as_str()}),
            ),
        )
        .await?;
        Ok(TestReport {
            connection_id: id,
            outcome,
            tested_at,
        })
    }

    /// Makes a connection the default of its type (org_admin), clearing the
    /// previous default in the same transaction.
    ///
    /// # Errors
    /// 404; 403 below org_admin; 400 for a user-scoped or inactive connection.
    pub async fn set_default(&self, id: ConnectionId) -> Result<Connection> {
        self.0.scope(WRITE)?;
        self.0.admin("set_default_connection", WRITE).await?;
        let current = self.visible(id).await?;
        if current.scope == ConnectionScope::User {
            return Err(ServiceError::validation(
                "a user-scoped connection cannot be the organization's default",
            ));
        }
        if !current.is_active {
            return Err(ServiceError::validation(
                "an inactive connection cannot be the default",
            ));
        }
        let work = self.0.begin().await?;
        let tenant = work.own();
        // Concurrent moves take turns on the organization row (PostgreSQL;
        // SQLite's writers already do), so the unique index never trips.
        tenant.organization().get_for_update().await?;
        let repo = tenant.connections();
        let cleared = repo
            .clear_default(&current.connection_type, Some(id))
            .await?;
        let updated = repo.set_default_flag(id, true).await?;
        work.commit(
            AuditEvent::SetDefaultConnection,
            Entry::about(
                "connection",
                id.as_uuid(),
                json!({"name": current.name, "connection_type": current.connection_type.as_str(), "previous_defaults_cleared": cleared}),
            ),
        )
        .await?;
        Ok(self.0.services.redacted(updated))
    }
}

/// A description: trimmed, at most [`DESCRIPTION_MAX`] characters; blank is none.
fn description_of(value: Option<&str>) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) if d.chars().count() > DESCRIPTION_MAX => Err(ServiceError::validation(format!(
            "description must be at most {DESCRIPTION_MAX} characters"
        ))),
        Some(d) => Ok(Some(d.to_owned())),
    }
}

/// Removes the fields that [`config::redact`] marked: settings hold no secret.
fn strip_redacted(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, v)| v.as_str() != Some(config::REDACTED))
                .map(|(k, v)| (k, strip_redacted(v)))
                .collect(),
        ),
        other => other,
    }
}

/// What the environment import did with one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportAction {
    /// A managed connection was created.
    Created,
    /// The managed connection was brought in line with the environment.
    Updated,
    /// It already matched.
    Unchanged,
    /// The variables are not set and there was nothing to deactivate.
    Skipped,
    /// The variables disappeared; the managed connection was deactivated.
    Deactivated,
}

impl ImportAction {
    /// The word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
            Self::Deactivated => "deactivated",
        }
    }
}

impl Operator {
    /// The active default connection of `connection_type` of any
    /// organization, decrypted, with the environment fallback (see
    /// [`Connections::active`], the request's own door).
    ///
    /// # Errors
    /// 400 for an unknown type; 500 when a stored secret does not decrypt;
    /// 503 when the database is unavailable.
    pub async fn active_connection(
        &self,
        org: OrganizationId,
        connection_type: &str,
    ) -> Result<Option<ActiveConnection>> {
        self.services.active_connection(org, connection_type).await
    }

    /// Creates or updates the default organization's managed connections
    /// from the environment, one per type: never a second default (a new
    /// managed connection becomes the default only when the type has none),
    /// deactivating those whose variables disappeared. Returns what happened
    /// per type, also logged.
    ///
    /// # Errors
    /// When there is no default organization, a configuration from the
    /// environment is invalid, or the database fails.
    pub async fn import_environment_connections(&self) -> Result<Vec<(String, ImportAction)>> {
        let services = &self.services;
        let org = services.default_organization().await?;
        let mut results = Vec::new();
        let types: Vec<Arc<dyn ConnectionKind>> = services
            .connections_config()
            .registry
            .all()
            .cloned()
            .collect();
        for kind in types {
            let name = kind.type_name();
            let ty = ConnectionType::parse(name)?;
            let env = self
                .services
                .connections_config()
                .environment
                .iter()
                .find(|e| e.connection_type == name)
                .cloned();
            let managed = services
                .database()
                .tenant(org.id)
                .connections()
                .managed(&ty)
                .await?;
            let action = match (env, managed) {
                (None, None) => ImportAction::Skipped,
                (None, Some(m)) if !m.is_active => ImportAction::Skipped,
                (None, Some(m)) => {
                    self.apply_import(
                        org.id,
                        &m,
                        ConnectionChanges {
                            is_active: Some(false),
                            ..Default::default()
                        },
                    )
                    .await?;
                    ImportAction::Deactivated
                }
                (Some(env), None) => {
                    let cfg = kind.validate(&env.config).map_err(|e| {
                        ServiceError::validation(format!("{} ({name}): {e}", env.variables))
                    })?;
                    let stored = services.sealed(kind.as_ref(), cfg)?;
                    let work = Work::begin(services, Origin::Process).await?;
                    let tenant = work.tenant(org.id);
                    tenant.organization().get_for_update().await?;
                    let has_default = tenant
                        .connections()
                        .page(
                            &ConnectionFilter {
                                connection_type: Some(ty.clone()),
                                is_default: Some(true),
                                ..Default::default()
                            },
                            0,
                            1,
                        )
                        .await?
                        .1
                        .count
                        > 0;
                    let created = tenant
                        .connections()
                        .create(NewConnection {
                            organization_id: org.id,
                            name: env.name.clone(),
                            description: Some(format!(
                                "Managed by environment variables: {}",
                                env.variables
                            )),
                            connection_type: ty.clone(),
                            config: stored,
                            is_default: !has_default,
                            scope: ConnectionScope::Organization,
                            owner_user_id: None,
                            created_by: None,
                            managed_by: Some(env.variables.clone()),
                        })
                        .await?;
                    let mut details = audit_details(&created);
                    details["source"] = json!("environment");
                    work.commit(
                        AuditEvent::CreateConnection,
                        Entry::about("connection", created.id.as_uuid(), details)
                            .by_user(Some(org.id), None),
                    )
                    .await?;
                    ImportAction::Created
                }
                (Some(env), Some(m)) => {
                    let cfg = kind.validate(&env.config).map_err(|e| {
                        ServiceError::validation(format!("{} ({name}): {e}", env.variables))
                    })?;
                    let open = services.opened(kind.as_ref(), &m)?;
                    if open == cfg
                        && m.is_active
                        && m.managed_by.as_deref() == Some(env.variables.as_str())
                    {
                        ImportAction::Unchanged
                    } else {
                        let stored = services.sealed(kind.as_ref(), cfg)?;
                        self.apply_import(
                            org.id,
                            &m,
                            ConnectionChanges {
                                config: Some(stored),
                                is_active: Some(true),
                                managed_by: Some(Some(env.variables.clone())),
                                ..Default::default()
                            },
                        )
                        .await?;
                        ImportAction::Updated
                    }
                }
            };
            tracing::info!(
                connection_type = name,
                result = action.as_str(),
                "environment connection import"
            );
            results.push((name.to_owned(), action));
        }
        Ok(results)
    }

    async fn apply_import(
        &self,
        org: OrganizationId,
        m: &Connection,
        changes: ConnectionChanges,
    ) -> Result<()> {
        let work = Work::begin(&self.services, Origin::Process).await?;
        let updated = work.tenant(org).connections().update(m.id, changes).await?;
        let mut details = audit_details(&updated);
        details["source"] = json!("environment");
        work.commit(
            AuditEvent::UpdateConnection,
            Entry::about("connection", m.id.as_uuid(), details).by_user(Some(org), None),
        )
        .await
    }

    /// Re-seals every sealed value of every stored connection under the
    /// newest key, whatever its type (an embedding service's included), and
    /// seals clear secrets of the types it knows; `batch` connections per
    /// transaction, starting after `resume_after` (the last id a previous,
    /// interrupted run reported). A row with a value no configured key opens
    /// is left as it is and reported, and the walk goes on.
    ///
    /// # Errors
    /// No key configured; the database fails.
    pub async fn rotate_secrets(
        &self,
        batch: u64,
        resume_after: Option<ConnectionId>,
        progress: impl FnMut(u64, ConnectionId),
    ) -> Result<SecretsReport> {
        self.services
            .rewrite_secrets(sealing::Rewrite::Rotate, batch, resume_after, progress)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_connections_never_show_their_secrets() {
        let mut secrets = BTreeMap::new();
        secrets.insert("api_key".to_owned(), Secret::new("sk-live-123456"));
        let c = ActiveConnection {
            connection_id: None,
            connection_type: "llm".into(),
            name: "Default LLM".into(),
            source: ConnectionSource::Environment,
            settings: json!({"model": "m"}),
            secrets,
        };
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("sk-live-123456"), "{shown}");
        assert_eq!(c.secret("api_key").unwrap().expose(), "sk-live-123456");
        assert_eq!(c.text("model"), Some("m"));
    }

    #[test]
    fn strip_removes_only_marked_fields() {
        let v = json!({"a": config::REDACTED, "b": 1, "c": {"d": config::REDACTED, "e": "x"}});
        assert_eq!(strip_redacted(v), json!({"b": 1, "c": {"e": "x"}}));
    }
}
