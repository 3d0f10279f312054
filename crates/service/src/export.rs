//! `curatore-server export`: one organization as a JSON document.
//!
//! The document holds the organization, its users (password hashes only on
//! request), its API keys' metadata (key hashes only on request) and its
//! connections. Connection secrets are `***REDACTED***` by default; with a
//! [`PassphraseBox`] they are opened with the server's key and sealed again
//! under the passphrase, whose argon2id parameters the document carries.
//! Nothing here returns a secret in clear.

use crate::connections::{config, no_key, secrets_error};
use crate::operator::Operator;
use crate::{Result, ServiceError};
use chrono::{DateTime, Utc};
use curatore_auth::{PassphraseBox, PassphraseParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of the document's shape.
pub const EXPORT_FORMAT: u32 = 1;
/// Users and keys read per query.
const BATCH: u64 = 500;

/// What to put in an export besides metadata.
#[derive(Debug, Default)]
pub struct ExportOptions<'a> {
    /// Seal connection secrets under this passphrase box instead of
    /// redacting them.
    pub secrets: Option<&'a PassphraseBox>,
    /// Include users' password hashes and API keys' hashes.
    pub hashes: bool,
}

/// The exported document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportDocument {
    /// [`EXPORT_FORMAT`].
    pub format_version: u32,
    /// When it was written.
    pub exported_at: DateTime<Utc>,
    /// How connection secrets are given: `redacted` or `passphrase`.
    pub secrets: String,
    /// The key derivation for `passphrase` secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<PassphraseParams>,
    /// The organization.
    pub organization: ExportedOrganization,
    /// Its users.
    pub users: Vec<ExportedUser>,
    /// Its API keys (metadata).
    pub api_keys: Vec<ExportedApiKey>,
    /// Its connections.
    pub connections: Vec<ExportedConnection>,
}

/// The organization's own fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedOrganization {
    /// Name.
    pub name: String,
    /// Unique URL name.
    pub slug: String,
    /// Name shown to people.
    pub display_name: String,
    /// Whether it is active.
    pub is_active: bool,
    /// Free-form settings (a JSON object).
    pub settings: Value,
}

/// One user. `Debug` leaves the password hash out.
#[derive(Clone, Serialize, Deserialize)]
pub struct ExportedUser {
    /// Primary key at the source.
    pub id: uuid::Uuid,
    /// E-mail address.
    pub email: String,
    /// Login name.
    pub username: String,
    /// Name shown to people.
    pub full_name: Option<String>,
    /// Role (`admin`, `member`, …).
    pub role: String,
    /// Whether it is active.
    pub is_active: bool,
    /// Whether the e-mail address was confirmed.
    pub is_verified: bool,
    /// Free-form settings (a JSON object).
    pub settings: Value,
    /// Only with `--include-password-hashes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

/// One API key, without the key. `Debug` leaves the hash out.
#[derive(Clone, Serialize, Deserialize)]
pub struct ExportedApiKey {
    /// Primary key at the source.
    pub id: uuid::Uuid,
    /// The user the key acts as.
    pub user_id: Option<uuid::Uuid>,
    /// Name.
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
    /// What the key may be used for.
    pub scopes: Vec<String>,
    /// Whether it is active.
    pub is_active: bool,
    /// After this the key is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Only with `--include-password-hashes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hash: Option<String>,
}

/// One connection; secrets redacted or sealed under the passphrase (never
/// in clear), so `Debug` may show the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedConnection {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Connection type.
    pub connection_type: String,
    /// Settings, secrets redacted or passphrase-sealed.
    pub config: Value,
    /// Whether it is active.
    pub is_active: bool,
    /// The default for its type.
    pub is_default: bool,
    /// `organization` or `user`.
    pub scope: String,
    /// The owner of a user-scoped connection.
    pub owner_user_id: Option<uuid::Uuid>,
    /// Environment variables that manage it.
    pub managed_by: Option<String>,
}

impl std::fmt::Debug for ExportedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("has_password_hash", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ExportedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedApiKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("has_key_hash", &self.key_hash.is_some())
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// The organization with slug `slug` as an [`ExportDocument`].
    ///
    /// # Errors
    /// Not found for an unknown slug; secret decryption errors when sealing
    /// under a passphrase and a stored secret does not open; database errors.
    pub async fn export_organization(
        &self,
        slug: &str,
        options: &ExportOptions<'_>,
    ) -> Result<ExportDocument> {
        let org = self
            .services
            .database()
            .system()
            .organizations()
            .find_by_slug(slug)
            .await?
            .ok_or_else(|| ServiceError::from(crate::NotFound::Slug(slug.to_owned())))?;
        let tenant = self.services.database().tenant(org.id);

        let mut users = Vec::new();
        let mut offset = 0;
        loop {
            let batch = tenant.users().list(BATCH, offset).await?;
            let n = batch.len() as u64;
            users.extend(batch.into_iter().map(|u| ExportedUser {
                id: u.id.as_uuid(),
                email: u.email.as_str().to_owned(),
                username: u.username.as_str().to_owned(),
                full_name: u.full_name,
                role: u.role.as_str().to_owned(),
                is_active: u.is_active,
                is_verified: u.is_verified,
                settings: u.settings,
                password_hash: options.hashes.then(|| u.password_hash.as_str().to_owned()),
            }));
            if n < BATCH {
                break;
            }
            offset += n;
        }

        let api_keys = tenant
            .api_keys()
            .list(None)
            .await?
            .into_iter()
            .map(|k| ExportedApiKey {
                id: k.id.as_uuid(),
                user_id: k.user_id.map(|u| u.as_uuid()),
                name: k.name,
                prefix: k.prefix,
                scopes: k.scopes,
                is_active: k.is_active,
                expires_at: k.expires_at,
                key_hash: options.hashes.then_some(k.key_hash),
            })
            .collect();

        let mut connections = Vec::new();
        for c in tenant.connections().list(None).await? {
            let paths = self
                .services
                .connections_config()
                .registry
                .get(c.connection_type.as_str())
                .map(|k| k.secret_fields())
                .unwrap_or_default();
            let cfg = match options.secrets {
                None => config::redact(&c.config, &paths),
                Some(pass) => {
                    let mut open = c.config.clone();
                    if config::has_sealed(&open, &paths) {
                        let secrets = self.services.secret_box().ok_or_else(no_key)?;
                        config::open(&mut open, &paths, secrets).map_err(|e| secrets_error(&e))?;
                    }
                    seal_under(&mut open, &paths, pass);
                    open
                }
            };
            connections.push(ExportedConnection {
                name: c.name,
                description: c.description,
                connection_type: c.connection_type.as_str().to_owned(),
                config: cfg,
                is_active: c.is_active,
                is_default: c.is_default,
                scope: c.scope.as_str().to_owned(),
                owner_user_id: c.owner_user_id.map(|u| u.as_uuid()),
                managed_by: c.managed_by,
            });
        }

        Ok(ExportDocument {
            format_version: EXPORT_FORMAT,
            exported_at: Utc::now(),
            secrets: if options.secrets.is_some() {
                "passphrase".into()
            } else {
                "redacted".into()
            },
            passphrase: options.secrets.map(|p| p.params().clone()),
            organization: ExportedOrganization {
                name: org.name,
                slug: org.slug.as_str().to_owned(),
                display_name: org.display_name,
                is_active: org.is_active,
                settings: org.settings,
            },
            users,
            api_keys,
            connections,
        })
    }
}

/// Replaces every secret given as text by `{"$passphrase_sealed": …}`.
fn seal_under(cfg: &mut Value, paths: &[config::FieldPath], pass: &PassphraseBox) {
    for path in paths {
        let pointer: String = path
            .iter()
            .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
            .collect();
        if let Some(node) = cfg.pointer_mut(&pointer)
            && let Some(text) = node.as_str()
        {
            let sealed = pass.seal(text);
            *node = serde_json::json!({ PASSPHRASE_ENVELOPE: sealed });
        }
    }
}

/// The key of a secret sealed under the export passphrase.
pub const PASSPHRASE_ENVELOPE: &str = "$passphrase_sealed";

/// What an import did, for the operator.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportReport {
    /// The organization was created (else: it existed and was filled).
    pub organization_created: bool,
    /// Users created.
    pub users_created: u64,
    /// Users already there (matched by e-mail).
    pub users_existing: u64,
    /// E-mail addresses of users created without a usable password: an
    /// administrator must reset them.
    pub users_without_password: Vec<String>,
    /// API keys created.
    pub api_keys_created: u64,
    /// API keys already there (matched by hash or prefix).
    pub api_keys_existing: u64,
    /// Prefixes of keys not imported because the file has no hash.
    pub api_keys_skipped: Vec<String>,
    /// Connections created.
    pub connections_created: u64,
    /// Connections already there (matched by name).
    pub connections_existing: u64,
    /// `connection name: field` for secrets the file had redacted.
    pub secrets_missing: Vec<String>,
}

impl ImportReport {
    /// Whether the import wrote anything.
    pub fn changed(&self) -> bool {
        self.organization_created
            || self.users_created + self.api_keys_created + self.connections_created > 0
    }
}

impl Operator {
    /// Restores `doc` into the database: creates its organization when no
    /// organization has the slug, or fills the existing one when it holds
    /// no user the file does not name. Users match by e-mail, keys by hash
    /// (or prefix), connections by name; what matches is left alone, so a
    /// second import changes nothing. Secrets sealed under the passphrase
    /// are opened with `passphrase` and sealed under the server's key.
    ///
    /// # Errors
    /// Validation errors for an unknown format, a foreign non-empty
    /// organization, a missing passphrase; secret decryption errors for a
    /// wrong passphrase; database errors. Nothing is written on error.
    pub async fn import_organization(
        &self,
        doc: &ExportDocument,
        passphrase: Option<&PassphraseBox>,
    ) -> Result<ImportReport> {
        use crate::audit::{AuditEvent, Entry};
        use crate::work::{Origin, Work};
        use curatore_domain::{
            ConnectionScope, ConnectionType, EmailAddress, NewApiKey, NewConnection,
            NewOrganization, NewUser, PasswordHash, Role, Slug, UserId, Username,
        };
        use std::collections::HashMap;

        if doc.format_version != EXPORT_FORMAT {
            return Err(ServiceError::validation(format!(
                "the file has format version {}, this server reads {EXPORT_FORMAT}",
                doc.format_version
            )));
        }
        let sealed = doc.secrets == "passphrase";
        if sealed && passphrase.is_none() {
            return Err(ServiceError::validation(
                "the file carries sealed secrets: set CURATORE_EXPORT_PASSPHRASE",
            ));
        }
        let mut report = ImportReport::default();

        // Everything that can fail without the database first: opening the
        // secrets proves the passphrase before anything is written.
        let mut configs = Vec::new();
        for c in &doc.connections {
            let paths = self
                .services
                .connections_config()
                .registry
                .get(&c.connection_type)
                .map(|k| k.secret_fields())
                .unwrap_or_default();
            let mut cfg = c.config.clone();
            for path in &paths {
                let pointer: String = path
                    .iter()
                    .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
                    .collect();
                let Some(node) = cfg.pointer_mut(&pointer) else {
                    continue;
                };
                if node.as_str() == Some(config::REDACTED) {
                    report
                        .secrets_missing
                        .push(format!("{}: {}", c.name, path.join(".")));
                    *node = Value::Null;
                } else if let (Some(pass), Some(s)) = (
                    passphrase,
                    node.get(PASSPHRASE_ENVELOPE).and_then(Value::as_str),
                ) {
                    let plain = pass
                        .open(s)
                        .map_err(|_| ServiceError::from(crate::SecretsFailure::ExportPassphrase))?;
                    *node = Value::String(plain);
                }
            }
            let cfg = strip_nulls(cfg);
            let has_secret = paths.iter().any(|p| {
                let pointer: String = p.iter().map(|k| format!("/{k}")).collect();
                cfg.pointer(&pointer).is_some_and(Value::is_string)
            });
            let mut stored = cfg;
            if has_secret {
                let secrets = self.services.secret_box().ok_or_else(no_key)?;
                config::seal(&mut stored, &paths, secrets);
            }
            configs.push(stored);
        }

        let work = Work::begin(&self.services, Origin::Process).await?;
        let org = match work
            .system()
            .organizations()
            .find_by_slug(&doc.organization.slug)
            .await?
        {
            Some(org) => org,
            None => {
                let created = work
                    .system()
                    .organizations()
                    .create(NewOrganization {
                        name: doc.organization.name.clone(),
                        display_name: doc.organization.display_name.clone(),
                        slug: Slug::parse(&doc.organization.slug)?,
                        settings: doc.organization.settings.clone(),
                        created_by: None,
                    })
                    .await?;
                report.organization_created = true;
                if doc.organization.is_active {
                    created
                } else {
                    work.system()
                        .organizations()
                        .set_active(created.id, false)
                        .await?
                }
            }
        };
        let tenant = work.tenant(org.id);

        // Fill only an organization that holds nothing the file does not name.
        let present = tenant.users().list(1_000_000, 0).await?;
        if let Some(foreign) = present
            .iter()
            .find(|u| !doc.users.iter().any(|d| d.email == u.email.as_str()))
        {
            return Err(crate::Conflict::Import(format!(
                "the organization `{}` already has users the file does not name (such as {}): import fills only an empty organization",
                doc.organization.slug,
                foreign.email.as_str()
            ))
            .into());
        }

        let mut user_ids: HashMap<uuid::Uuid, UserId> = HashMap::new();
        for u in &doc.users {
            if let Some(existing) = present.iter().find(|p| p.email.as_str() == u.email) {
                user_ids.insert(u.id, existing.id);
                report.users_existing += 1;
                continue;
            }
            let hash = match &u.password_hash {
                Some(h) => PasswordHash::new(h.clone()),
                None => {
                    report.users_without_password.push(u.email.clone());
                    self.services
                        .config()
                        .hasher
                        .hash(&curatore_auth::random_password(32))
                        .await?
                }
            };
            let created = tenant
                .users()
                .create(NewUser {
                    organization_id: org.id,
                    email: EmailAddress::parse(&u.email)?,
                    username: Username::parse(&u.username)?,
                    password_hash: hash,
                    full_name: u.full_name.clone(),
                    role: u.role.parse::<Role>().map_err(|_| {
                        ServiceError::validation(format!("unknown role `{}`", u.role))
                    })?,
                    is_verified: u.is_verified,
                })
                .await?;
            if u.settings.as_object().is_some_and(|o| !o.is_empty()) {
                tenant
                    .users()
                    .set_settings(created.id, u.settings.clone())
                    .await?;
            }
            if !u.is_active {
                tenant.users().set_active(created.id, false).await?;
            }
            user_ids.insert(u.id, created.id);
            report.users_created += 1;
        }

        let keys = tenant.api_keys().list(None).await?;
        for k in &doc.api_keys {
            let exists = keys.iter().any(|e| {
                k.key_hash.as_deref() == Some(e.key_hash.as_str())
                    || (e.prefix == k.prefix && e.name == k.name)
            });
            if exists {
                report.api_keys_existing += 1;
                continue;
            }
            let Some(hash) = &k.key_hash else {
                report.api_keys_skipped.push(k.prefix.clone());
                continue;
            };
            let created = tenant
                .api_keys()
                .create(NewApiKey {
                    organization_id: org.id,
                    user_id: k.user_id.and_then(|u| user_ids.get(&u).copied()),
                    name: k.name.clone(),
                    key_hash: hash.clone(),
                    prefix: k.prefix.clone(),
                    scopes: k.scopes.clone(),
                    expires_at: k.expires_at,
                })
                .await?;
            if !k.is_active {
                tenant.api_keys().revoke(created.id).await?;
            }
            report.api_keys_created += 1;
        }

        let connections = tenant.connections().list(None).await?;
        for (c, stored) in doc.connections.iter().zip(configs) {
            if connections.iter().any(|e| e.name == c.name) {
                report.connections_existing += 1;
                continue;
            }
            let created = tenant
                .connections()
                .create(NewConnection {
                    organization_id: org.id,
                    name: c.name.clone(),
                    description: c.description.clone(),
                    connection_type: ConnectionType::parse(&c.connection_type)?,
                    config: stored,
                    is_default: c.is_default,
                    scope: c.scope.parse::<ConnectionScope>()?,
                    owner_user_id: c.owner_user_id.and_then(|u| user_ids.get(&u).copied()),
                    created_by: None,
                    managed_by: c.managed_by.clone(),
                })
                .await?;
            if !c.is_active {
                tenant
                    .connections()
                    .update(
                        created.id,
                        curatore_persistence::ConnectionChanges {
                            is_active: Some(false),
                            ..Default::default()
                        },
                    )
                    .await?;
            }
            report.connections_created += 1;
        }

        // An import that changed nothing is rolled back: it records nothing.
        if report.changed() {
            let details = serde_json::to_value(&report).unwrap_or_default();
            work.commit(
                AuditEvent::ImportOrganization,
                Entry::about("organization", org.id.as_uuid(), details).by_user(Some(org.id), None),
            )
            .await?;
        }
        Ok(report)
    }
}

/// `config` without `null` members (secrets the file had redacted).
fn strip_nulls(config: Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_go_and_debug_shows_no_hash() {
        assert_eq!(
            strip_nulls(json!({"a": null, "b": {"c": null, "d": 1}, "e": "x"})),
            json!({"b": {"d": 1}, "e": "x"})
        );
        let user = ExportedUser {
            id: uuid::Uuid::nil(),
            email: "a@example.com".into(),
            username: "a".into(),
            full_name: None,
            role: "member".into(),
            is_active: true,
            is_verified: false,
            settings: json!({}),
            password_hash: Some("$argon2id$v=19$secret-hash".into()),
        };
        let shown = format!("{user:?}");
        assert!(!shown.contains("secret-hash"), "{shown}");
    }
}
