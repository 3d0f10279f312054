//! What the original's UI asks on every page: is the organization's language
//! model reachable. Read from stored test results, never by calling out.

use crate::context::RequestContext;
use crate::error::{Result, ServiceError};
use crate::handle::Bound;
use crate::services::Services;
use crate::sessions::Anonymous;
use curatore_domain::{ConnectionTestStatus, ConnectionType, OrganizationId};
use curatore_persistence::{DatabaseHealth, PoolStatus};

/// The state of the caller's organization's outside services, from stored
/// test results (`services.status(&ctx)`).
#[derive(Clone, Copy)]
pub struct Status<'a>(Bound<'a>);

impl Services {
    /// The caller's organization's outside services, as last tested.
    pub fn status<'a>(&'a self, ctx: &'a RequestContext) -> Status<'a> {
        Status(Bound::new(self, ctx))
    }

    /// The database's health report (counts, size and migration cached; see
    /// `HEALTH_CACHE_SECONDS`). Never fails: an unreachable database is a
    /// report that says so.
    pub async fn database_health(&self) -> DatabaseHealth {
        self.database().health_check().await
    }

    /// One round trip to the database.
    ///
    /// # Errors
    /// 503 when the database does not answer.
    pub async fn ping_database(&self) -> Result<()> {
        Ok(self.database().ping().await?)
    }

    /// The connection pool's size and use, for metrics.
    pub fn pool_status(&self) -> PoolStatus {
        self.database().pool_status()
    }

    /// Whether the organization's default `llm` connection is active and
    /// passed its last test. Reads the stored result only (the original made
    /// a live request to the model on every health check), so it stays cheap;
    /// `false` when there is no such connection or it was never tested.
    async fn llm_connected(&self, organization: OrganizationId) -> Result<bool> {
        let llm = ConnectionType::parse("llm")?;
        // One indexed row, not every LLM connection: the UI polls this.
        let default = self
            .database()
            .tenant(organization)
            .connections()
            .active_default(&llm)
            .await?;
        Ok(default.is_some_and(|c| c.test_status == Some(ConnectionTestStatus::Healthy)))
    }
}

/// The state of the organization's default connection of one type, as the
/// original's `LLMConnectionStatus` reported it (`connected`, `endpoint`,
/// `model`, `error`, `response_time`, `ssl_verify`, `timeout`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServiceStatus {
    /// The connection passed its last test.
    pub connected: bool,
    /// The URL it talks to (`base_url`, `service_url` or `graph_base_url`).
    pub endpoint: Option<String>,
    /// The model (LLM connections).
    pub model: Option<String>,
    /// Why it is not connected; never a secret.
    pub error: Option<String>,
    /// Why it is not connected, as a code: `not_configured`, `not_tested`,
    /// `secret_decryption_failed` (its stored secret does not open with the
    /// configured keys), or the last test's reason (`credentials_refused`,
    /// `timeout`, …).
    pub error_code: Option<&'static str>,
    /// How long the last test took, in seconds, when it recorded it.
    pub response_time: Option<f64>,
    /// Whether TLS certificates are verified.
    pub ssl_verify: Option<bool>,
    /// The request timeout in seconds.
    pub timeout: Option<u64>,
    /// `database` (the organization's default) or `environment`.
    pub source: Option<&'static str>,
    /// The stored connection, when it came from the database.
    pub connection_id: Option<uuid::Uuid>,
    /// When it was last tested.
    pub last_tested_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Status<'_> {
    /// Whether the organization's default `llm` connection is active and
    /// passed its last test (the stored result; nothing is called out).
    ///
    /// # Errors
    /// 503 when the database is unavailable.
    pub async fn llm_connected(&self) -> Result<bool> {
        self.0.principal().refuse_pending_password_change()?;
        self.0.services.llm_connected(self.0.org()).await
    }

    /// The organization's default connection of `connection_type` (`llm`,
    /// `extraction`), resolved as importing services resolve it (database
    /// default, then the environment), with its last stored test result.
    /// Nothing is called out: a connection never tested says so.
    ///
    /// # Errors
    /// 400 for an unknown type; 500 when a stored secret does not decrypt;
    /// 503 when the database is unavailable.
    pub async fn service(&self, connection_type: &str) -> Result<ServiceStatus> {
        self.0.principal().refuse_pending_password_change()?;
        self.0
            .services
            .status_in(self.0.org(), connection_type)
            .await
    }
}

impl Anonymous<'_> {
    /// Whether the default organization's default `llm` connection is
    /// active and passed its last test, for callers that sent no credentials.
    ///
    /// # Errors
    /// 404 before seeding; 503 when the database is unavailable.
    pub async fn llm_connected(&self) -> Result<bool> {
        let services = self.services();
        let org = services.default_organization().await?;
        services.llm_connected(org.id).await
    }
}

impl Services {
    /// The status of `org`'s default `connection_type`; callers prove the
    /// organization (a request's own, or the default one for anonymous
    /// callers).
    pub(crate) async fn status_in(
        &self,
        org: OrganizationId,
        connection_type: &str,
    ) -> Result<ServiceStatus> {
        let active = match self.active_connection(org, connection_type).await {
            Ok(active) => active,
            // A secret that does not open is a state to report, not a
            // failure of this request (logged once per connection).
            Err(ServiceError::Secrets(_)) => {
                return self.unopenable_status(org, connection_type).await;
            }
            Err(e) => return Err(e),
        };
        let Some(active) = active else {
            return Ok(ServiceStatus {
                connected: false,
                endpoint: None,
                model: None,
                error_code: Some("not_configured"),
                error: Some(format!(
                    "no {connection_type} connection is configured: create one at /api/v1/connections or set its environment variables"
                )),
                response_time: None,
                ssl_verify: None,
                timeout: None,
                source: None,
                connection_id: None,
                last_tested_at: None,
            });
        };
        let stored = match active.connection_id {
            Some(id) => self.database().tenant(org).connections().get(id).await?,
            None => None,
        };
        let result = stored.as_ref().and_then(|c| c.test_result.clone());
        let connected = stored
            .as_ref()
            .is_some_and(|c| c.test_status == Some(ConnectionTestStatus::Healthy));
        let result = result.map(|r| crate::connections::kinds::shown_test_result(&r));
        let (error, error_code) = if connected {
            (None, None)
        } else {
            let recorded = result.as_ref().and_then(|r| {
                let message = r.get("message").and_then(serde_json::Value::as_str)?;
                let code = r
                    .get("error")
                    .and_then(serde_json::Value::as_str)
                    .and_then(crate::connections::kinds::reason::known)
                    .unwrap_or(crate::connections::kinds::reason::TEST_FAILED);
                Some((message.to_owned(), code))
            });
            match recorded {
                Some((message, code)) => (Some(message), Some(code)),
                None => (
                    Some(match active.connection_id {
                        Some(id) => format!("not tested yet: POST /api/v1/connections/{id}/test"),
                        None => "configured from the environment and not tested".to_owned(),
                    }),
                    Some("not_tested"),
                ),
            }
        };
        let setting = |k: &str| active.settings.get(k);
        Ok(ServiceStatus {
            connected,
            endpoint: active
                .text("base_url")
                .or_else(|| active.text("service_url"))
                .or_else(|| active.text("graph_base_url"))
                .map(str::to_owned),
            model: active.text("model").map(str::to_owned),
            error,
            error_code,
            // Our tests record milliseconds; the original's answer is seconds.
            response_time: result.as_ref().and_then(|r| {
                r.pointer("/details/response_time")
                    .and_then(serde_json::Value::as_f64)
                    .or_else(|| {
                        r.pointer("/details/response_time_ms")
                            .and_then(serde_json::Value::as_f64)
                            .map(|ms| ms / 1000.0)
                    })
            }),
            ssl_verify: setting("verify_ssl").and_then(serde_json::Value::as_bool),
            timeout: setting("timeout").and_then(serde_json::Value::as_u64),
            source: Some(match active.connection_id {
                Some(_) => "database",
                None => "environment",
            }),
            connection_id: active.connection_id.map(|id| id.as_uuid()),
            last_tested_at: stored.and_then(|c| c.last_tested_at),
        })
    }

    /// The status of `org`'s default `connection_type` whose stored secret
    /// does not open: not connected, whatever its last test found, read
    /// without opening anything.
    async fn unopenable_status(
        &self,
        org: OrganizationId,
        connection_type: &str,
    ) -> Result<ServiceStatus> {
        let ty = ConnectionType::parse(connection_type)?;
        let stored = self
            .database()
            .tenant(org)
            .connections()
            .active_default(&ty)
            .await?;
        let shown = stored.clone().map(|c| self.redacted(c));
        let text = |k: &str| {
            shown
                .as_ref()
                .and_then(|c| c.config.get(k))
                .and_then(serde_json::Value::as_str)
                .filter(|v| *v != crate::connections::config::REDACTED)
                .map(str::to_owned)
        };
        let setting = |k: &str| shown.as_ref().and_then(|c| c.config.get(k).cloned());
        Ok(ServiceStatus {
            connected: false,
            endpoint: text("base_url")
                .or_else(|| text("service_url"))
                .or_else(|| text("graph_base_url")),
            model: text("model"),
            error: Some(
                "the stored secret does not open with the configured SECRETS_ENCRYPTION_KEY: restore the key or send the secret again".to_owned(),
            ),
            error_code: Some("secret_decryption_failed"),
            response_time: None,
            ssl_verify: setting("verify_ssl").and_then(|v| v.as_bool()),
            timeout: setting("timeout").and_then(|v| v.as_u64()),
            source: Some("database"),
            connection_id: stored.as_ref().map(|c| c.id.as_uuid()),
            last_tested_at: stored.and_then(|c| c.last_tested_at),
        })
    }
}
