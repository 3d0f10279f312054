//! What the original's UI asks without signing in: the status of the
//! default organization's connections (`/api/v1/llm/status`,
//! `/api/v1/extractor/status`) and the per-component health cards of its
//! System Health page (`/api/v1/system/health/{llm,extraction,sharepoint}`).
//! Everything is read from the stored result of the connection's last test;
//! nothing is called out per request.

use crate::error::Result;
use crate::sessions::Anonymous;
use crate::status::ServiceStatus;
use crate::status::Status;

/// How a component stands, in the words of the original's health page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentStatus {
    /// The connection passed its last test.
    Healthy,
    /// The connection failed its last test.
    Unhealthy,
    /// A connection is configured but was never tested.
    Unknown,
    /// No connection of the type is configured.
    NotConfigured,
}

impl ComponentStatus {
    /// The name the original's UI knows (`healthy`, `unhealthy`, `unknown`,
    /// `not_configured`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Unknown => "unknown",
            Self::NotConfigured => "not_configured",
        }
    }
}

/// One component card: the default connection of a type, as the original's
/// `/api/v1/system/health/{component}` reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentHealth {
    /// How it stands.
    pub status: ComponentStatus,
    /// For people: what passed, what failed, or what to do.
    pub message: String,
    /// A connection of the type is configured (database or environment).
    pub configured: bool,
    /// The model (LLM connections).
    pub model: Option<String>,
    /// The URL it talks to.
    pub endpoint: Option<String>,
    /// When it was last tested.
    pub last_tested_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ComponentHealth {
    /// The card for the default connection of `connection_type`, from its
    /// status: healthy or unhealthy by its last test, unknown when never
    /// tested, not configured when there is none.
    pub fn from_status(connection_type: &str, s: &ServiceStatus) -> Self {
        let configured = s.source.is_some();
        let status = if s.connected {
            ComponentStatus::Healthy
        } else if !configured {
            ComponentStatus::NotConfigured
        } else if s.last_tested_at.is_some() {
            ComponentStatus::Unhealthy
        } else {
            ComponentStatus::Unknown
        };
        let message = match (status, &s.model) {
            (ComponentStatus::Healthy, Some(model)) => format!("Connected to {model}"),
            (ComponentStatus::Healthy, None) => {
                format!("the {connection_type} connection passed its last test")
            }
            _ => s
                .error
                .clone()
                .unwrap_or_else(|| format!("the {connection_type} connection is not connected")),
        };
        Self {
            status,
            message,
            configured,
            model: s.model.clone(),
            endpoint: s.endpoint.clone(),
            last_tested_at: s.last_tested_at,
        }
    }

    /// The card without what describes the deployment (model, endpoint,
    /// and the recorded message, which may name hosts): for anonymous
    /// callers when health details are for signed-in callers only.
    #[must_use]
    pub fn without_details(self) -> Self {
        let message = match self.status {
            ComponentStatus::Healthy => "the connection passed its last test",
            ComponentStatus::Unhealthy => "the connection failed its last test",
            ComponentStatus::Unknown => "the connection was never tested",
            ComponentStatus::NotConfigured => "no connection is configured",
        };
        Self {
            message: message.to_owned(),
            model: None,
            endpoint: None,
            ..self
        }
    }
}

impl ServiceStatus {
    /// The status without what describes the deployment (endpoint, model,
    /// TLS and timeout settings, the connection's id, and the recorded
    /// error, which may name hosts): for anonymous callers when health
    /// details are for signed-in callers only.
    #[must_use]
    pub fn without_details(self) -> Self {
        let error = (!self.connected)
            .then(|| "not connected (the details are shown to signed-in callers)".to_owned());
        Self {
            endpoint: None,
            model: None,
            error,
            ssl_verify: None,
            timeout: None,
            connection_id: None,
            ..self
        }
    }
}

impl Anonymous<'_> {
    /// The default organization's default connection of `connection_type`,
    /// as the original answered everyone ([`crate::Status::service`] for a
    /// signed-in caller). Never a secret; the caller decides how much of it
    /// to show.
    ///
    /// # Errors
    /// 404 `organization_not_found` before seeding; 400 for an unknown type;
    /// 500 when a stored secret does not decrypt; 503 when the database is
    /// unavailable.
    pub async fn service_status(&self, connection_type: &str) -> Result<ServiceStatus> {
        let services = self.services();
        let org = services.default_organization().await?.id;
        services.status_in(org, connection_type).await
    }

    /// The default organization's health card of `connection_type` (`llm`,
    /// `extraction`, `sharepoint`).
    ///
    /// # Errors
    /// As [`Anonymous::service_status`].
    pub async fn component_health(&self, connection_type: &str) -> Result<ComponentHealth> {
        let status = self.service_status(connection_type).await?;
        Ok(ComponentHealth::from_status(connection_type, &status))
    }
}

impl Status<'_> {
    /// The caller's organization's health card of `connection_type`.
    ///
    /// # Errors
    /// As [`Status::service`].
    pub async fn component_health(&self, connection_type: &str) -> Result<ComponentHealth> {
        let status = self.service(connection_type).await?;
        Ok(ComponentHealth::from_status(connection_type, &status))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn status(connected: bool, source: Option<&'static str>, tested: bool) -> ServiceStatus {
        ServiceStatus {
            connected,
            endpoint: source.map(|_| "http://10.1.2.3:9/v1".to_owned()),
            model: source.map(|_| "gpt-x".to_owned()),
            error: (!connected).then(|| "connect to http://10.1.2.3:9/v1 refused".to_owned()),
            error_code: (!connected).then_some("unreachable"),
            response_time: None,
            ssl_verify: Some(true),
            timeout: Some(60),
            source,
            connection_id: None,
            last_tested_at: tested.then(chrono::Utc::now),
        }
    }

    #[test]
    fn a_card_says_what_the_last_test_found() {
        let card = |s| ComponentHealth::from_status("llm", &s).status;
        assert_eq!(
            card(status(true, Some("database"), true)),
            ComponentStatus::Healthy
        );
        assert_eq!(
            card(status(false, Some("database"), true)),
            ComponentStatus::Unhealthy
        );
        assert_eq!(
            card(status(false, Some("environment"), false)),
            ComponentStatus::Unknown
        );
        assert_eq!(
            card(status(false, None, false)),
            ComponentStatus::NotConfigured
        );
        let healthy = ComponentHealth::from_status("llm", &status(true, Some("database"), true));
        assert_eq!(healthy.message, "Connected to gpt-x");
    }

    #[test]
    fn without_details_nothing_names_the_deployment() {
        let card = ComponentHealth::from_status("llm", &status(false, Some("database"), true))
            .without_details();
        assert_eq!(card.status, ComponentStatus::Unhealthy);
        assert!(card.model.is_none() && card.endpoint.is_none());
        assert!(!card.message.contains("10.1.2.3"), "{card:?}");
        let s = status(false, Some("database"), true).without_details();
        assert!(!format!("{s:?}").contains("10.1.2.3"), "{s:?}");
        assert!(s.model.is_none() && s.ssl_verify.is_none() && s.timeout.is_none());
        assert!(!s.connected);
    }
}
