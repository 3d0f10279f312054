//! API keys: create (the key is shown once), list, rename, revoke.

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::{Access, RequestContext, Scope};
use crate::error::{Conflict, Denied, Invalid, Result, ServiceError};
use crate::handle::Bound;
use crate::page::Page;
use crate::registry::ScopeRegistry;
use crate::services::Services;
use crate::text;
use curatore_domain::{ApiKey, ApiKeyId, NewApiKey, Role, Secret};
use serde_json::json;

const MAX_SCOPES: usize = 32;
/// The longest lifetime a key may be given, in days.
pub const MAX_EXPIRY_DAYS: u32 = 3650;

const READ: Scope = Scope::new("api_keys", Access::Read);

/// The most keys one page may hold.
pub const MAX_KEY_PAGE: u64 = 1000;

/// Which keys to list.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    /// Admins: every key of the organization, not only their own.
    pub everyone: bool,
    /// Only active (`true`) or only revoked (`false`) keys.
    pub is_active: Option<bool>,
    /// How many to pass over.
    pub skip: u64,
    /// The most to return (1 to [`MAX_KEY_PAGE`]).
    pub limit: u64,
}

impl Default for KeyQuery {
    fn default() -> Self {
        Self {
            everyone: false,
            is_active: None,
            skip: 0,
            limit: 100,
        }
    }
}

/// A key as asked for.
#[derive(Debug)]
pub struct NewKey {
    /// Its name.
    pub name: String,
    /// Days until it stops working (1 to [`MAX_EXPIRY_DAYS`]); `None`: never.
    pub expires_in_days: Option<u32>,
    /// The original API's name for the same, 1 to 365; if both are given
    /// they must agree.
    pub expires_days: Option<u32>,
    /// What it may do (see [`Scope`]); empty: whatever its user's role allows.
    pub scopes: Vec<String>,
}

/// A new key: its record, and the key itself, shown this once.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The full key.
    pub secret: Secret,
}

fn check_scopes(registry: &ScopeRegistry, scopes: Vec<String>) -> Result<Vec<String>> {
    if scopes.len() > MAX_SCOPES || !scopes.iter().all(|s| registry.is_known(s)) {
        let resources: Vec<&str> = registry.resources().map(|(r, _)| r).collect();
        return Err(ServiceError::validation(format!(
            "scopes: at most {MAX_SCOPES} of read, write, or <resource>:read|write for a resource in {}",
            resources.join(", ")
        )));
    }
    let mut scopes = scopes;
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Keys cannot mint or manage keys: a leaked key must not be able to outlive
/// its own revocation.
fn refuse_keys(ctx: &RequestContext) -> Result<()> {
    ctx.principal
        .refuse_api_key("API keys cannot manage API keys; sign in as a user")
}

/// The caller's API keys (admins: the organization's), `services.api_keys(&ctx)`.
#[derive(Clone, Copy)]
pub struct ApiKeys<'a>(Bound<'a>);

impl Services {
    /// The caller's API keys.
    pub fn api_keys<'a>(&'a self, ctx: &'a RequestContext) -> ApiKeys<'a> {
        ApiKeys(Bound::new(self, ctx))
    }
}

impl ApiKeys<'_> {
    /// Creates a key for the caller (the organization's, for the system).
    /// An API key may mint keys only when its scopes name `api_keys:write`
    /// explicitly, and only with scopes it holds itself (never an
    /// unrestricted key).
    ///
    /// # Errors
    /// 403 for viewers, and for API keys without that scope or asking for
    /// more than they hold; 400 for a bad name, lifetime or scope; 503 when
    /// the database is unavailable.
    pub async fn create(&self, new: NewKey) -> Result<CreatedKey> {
        let ctx = self.0.ctx;
        self.0.role(Role::Member)?;
        let name = text::required("name", &new.name, text::NAME_MAX)?;
        let scopes = check_scopes(self.0.services.scopes(), new.scopes)?;
        if matches!(ctx.principal.actor(), crate::Actor::ApiKey { .. }) {
            let held = ctx.principal.scopes();
            if !held.iter().any(|s| s == "api_keys:write") {
                return Err(Denied::KeyCannotMint.into());
            }
            if scopes.is_empty() || !scopes.iter().all(|s| held.contains(s)) {
                return Err(Denied::MintedScopes.into());
            }
        }
        let days = match (new.expires_in_days, new.expires_days) {
            (Some(a), Some(b)) if a != b => {
                return Err(ServiceError::validation(
                    "expires_days and expires_in_days disagree; send one of them",
                ));
            }
            (_, Some(days)) if !(1..=365).contains(&days) => {
                return Err(ServiceError::validation("expires_days must be 1 to 365"));
            }
            (a, b) => a.or(b),
        };
        let expires_at = match days {
            Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
                Some(chrono::Utc::now() + chrono::Duration::days(i64::from(days)))
            }
            Some(_) => {
                return Err(ServiceError::validation(format!(
                    "expires_in_days must be 1 to {MAX_EXPIRY_DAYS}"
                )));
            }
            None => None,
        };
        let generated = self.0.services.config().api_keys.generate();
        let work = self.0.begin().await?;
        let key = work
            .own()
            .api_keys()
            .create(NewApiKey {
                organization_id: ctx.organization_id(),
                user_id: ctx.principal.user_id(),
                name,
                key_hash: generated.hash,
                prefix: generated.display_prefix,
                scopes,
                expires_at,
            })
            .await?;
        work.commit(
            AuditEvent::ApiKeyCreated,
            Entry::about(
                "api_key",
                key.id.as_uuid(),
                json!({"name": key.name, "prefix": key.prefix, "scopes": key.scopes}),
            ),
        )
        .await?;
        Ok(CreatedKey {
            key,
            secret: generated.key,
        })
    }

    /// The caller's keys, newest first; with `query.everyone`, an org_admin
    /// sees the organization's (and so does a caller that is not a user).
    ///
    /// # Errors
    /// 400 for a limit outside 1..=[`MAX_KEY_PAGE`]; 403 for a key without
    /// the `api_keys:read` scope; 503 when the database is unavailable.
    pub async fn list(&self, query: KeyQuery) -> Result<Page<ApiKey>> {
        self.0.scope(READ)?;
        if !(1..=MAX_KEY_PAGE).contains(&query.limit) {
            return Err(Invalid::PageSize { max: MAX_KEY_PAGE }.into());
        }
        let principal = self.0.principal();
        let user = principal.user_id();
        let all = user.is_none() || (query.everyone && principal.role() == Role::OrgAdmin);
        crate::page::check_skip(query.skip)?;
        let (items, total) = self
            .0
            .tenant()
            .api_keys()
            .page(
                if all { None } else { user },
                query.is_active,
                query.skip,
                query.limit,
            )
            .await?;
        Ok(Page {
            items,
            total: Some(total.count),
            total_estimated: total.estimated,
            limit: query.limit,
            offset: query.skip,
            next_cursor: None,
        })
    }

    /// The key, if the caller may manage it; otherwise the same 404 as a
    /// missing key (another tenant's or another user's key is not disclosed).
    async fn manageable(&self, id: ApiKeyId) -> Result<ApiKey> {
        let key = self
            .0
            .tenant()
            .api_keys()
            .get(id)
            .await?
            .ok_or_else(|| ServiceError::not_found("API key"))?;
        let principal = self.0.principal();
        let own = key.user_id.is_some() && key.user_id == principal.user_id();
        if own || principal.role() == Role::OrgAdmin {
            Ok(key)
        } else {
            Err(ServiceError::not_found("API key"))
        }
    }

    /// Renames a key.
    ///
    /// # Errors
    /// 404 for a key the caller may not manage; 409 `api_key_revoked`; 400
    /// for a bad name; 403 for viewers and API keys.
    pub async fn rename(&self, id: ApiKeyId, name: &str) -> Result<ApiKey> {
        self.0.role(Role::Member)?;
        refuse_keys(self.0.ctx)?;
        let name = text::required("name", name, text::NAME_MAX)?;
        let key = self.manageable(id).await?;
        if !key.is_active {
            return Err(Conflict::ApiKeyRevoked.into());
        }
        let mut work = self.0.begin().await?;
        let renamed = work.own().api_keys().rename(key.id, &name).await?;
        work.forget(Forget::Key(key.id));
        work.commit(
            AuditEvent::ApiKeyRenamed,
            Entry::about(
                "api_key",
                key.id.as_uuid(),
                json!({"from": key.name, "to": renamed.name}),
            ),
        )
        .await?;
        Ok(renamed)
    }

    /// Revokes a key for good. Revoking a revoked key changes and records
    /// nothing.
    ///
    /// # Errors
    /// 404 for a key the caller may not manage; 403 for viewers and API keys.
    pub async fn revoke(&self, id: ApiKeyId) -> Result<()> {
        self.0.role(Role::Member)?;
        refuse_keys(self.0.ctx)?;
        let key = self.manageable(id).await?;
        let mut work = self.0.begin().await?;
        if !work.own().api_keys().revoke(key.id).await? {
            return Ok(());
        }
        work.forget(Forget::Key(key.id));
        work.commit(
            AuditEvent::ApiKeyRevoked,
            Entry::about(
                "api_key",
                key.id.as_uuid(),
                json!({"name": key.name, "prefix": key.prefix}),
            ),
        )
        .await
    }
}
