//! `curatore-server export`: one organization as a JSON document.
//!
//! The document holds the organization, its users (password hashes only on
//! request), its API keys' metadata (key hashes only on request) and its
//! connections. Connection secrets are `***REDACTED***` by default; with a
//! [`PassphraseBox`] they are opened with the server's key and sealed again
//! under the passphrase, whose argon2id parameters the document carries.
//! Nothing here returns a secret in clear.

use crate::connections::{config, no_key, secrets_error};
use crate::{Result, ServiceError, Services};
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

/// One user.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// One API key, without the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// One connection; secrets redacted or sealed under the passphrase.
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

impl Services {
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
            .database()
            .system()
            .organizations()
            .find_by_slug(slug)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no organization has slug `{slug}`")))?;
        let tenant = self.database().tenant(org.id);

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
                        let secrets = self.secret_box().ok_or_else(no_key)?;
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
