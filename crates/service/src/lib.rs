//! Curatore's use cases, reached through handles that prove what they need.
//!
//! [`Services::open`] builds the services over a migrated database and hands
//! out the one [`Operator`] (seeding, export and import, secret rotation,
//! retention, the environment import). Requests reach the use cases through
//! handles built from a [`RequestContext`], which only
//! [`Services::authenticate`] makes: [`Users`], [`ApiKeys`], [`Account`],
//! [`MyOrganization`], [`Organizations`], [`Connections`], [`Settings`],
//! [`AuditLog`], [`Status`]. What a client may do before it authenticates
//! (sign in, refresh, reset a password with a token, register when open) is
//! on [`Anonymous`]. So a caller can act only in the organization it
//! authenticated into, with the role its credentials carry.
//!
//! Every write goes through one unit of work: it opens the transaction,
//! takes the audit entry as the price of committing, and after the commit
//! tells every instance's caches what to forget. Nothing here knows HTTP: a
//! CLI, a worker or another service gets the same rules by calling the same
//! handles.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use curatore_service::{Client, Credentials, KeyQuery, NewKey};
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("sqlite://{}/doc.db", dir.path().display());
//! # let (services, _operator) = curatore_service::testing::seeded(&url, "docs").await;
//! let client = Client::local();
//! // Sign in, then act as the signed-in user: the context is the proof.
//! let password = curatore_domain::Secret::new("a-long-admin-password");
//! let session = services.anonymous(&client).login("admin", &password).await?;
//! let ctx = services.authenticate(Credentials::Bearer(session.access_token), client).await?;
//! let created = services.api_keys(&ctx).create(NewKey {
//!     name: "reporting".into(),
//!     expires_in_days: Some(30),
//!     expires_days: None,
//!     scopes: vec!["audit_logs:read".into()],
//! }).await?;
//! let keys = services.api_keys(&ctx).list(KeyQuery::default()).await?;
//! assert_eq!(keys.items[0].id, created.key.id);
//! # Ok::<(), curatore_service::ServiceError>(()) }).unwrap();
//! ```
//!
//! Errors are [`ServiceError`]s: one enum per area of failure
//! ([`Unauthenticated`], [`Denied`], [`Invalid`], [`Conflict`],
//! [`NotFound`], [`Limited`], [`Unavailable`], [`SecretsFailure`], and
//! internal failures with their cause), so a worker can match on the reason;
//! `curatore-web` maps them to wire codes and HTTP statuses, once, at the
//! edge.

mod api_keys;
mod audit;
mod audit_feed;
mod audit_logs;
mod auth_config;
mod backups;
mod cache;
mod component_health;
pub use component_health::{ComponentHealth, ComponentStatus};
pub mod connections;
mod context;
mod error;
mod export;
mod handle;
pub use export::{
    EXPORT_FORMAT, ExportDocument, ExportOptions, ExportedApiKey, ExportedConnection,
    ExportedOrganization, ExportedUser, ImportReport, PASSPHRASE_ENVELOPE,
};
mod instance;
mod limiter;
pub mod metrics;
mod operator;
mod organizations;
mod page;
mod refusals;
mod registry;
pub use registry::{AuditActions, RegistryError, ScopeRegistry};
mod seed;
mod services;
mod sessions;
mod settings;
mod status;
pub use status::{ServiceStatus, Status};
#[cfg(feature = "test-util")]
pub mod testing;
mod text;
mod users;
mod work;

pub use api_keys::{ApiKeys, CreatedKey, KeyQuery, MAX_EXPIRY_DAYS, MAX_KEY_PAGE, NewKey};
pub use audit::AuditEvent;
pub use audit_feed::{AuditFeedPage, AuditFeedQuery};
pub use audit_logs::{
    ActionEntry, AuditCursor, AuditLog, AuditLogPage, AuditLogQuery, ENTITY_TYPE_MAX,
};
pub use audit_logs::{DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT};
pub use auth_config::AuthConfig;
pub use backups::{
    BackupFailure, BackupMade, BackupRun, BackupTrigger, SealedSecrets, check_sealed_secrets,
};
pub use connections::kinds::{
    ConnectionKind, ConnectionRegistry, DeclaredKind, TestFuture, TestOutcome,
};
pub use connections::outbound::OutboundPolicy;
pub use connections::{
    ActiveConnection, ClearSecrets, ConnectionQuery, ConnectionSource, ConnectionTypeInfo,
    ConnectionUpdate, Connections, ConnectionsConfig, EnvironmentConnection, ImportAction,
    MAX_CONNECTION_PAGE, NewConnectionRequest, SavedConnection, SecretsReport, TestReport,
};
pub use context::{Access, Actor, Client, Principal, RequestContext, Scope};
pub use error::{
    Conflict, Denied, Failure, Invalid, Limited, NotFound, Result, SecretsFailure, ServiceError,
    UNAVAILABLE_RETRY_AFTER, Unauthenticated, Unavailable,
};
pub use instance::{MAX_ORGANIZATION_PAGE, NewAdmin, NewTenant, Organizations, TenantChanges};
pub use limiter::{ClientNetworks, DEFAULT_IPV6_PREFIX, LoginLimits, RegistrationLimits};
pub use operator::Operator;
pub use organizations::{MyOrganization, OrganizationChanges};
pub use page::{MAX_SKIP, Page};
pub use seed::InitialAdmin;
pub use services::{
    Credentials, DefaultOrganization, Services, ServicesConfig, authentication_required,
};
pub use sessions::{Account, Anonymous, Registered, Registration, Session};
pub use settings::{EffectiveSettings, Settings, SettingsSchema, SystemSettingsView};
pub use text::NAME_MAX;
pub use users::{
    Invitation, InvitedUser, MAX_USER_PAGE, PasswordReset, RESET_TOKEN_HOURS,
    TEMPORARY_PASSWORD_DAYS, UserChanges, UserQuery, Users,
};
