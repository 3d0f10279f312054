//! Settings with precedence: the registered keys at the system, organization
//! and user layers, and every key's resolved value with its source.
//!
//! Resolution (environment > user > organization > system > default, see
//! [`curatore_domain::setting_keys`]) is cached per organization and user:
//! a write through this process forgets what it changes at once; a change
//! made elsewhere is seen within the authentication cache's time-to-live.
//! Each cached entry also remembers the `updated_at` of the organization
//! and user it was made from, so a newer row is never answered from an
//! older entry.

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::{Access, RequestContext, Scope};
use crate::error::{Denied, Result, ServiceError};
use crate::handle::Bound;
use crate::services::Services;
use crate::sessions::Anonymous;
use chrono::{DateTime, Utc};
use curatore_domain::setting_keys::{Layer, Layers, Resolved, SettingRegistry};
use curatore_domain::settings::{check_settings, merge_settings};
use curatore_domain::{OrganizationId, UserId};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const READ: Scope = Scope::new("organization", Access::Read);
const WRITE: Scope = Scope::new("organization", Access::Write);

/// Above this many entries the cache is emptied rather than grown.
const MAX_ENTRIES: usize = 50_000;

/// Every key's value for one caller, and where each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveSettings {
    /// The organization resolved for.
    pub organization_id: OrganizationId,
    /// The user resolved for (`None`: an organization-wide key, or
    /// authentication disabled).
    pub user_id: Option<UserId>,
    /// Each registered key, in registration order.
    pub settings: Vec<Resolved>,
}

/// What `GET /settings/system` shows a caller.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemSettingsView {
    /// The values stored at the system layer (registered keys the caller may see).
    pub stored: Map<String, Value>,
    /// The instance-wide value of each key the caller may see (environment >
    /// system > default), with its source.
    pub instance: Vec<Resolved>,
}

/// The JSON Schemas of what organizations and users may store.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsSchema {
    /// Of `PUT /settings/organization` bodies' `settings`.
    pub organization_schema: Value,
    /// Of `PUT /settings/user` bodies' `settings`.
    pub user_schema: Value,
    /// A valid document: every storable key at its default.
    pub merged_example: Value,
}

type Versions = (DateTime<Utc>, Option<DateTime<Utc>>);
/// The registered keys of the system layer, and when they were read.
type SystemLayer = (Instant, Arc<Map<String, Value>>);

struct CachedEffective {
    at: Instant,
    versions: Versions,
    value: Arc<EffectiveSettings>,
}

/// The registry, the environment's values, and the resolution cache.
pub(crate) struct SettingsState {
    registry: SettingRegistry,
    environment: Map<String, Value>,
    ttl: Duration,
    system: RwLock<Option<SystemLayer>>,
    effective: RwLock<HashMap<(OrganizationId, Option<UserId>), CachedEffective>>,
}

impl SettingsState {
    pub(crate) fn new(config: &crate::AuthConfig) -> Self {
        let mut environment = Map::new();
        environment.insert("enable_auth".into(), json!(config.enabled));
        environment.insert(
            "allow_registration".into(),
            json!(config.allow_registration),
        );
        Self {
            registry: SettingRegistry::builtin(),
            environment,
            ttl: config.cache_ttl,
            system: RwLock::new(None),
            effective: RwLock::new(HashMap::new()),
        }
    }

    fn cached(
        &self,
        key: (OrganizationId, Option<UserId>),
        versions: Versions,
    ) -> Option<Arc<EffectiveSettings>> {
        let map = self.effective.read().unwrap_or_else(|e| e.into_inner());
        let entry = map.get(&key)?;
        (entry.at.elapsed() < self.ttl && entry.versions == versions).then(|| entry.value.clone())
    }

    fn store(
        &self,
        key: (OrganizationId, Option<UserId>),
        versions: Versions,
        value: Arc<EffectiveSettings>,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.effective.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            CachedEffective {
                at: Instant::now(),
                versions,
                value,
            },
        );
    }

    /// After a change to the system settings: everything may differ.
    pub(crate) fn forget_all(&self) {
        *self.system.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.effective
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// After a change to an organization's settings.
    pub(crate) fn forget_organization(&self, org: OrganizationId) {
        self.effective
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(o, _), _| *o != org);
    }

    /// After a change to a user's settings.
    pub(crate) fn forget_user(&self, user: UserId) {
        self.effective
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, u), _| *u != Some(user));
    }
}

/// Settings as the caller may read and change them (`services.settings(&ctx)`).
#[derive(Clone, Copy)]
pub struct Settings<'a>(Bound<'a>);

impl Services {
    /// The caller's settings: system, organization, own, effective.
    pub fn settings<'a>(&'a self, ctx: &'a RequestContext) -> Settings<'a> {
        Settings(Bound::new(self, ctx))
    }

    /// The registered setting keys.
    pub fn setting_registry(&self) -> &SettingRegistry {
        &self.settings_state().registry
    }

    /// The JSON Schemas of the organization and user layers, with an
    /// example document.
    pub fn settings_schema(&self) -> SettingsSchema {
        let registry = self.setting_registry();
        let mut example = registry.defaults_for(Layer::Organization);
        example.extend(registry.defaults_for(Layer::User));
        SettingsSchema {
            organization_schema: registry.json_schema(Layer::Organization),
            user_schema: registry.json_schema(Layer::User),
            merged_example: Value::Object(example),
        }
    }

    /// The registered keys stored at the system layer (cached like resolution).
    async fn system_layer(&self) -> Result<Arc<Map<String, Value>>> {
        let state = self.settings_state();
        if let Some((at, layer)) = &*state.system.read().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < state.ttl
        {
            return Ok(layer.clone());
        }
        let rows = self
            .database()
            .system()
            .system_settings()
            .list(false)
            .await?;
        let all: Map<String, Value> = rows.into_iter().map(|r| (r.key, r.value)).collect();
        let layer = Arc::new(
            state
                .registry
                .registered_part(Layer::System, &Value::Object(all)),
        );
        if !state.ttl.is_zero() {
            *state.system.write().unwrap_or_else(|e| e.into_inner()) =
                Some((Instant::now(), layer.clone()));
        }
        Ok(layer)
    }

    /// The system settings: every registered key for an instance
    /// administrator, the public ones for everyone else.
    async fn system_view(&self, admin: bool) -> Result<SystemSettingsView> {
        let state = self.settings_state();
        let system = self.system_layer().await?;
        let visible = |name: &str| admin || state.registry.get(name).is_some_and(|k| k.public);
        let instance = state
            .registry
            .resolve(Layers {
                environment: &state.environment,
                user: None,
                organization: None,
                system: &system,
            })
            .into_iter()
            .filter(|r| visible(r.key))
            .collect();
        let stored = system
            .iter()
            .filter(|(k, _)| visible(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(SystemSettingsView { stored, instance })
    }
}

impl Anonymous<'_> {
    /// The public system settings, as anyone may read them.
    ///
    /// # Errors
    /// 503 when the database is unavailable.
    pub async fn system_settings(&self) -> Result<SystemSettingsView> {
        self.services().system_view(false).await
    }
}

impl Settings<'_> {
    /// The system settings as the caller may see them: instance
    /// administrators see every registered key, everyone else the public
    /// ones only.
    ///
    /// # Errors
    /// 503 when the database is unavailable.
    pub async fn system(&self) -> Result<SystemSettingsView> {
        // No scope check: API keys are never instance administrators, so a
        // key sees the public keys, which anyone may read.
        let admin = self.0.services.is_instance_admin(self.0.ctx).await?;
        self.0.services.system_view(admin).await
    }

    /// Merges `patch` into the system settings (instance administrators,
    /// signed in): registered keys only; objects merge field by field,
    /// `null` removes. Audited in the caller's organization.
    ///
    /// # Errors
    /// 403 for anyone else; 400 `unknown_setting` / `setting_not_writable`,
    /// 422 `invalid_setting_value` naming the key; 503 when the database is
    /// unavailable.
    pub async fn merge_system(&self, patch: Value) -> Result<Map<String, Value>> {
        self.0
            .principal()
            .refuse_api_key("API keys cannot change the system settings; sign in as a user")?;
        self.0.instance_admin("update_system_settings").await?;
        let services = self.0.services;
        check_settings(&patch)?;
        let registry = &services.settings_state().registry;
        registry.check_patch(Layer::System, &patch, true)?;
        let Value::Object(patch) = patch else {
            return Err(ServiceError::validation("settings: must be a JSON object"));
        };
        let keys: Vec<&String> = patch.keys().collect();
        let mut work = self.0.begin().await?;
        let rows = work.system().system_settings();
        for (key, value) in &patch {
            if value.is_null() {
                rows.delete(key).await?;
                continue;
            }
            // An object merges into the stored object; anything else replaces it.
            let mut merged = rows.get(key).await?.map_or(Value::Null, |r| r.value);
            merge_settings(&mut merged, value.clone());
            let meta = registry.get(key);
            rows.upsert(
                key,
                merged,
                meta.map(|k| k.description.to_owned()),
                meta.is_some_and(|k| k.public),
            )
            .await?;
        }
        work.forget(Forget::Everything);
        work.commit(
            AuditEvent::UpdateSystemSettings,
            Entry::anonymous(json!({ "keys": keys })),
        )
        .await?;
        Ok((*services.system_layer().await?).clone())
    }

    /// The organization's registered settings as stored (unregistered keys
    /// of the free-form `organizations/me/settings` are left out). Any role.
    ///
    /// # Errors
    /// 403 for a key without `organization:read`.
    pub fn organization(&self) -> Result<Map<String, Value>> {
        self.0.scope(READ)?;
        Ok(self.0.services.setting_registry().registered_part(
            Layer::Organization,
            &self.0.principal().organization().settings,
        ))
    }

    /// Merges registered keys into the organization's settings (org_admin),
    /// answering its registered settings afterwards. Audited as
    /// `update_organization_settings`.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `organization:write`; 400
    /// `unknown_setting` / `setting_not_writable`, 422
    /// `invalid_setting_value` naming the key; 503 when the database is
    /// unavailable.
    pub async fn merge_organization(&self, patch: Value) -> Result<Map<String, Value>> {
        let merged = crate::organizations::MyOrganization(self.0)
            .merge(patch, true)
            .await?;
        Ok(self
            .0
            .services
            .setting_registry()
            .registered_part(Layer::Organization, &merged))
    }

    /// The caller's own registered settings; `None` for the user when no
    /// user acts (an organization-wide key; authentication disabled).
    ///
    /// # Errors
    /// 403 for a key without `organization:read`.
    pub fn user(&self) -> Result<(Option<UserId>, Map<String, Value>)> {
        self.0.scope(READ)?;
        let Some(user) = self.0.principal().user() else {
            return Ok((None, Map::new()));
        };
        Ok((
            Some(user.id),
            self.0
                .services
                .setting_registry()
                .registered_part(Layer::User, &user.settings),
        ))
    }

    /// Merges registered keys into the caller's own settings (any role),
    /// answering them afterwards. Audited as `update_user_settings`.
    ///
    /// # Errors
    /// 403 when no user acts, or for a key without `organization:write`; 400
    /// `unknown_setting` / `setting_not_writable`, 422
    /// `invalid_setting_value` naming the key; 503 when the database is
    /// unavailable.
    pub async fn merge_user(&self, patch: Value) -> Result<Map<String, Value>> {
        let Some(user_id) = self.0.principal().user_id() else {
            return Err(Denied::NoUserInRequest.into());
        };
        self.0.scope(WRITE)?;
        check_settings(&patch)?;
        let registry = &self.0.services.settings_state().registry;
        registry.check_patch(Layer::User, &patch, true)?;
        let keys: Vec<String> = patch
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut work = self.0.begin().await?;
        let users = work.own().users();
        let mut settings = users
            .get_for_update(user_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("user"))?
            .settings;
        merge_settings(&mut settings, patch);
        check_settings(&settings)?;
        let updated = users.set_settings(user_id, settings).await?;
        work.forget(Forget::User(user_id));
        work.commit(
            AuditEvent::UpdateUserSettings,
            Entry::about(
                "user",
                user_id.as_uuid(),
                json!({ "fields": ["settings"], "keys": keys }),
            ),
        )
        .await?;
        Ok(registry.registered_part(Layer::User, &updated.settings))
    }

    /// Every registered key's value for the caller, and where it came from.
    /// Any authenticated caller; cached (see the module docs).
    ///
    /// # Errors
    /// 403 for a key without `organization:read`; 503 when the database is
    /// unavailable (only on a cache miss).
    pub async fn effective(&self) -> Result<Arc<EffectiveSettings>> {
        self.0.scope(READ)?;
        let services = self.0.services;
        let organization = self.0.principal().organization();
        let user = self.0.principal().user();
        let key = (organization.id, user.map(|u| u.id));
        let versions = (organization.updated_at, user.map(|u| u.updated_at));
        let state = services.settings_state();
        if let Some(hit) = state.cached(key, versions) {
            return Ok(hit);
        }
        let system = services.system_layer().await?;
        let settings = state.registry.resolve(Layers {
            environment: &state.environment,
            user: user.map(|u| &u.settings),
            organization: Some(&organization.settings),
            system: &system,
        });
        let value = Arc::new(EffectiveSettings {
            organization_id: organization.id,
            user_id: key.1,
            settings,
        });
        state.store(key, versions, value.clone());
        Ok(value)
    }
}
