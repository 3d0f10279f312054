//! Which organization a request acts for.
//!
//! With authentication disabled every request is served as the default
//! organization; with it enabled, as the organization of the token or key.
//! Handlers extract [`OrganizationContext`] either way.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};
use curatore_domain::{Organization, OrganizationId};
use curatore_persistence::{Database, PersistenceError};
use std::future::Future;
use std::pin::Pin;

/// How the default organization is chosen: `DEFAULT_ORG_ID` when set,
/// otherwise the one with `DEFAULT_ORG_SLUG`, otherwise the first created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultOrganization {
    /// An explicit organization; it must exist.
    pub id: Option<OrganizationId>,
    /// The slug to look for when no id is given.
    pub slug: Option<String>,
}

impl DefaultOrganization {
    /// Finds the default organization. With an explicit id, only that one
    /// counts (no fallback, so a typo is noticed rather than papered over).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn resolve(&self, db: &Database) -> Result<Option<Organization>, PersistenceError> {
        if let Some(id) = self.id {
            return db.organizations().get(id).await;
        }
        if let Some(slug) = &self.slug
            && let Some(org) = db.organizations().find_by_slug(slug).await?
        {
            return Ok(Some(org));
        }
        db.organizations().first().await
    }
}

/// The organization the current request acts for: the principal's. Extract
/// it in a handler to scope every query to the caller's tenant.
#[derive(Debug, Clone)]
pub struct OrganizationContext {
    organization: Organization,
}

impl OrganizationContext {
    /// The organization.
    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// Its id, for filtering queries.
    pub fn organization_id(&self) -> OrganizationId {
        self.organization.id
    }
}

/// The default organization, as [`DefaultOrganization`] chooses it; its id
/// is remembered so later requests need one lookup by primary key.
pub(crate) async fn default_organization(state: &AppState) -> Result<Organization, ApiError> {
    let db = state.database();
    let cached = match state.cached_organization() {
        Some(id) => db.organizations().get(id).await?,
        None => None,
    };
    let organization = match cached {
        Some(org) => org,
        None => {
            let found = state.default_organization().resolve(db).await?;
            state.cache_organization(found.as_ref().map(|o| o.id));
            found.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "organization_not_found",
                    "no default organization exists; run `curatore-server seed`",
                )
            })?
        }
    };
    if !organization.is_active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "organization_inactive",
            "the organization is deactivated",
        ));
    }
    Ok(organization)
}

impl FromRequest for OrganizationContext {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = Principal::resolve(&req).await?;
            Ok(Self {
                organization: principal.organization().clone(),
            })
        })
    }
}
