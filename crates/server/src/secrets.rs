//! The keys that seal connection secrets (a key file beside a SQLite
//! database when none is configured), and the connections the environment
//! describes.

use crate::error::StartError as Failure;
use curatore_auth::SecretBox;
use curatore_config::{KeyFileMode, SecretKeysError, SecretKeysOrigin, Settings};
use curatore_service::EnvironmentConnection;
use serde_json::json;

/// The keys that seal connection secrets: `SECRETS_ENCRYPTION_KEY`, else a
/// key file beside the SQLite database (resolved by `curatore-config`, as
/// `curatore-migrate adopt` resolves them). PostgreSQL with
/// `ENABLE_AUTH=true` and no key refuses to start; without auth it runs, but
/// secrets cannot be saved (and says so).
pub(crate) fn secret_box(settings: &Settings) -> Result<Option<SecretBox>, Failure> {
    let resolved = settings
        .secret_keys(KeyFileMode::CreateIfMissing)
        .map_err(|e| match e {
            SecretKeysError::InvalidKeyFile { .. } => Failure::Config(e.to_string()),
            SecretKeysError::Io { .. } => Failure::Runtime(e.to_string()),
        })?;
    let Some(resolved) = resolved else {
        if settings.enable_auth {
            return Err(Failure::Config(
                "SECRETS_ENCRYPTION_KEY is required with PostgreSQL and ENABLE_AUTH=true: \
                 connection secrets are encrypted with it (generate one with `openssl rand -base64 32`)"
                    .into(),
            ));
        }
        tracing::warn!(
            "SECRETS_ENCRYPTION_KEY is not set: connections with secrets cannot be saved \
             (generate a key with `openssl rand -base64 32`)"
        );
        return Ok(None);
    };
    match &resolved.origin {
        SecretKeysOrigin::Variable => {
            tracing::info!(keys = ?resolved.keys.ids(), "Connection secrets: encrypted with SECRETS_ENCRYPTION_KEY");
        }
        SecretKeysOrigin::KeyFile { path, created } => {
            if *created {
                tracing::warn!(
                    path = %path.display(),
                    "SECRETS_ENCRYPTION_KEY is not set: created a key file for connection secrets \
                     (mode 0600). Back it up with the database; without it the stored secrets are lost"
                );
            }
            tracing::info!(path = %path.display(), "Connection secrets: encrypted with the key file");
        }
    }
    let keys = resolved
        .keys
        .keys()
        .iter()
        .map(|(id, key)| (id.clone(), *key));
    SecretBox::new(keys)
        .map(Some)
        .map_err(|e| Failure::Config(format!("SECRETS_ENCRYPTION_KEY: {e}")))
}

/// The connections `OPENAI_*`, `EXTRACTION_SERVICE_*` and `MS_*` describe.
pub(crate) fn environment(settings: &Settings) -> Vec<EnvironmentConnection> {
    let mut out = Vec::new();
    if let Some(key) = &settings.openai_api_key {
        out.push(EnvironmentConnection {
            connection_type: "llm".into(),
            name: "Default LLM".into(),
            variables:
                "OPENAI_API_KEY, OPENAI_MODEL, OPENAI_BASE_URL, OPENAI_TIMEOUT, OPENAI_VERIFY_SSL"
                    .into(),
            config: json!({
                "api_key": key.expose(),
                "model": settings.openai_model,
                "base_url": settings.openai_base_url,
                "timeout": settings.openai_timeout,
                "verify_ssl": settings.openai_verify_ssl,
            }),
        });
    }
    if let Some(url) = &settings.extraction_service_url {
        let mut config = json!({
            "service_url": url,
            "timeout": settings.extraction_service_timeout,
            "verify_ssl": settings.extraction_service_verify_ssl,
        });
        if let Some(key) = &settings.extraction_service_api_key {
            config["api_key"] = json!(key.expose());
        }
        out.push(EnvironmentConnection {
            connection_type: "extraction".into(),
            name: "Default Extraction Service".into(),
            variables: "EXTRACTION_SERVICE_URL, EXTRACTION_SERVICE_TIMEOUT, EXTRACTION_SERVICE_API_KEY, EXTRACTION_SERVICE_VERIFY_SSL".into(),
            config,
        });
    }
    if let (Some(tenant), Some(client), Some(secret)) = (
        &settings.ms_tenant_id,
        &settings.ms_client_id,
        &settings.ms_client_secret,
    ) {
        out.push(EnvironmentConnection {
            connection_type: "sharepoint".into(),
            name: "Default SharePoint".into(),
            variables:
                "MS_TENANT_ID, MS_CLIENT_ID, MS_CLIENT_SECRET, MS_GRAPH_SCOPE, MS_GRAPH_BASE_URL"
                    .into(),
            config: json!({
                "tenant_id": tenant,
                "client_id": client,
                "client_secret": secret.expose(),
                "graph_scope": settings.ms_graph_scope,
                "graph_base_url": settings.ms_graph_base_url,
            }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use curatore_domain::DatabaseUrl;

    #[test]
    fn postgres_with_auth_and_no_key_refuses_to_start() {
        let settings = Settings {
            database_url: DatabaseUrl::parse("postgres://u:p@localhost/x").unwrap(),
            enable_auth: true,
            ..Settings::default()
        };
        let err = secret_box(&settings).unwrap_err();
        assert!(err.to_string().contains("SECRETS_ENCRYPTION_KEY"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }
}
