//! Connections at start-up: the keys that seal secrets (a key file beside a
//! SQLite database when none is configured), the connections the environment
//! describes, the outbound policy; and the `secrets rotate` and
//! `connections import-env` commands.

use crate::cli::Failure;
use curatore_auth::SecretBox;
use curatore_config::{DEFAULT_SECRET_KEY_ID, SecretKeys, Settings};
use curatore_domain::DatabaseUrl;
use curatore_service::{
    ConnectionRegistry, ConnectionsConfig, EnvironmentConnection, OutboundPolicy, Services,
};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The key file used when `SECRETS_ENCRYPTION_KEY` is unset with SQLite.
pub fn key_file_for(database: &Path) -> PathBuf {
    curatore_config::secrets_key_file(database)
}

/// Reads the key file, or creates it (mode 0600) with a fresh key.
fn key_file(path: &Path) -> Result<SecretKeys, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => SecretKeys::parse(text.trim()).map_err(|problem| {
            Failure::Config(format!("the secrets key file {} {problem}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = SecretKeys::from_keys(vec![(
                DEFAULT_SECRET_KEY_ID.to_owned(),
                SecretBox::generate_key(),
            )]);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Failure::Runtime(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(path).map_err(|e| {
                Failure::Runtime(format!(
                    "cannot create the secrets key file {}: {e}",
                    path.display()
                ))
            })?;
            writeln!(file, "{}", keys.to_text()).map_err(|e| {
                Failure::Runtime(format!(
                    "cannot write the secrets key file {}: {e}",
                    path.display()
                ))
            })?;
            tracing::warn!(
                path = %path.display(),
                "SECRETS_ENCRYPTION_KEY is not set: created a key file for connection secrets \
                 (mode 0600). Back it up with the database; without it the stored secrets are lost"
            );
            Ok(keys)
        }
        Err(e) => Err(Failure::Runtime(format!(
            "cannot read the secrets key file {}: {e}",
            path.display()
        ))),
    }
}

/// The keys that seal connection secrets: `SECRETS_ENCRYPTION_KEY`, else a
/// key file beside the SQLite database. PostgreSQL with `ENABLE_AUTH=true`
/// and no key refuses to start; without auth it runs, but secrets cannot be
/// saved (and says so).
pub fn secret_box(settings: &Settings) -> Result<Option<SecretBox>, Failure> {
    let keys = match (&settings.secrets_encryption_key, &settings.database_url) {
        (Some(keys), _) => {
            tracing::info!(keys = ?keys.ids(), "Connection secrets: encrypted with SECRETS_ENCRYPTION_KEY");
            keys.clone()
        }
        (None, DatabaseUrl::Sqlite { path }) => {
            let file = key_file_for(path);
            let keys = key_file(&file)?;
            tracing::info!(path = %file.display(), "Connection secrets: encrypted with the key file");
            keys
        }
        (None, DatabaseUrl::Postgres { .. }) if settings.enable_auth => {
            return Err(Failure::Config(
                "SECRETS_ENCRYPTION_KEY is required with PostgreSQL and ENABLE_AUTH=true: \
                 connection secrets are encrypted with it (generate one with `openssl rand -base64 32`)"
                    .into(),
            ));
        }
        (None, DatabaseUrl::Postgres { .. }) => {
            tracing::warn!(
                "SECRETS_ENCRYPTION_KEY is not set: connections with secrets cannot be saved \
                 (generate a key with `openssl rand -base64 32`)"
            );
            return Ok(None);
        }
    };
    let keys = keys.keys().iter().map(|(id, key)| (id.clone(), *key));
    SecretBox::new(keys)
        .map(Some)
        .map_err(|e| Failure::Config(format!("SECRETS_ENCRYPTION_KEY: {e}")))
}

/// The connections `OPENAI_*`, `EXTRACTION_SERVICE_*` and `MS_*` describe.
pub fn environment(settings: &Settings) -> Vec<EnvironmentConnection> {
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

/// Everything the services need to handle connections.
pub fn connections_config(settings: &Settings) -> Result<ConnectionsConfig, Failure> {
    Ok(ConnectionsConfig {
        registry: ConnectionRegistry::builtin(),
        secrets: secret_box(settings)?.map(Arc::new),
        outbound: OutboundPolicy {
            block_private_networks: settings.connections_block_private_networks,
        },
        auto_test: settings.auto_test_connections,
        environment: environment(settings),
    })
}

/// Imports the environment's connections into the default organization,
/// logging per type; a failure is logged and does not stop the server.
pub async fn import_environment(services: &Services) -> Result<(), String> {
    match services.import_environment_connections().await {
        Ok(results) => {
            let summary: Vec<String> = results
                .iter()
                .map(|(t, a)| format!("{t}: {}", a.as_str()))
                .collect();
            tracing::info!("Environment connections: {}", summary.join(", "));
            Ok(())
        }
        Err(e) => Err(format!(
            "importing connections from the environment failed: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_the_database_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("curatore.db");
        let file = key_file_for(&db);
        assert_eq!(
            file,
            dir.path().join("data").join("curatore.db.secrets-key")
        );
        let made = key_file(&file).unwrap();
        let again = key_file(&file).unwrap();
        assert_eq!(made, again, "read back, not made twice");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

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
