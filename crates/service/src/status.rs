//! What the original's UI asks on every page: is the organization's language
//! model reachable. Read from stored test results, never by calling out.

use crate::error::Result;
use crate::services::Services;
use curatore_domain::{ConnectionTestStatus, ConnectionType, OrganizationId};

impl Services {
    /// Whether the organization's default `llm` connection is active and
    /// passed its last test. Reads the stored result only (the original made
    /// a live request to the model on every health check), so it stays cheap;
    /// `false` when there is no such connection or it was never tested.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn llm_connected(&self, organization: OrganizationId) -> Result<bool> {
        let llm = ConnectionType::parse("llm")?;
        let connections = self
            .database()
            .tenant(organization)
            .connections()
            .list(Some(&llm))
            .await?;
        Ok(connections.iter().any(|c| {
            c.is_default && c.is_active && c.test_status == Some(ConnectionTestStatus::Healthy)
        }))
    }
}
