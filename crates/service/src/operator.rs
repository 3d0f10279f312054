//! The operator: work the process does for itself, in no request.
//!
//! Seeding, export and import, secret rotation, audit retention and the
//! environment import act across organizations or as the instance itself.
//! Only [`crate::Services::open`] makes an [`Operator`], handing it to
//! whoever built the services (the start-up path, a CLI, a worker); nothing a
//! request can reach gives one out, so no request acts with its powers.

use crate::error::{NotFound, Result};
use crate::services::Services;
use curatore_domain::Organization;
use curatore_persistence::InvalidationListener;

/// The handle for operator work. See the module documentation.
#[derive(Clone, Debug)]
pub struct Operator {
    pub(crate) services: Services,
}

impl Operator {
    pub(crate) fn new(services: Services) -> Self {
        Self { services }
    }

    /// The services this operator belongs to (for serving requests).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// On PostgreSQL, listens for what other instances forget and forgets it
    /// here at once; after the listening connection was lost and is back,
    /// forgets everything, since notifications may have been missed. Keep
    /// the returned value for as long as the process serves; `None` on
    /// SQLite. Call inside a Tokio runtime.
    pub fn listen_for_invalidations(&self) -> Option<InvalidationListener> {
        self.services.listen_for_invalidations()
    }

    /// Whether any organization exists yet.
    ///
    /// # Errors
    /// 503 when the database is unavailable.
    pub async fn is_seeded(&self) -> Result<bool> {
        Ok(self
            .services
            .database()
            .system()
            .organizations()
            .any_exist()
            .await?)
    }

    /// The default organization as configured (`DEFAULT_ORG_ID`, else
    /// `DEFAULT_ORG_SLUG`, else the first); `None` before seeding.
    ///
    /// # Errors
    /// 404 `organization_not_found` when `DEFAULT_ORG_ID` names no
    /// organization; 503 when the database is unavailable.
    pub async fn default_organization(&self) -> Result<Option<Organization>> {
        let rule = self.services.default_organization_rule();
        let found = rule.resolve(self.services.database()).await?;
        match (found, rule.id) {
            (None, Some(id)) => Err(NotFound::ConfiguredOrganization(id).into()),
            (found, _) => Ok(found),
        }
    }

    /// Closes the database pool once in-flight work is done.
    pub async fn close(&self) {
        self.services.database().close().await;
    }
}
