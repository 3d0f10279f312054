use crate::error::ApiError;
use crate::state::AppState;
use crate::tenant;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use curatore_auth::TokenError;
use curatore_domain::{ApiKeyId, Organization, OrganizationId, Role, User, UserId};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use uuid::Uuid;

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Authentication is disabled: the service itself, for the default organization.
    System,
    /// A user with an access token from the session (refresh-token family) `session_id`.
    User {
        /// The user.
        user_id: UserId,
        /// The refresh-token family the token was issued with (`sid`).
        session_id: Uuid,
    },
    /// An API key, acting for its user (or for the organization).
    ApiKey {
        /// The key.
        key_id: ApiKeyId,
        /// Its user; `None` for an organization-wide key.
        user_id: Option<UserId>,
    },
}

/// The authenticated caller: who, in which organization, with which role.
/// Extract it (or a role guard: [`OrgAdmin`], [`Member`], [`AnyRole`]) in a
/// handler; a request without valid credentials gets a JSON 401.
#[derive(Debug, Clone)]
pub struct Principal {
    actor: Actor,
    role: Role,
    organization: Organization,
    user: Option<User>,
    scopes: Vec<String>,
}

impl Principal {
    /// The principal of every request while authentication is disabled.
    pub fn system(organization: Organization) -> Self {
        Self {
            actor: Actor::System,
            role: Role::OrgAdmin,
            organization,
            user: None,
            scopes: Vec::new(),
        }
    }

    /// Who is acting.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// What they may do: the user's current role; `member` for
    /// organization-wide keys; `org_admin` for the system principal.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The organization every query of this request is scoped to.
    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// Its id.
    pub fn organization_id(&self) -> OrganizationId {
        self.organization.id
    }

    /// The acting user, if any (not for the system or organization-wide keys).
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The acting user's id, if any.
    pub fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().map(|u| u.id)
    }

    /// The API key's scopes (empty otherwise).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The refresh-token family of a token-authenticated user.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User { session_id, .. } => Some(session_id),
            _ => None,
        }
    }

    /// `jwt`, `api_key` or `none`.
    pub fn method(&self) -> &'static str {
        match self.actor {
            Actor::System => "none",
            Actor::User { .. } => "jwt",
            Actor::ApiKey { .. } => "api_key",
        }
    }

    /// Refuses API keys with 403 `forbidden`: whatever a key creates (a
    /// user, another key) would outlive the key's own revocation.
    pub(crate) fn refuse_api_key(&self, message: &'static str) -> Result<(), ApiError> {
        if matches!(self.actor, Actor::ApiKey { .. }) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message));
        }
        Ok(())
    }

    fn require(self, role: Role) -> Result<Self, ApiError> {
        if self.role.satisfies(role) {
            Ok(self)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this action needs the {} role", role.as_str()),
            ))
        }
    }
}

enum Credentials {
    None,
    Bearer(String),
    ApiKey(String),
}

fn credentials(headers: &HeaderMap, is_key: impl Fn(&str) -> bool) -> Credentials {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Credentials::ApiKey(key.trim().to_owned());
    }
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Credentials::None;
    };
    let Some((scheme, value)) = auth.trim().split_once(' ') else {
        return Credentials::Bearer(String::new());
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::Bearer(String::new());
    }
    let value = value.trim();
    if is_key(value) {
        Credentials::ApiKey(value.to_owned())
    } else {
        Credentials::Bearer(value.to_owned())
    }
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

pub(crate) fn authentication_required() -> ApiError {
    unauthorized(
        "authentication_required",
        "authentication required: send a bearer token or an API key",
    )
}

fn invalid_token() -> ApiError {
    unauthorized("invalid_token", "the access token is not valid")
}

fn invalid_key() -> ApiError {
    unauthorized("invalid_api_key", "the API key is not valid")
}

async fn from_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let auth = state.auth();
    let claims = auth
        .config
        .signer
        .verify_access(token)
        .map_err(|e| match e {
            TokenError::Expired => unauthorized("token_expired", "the access token has expired"),
            _ => invalid_token(),
        })?;
    let snap = match auth.cache.session(claims.user_id, claims.session_id) {
        Some(snap) => snap,
        None => {
            let snap = state
                .database()
                .access_snapshot(claims.user_id, claims.session_id)
                .await?
                .ok_or_else(invalid_token)?;
            let snap = Arc::new(snap);
            auth.cache
                .store_session(claims.user_id, claims.session_id, snap.clone());
            snap
        }
    };
    if !snap.session_active
        || !snap.user.is_active
        || !snap.organization.is_active
        || snap.user.organization_id != claims.organization_id
    {
        return Err(invalid_token());
    }
    Ok(Principal {
        actor: Actor::User {
            user_id: snap.user.id,
            session_id: claims.session_id,
        },
        // The role as it is now, not as it was when the token was issued.
        role: snap.user.role,
        organization: snap.organization.clone(),
        user: Some(snap.user.clone()),
        scopes: Vec::new(),
    })
}

async fn from_api_key(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let auth = state.auth();
    // Malformed or mistyped keys stop here, without a query.
    let hash = auth.config.api_keys.check(key).map_err(|_| invalid_key())?;
    let snap = match auth.cache.key(&hash) {
        Some(snap) => snap,
        None => {
            let snap = state
                .database()
                .api_key_snapshot(&hash)
                .await?
                .ok_or_else(invalid_key)?;
            // The index found it; compare the digests anyway, in constant time.
            if !curatore_auth::constant_time_eq(snap.key.key_hash.as_bytes(), hash.as_bytes()) {
                return Err(invalid_key());
            }
            let snap = Arc::new(snap);
            auth.cache.store_key(hash, snap.clone());
            snap
        }
    };
    let expired = snap
        .key
        .expires_at
        .is_some_and(|at| at <= chrono::Utc::now());
    let user_ok = snap.user.as_ref().is_none_or(|u| u.is_active);
    if !snap.key.is_active || expired || !user_ok || !snap.organization.is_active {
        return Err(invalid_key());
    }
    if auth.due_for_last_used(snap.key.id) {
        // Outside the request: a slow write never delays the answer.
        let db = state.database().clone();
        let id = snap.key.id;
        actix_web::rt::spawn(async move {
            if let Err(e) = db.api_keys().touch_last_used(id, chrono::Utc::now()).await {
                tracing::debug!(error = %e, "could not record API key use");
            }
        });
    }
    Ok(Principal {
        actor: Actor::ApiKey {
            key_id: snap.key.id,
            user_id: snap.user.as_ref().map(|u| u.id),
        },
        role: snap.user.as_ref().map_or(Role::Member, |u| u.role),
        organization: snap.organization.clone(),
        user: snap.user.clone(),
        scopes: snap.key.scopes.clone(),
    })
}

impl Principal {
    /// Resolves the caller of `req` (once per request; later extractors reuse it).
    pub(crate) async fn resolve(req: &HttpRequest) -> Result<Self, ApiError> {
        if let Some(p) = req.extensions().get::<Principal>() {
            return Ok(p.clone());
        }
        let state = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.get_ref().clone())
            .ok_or_else(|| {
                tracing::error!("AppState is not registered on the application");
                ApiError::internal()
            })?;
        let principal = if state.auth().config.enabled {
            let creds = credentials(req.headers(), |v| {
                state.auth().config.api_keys.looks_like_key(v)
            });
            match creds {
                Credentials::None => return Err(authentication_required()),
                Credentials::Bearer(token) => from_token(&state, &token).await?,
                Credentials::ApiKey(key) => from_api_key(&state, &key).await?,
            }
        } else {
            Principal::system(tenant::default_organization(&state).await?)
        };
        req.extensions_mut().insert(principal.clone());
        Ok(principal)
    }

    /// Like [`Principal::resolve`], but `None` when no credentials were sent
    /// (with authentication enabled); invalid credentials are still an error.
    pub(crate) async fn resolve_optional(req: &HttpRequest) -> Result<Option<Self>, ApiError> {
        let state_enabled = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.auth().config.enabled);
        let has_credentials = req.headers().contains_key("x-api-key")
            || req.headers().contains_key(header::AUTHORIZATION);
        if state_enabled && !has_credentials {
            return Ok(None);
        }
        Self::resolve(req).await.map(Some)
    }
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Principal::resolve(&req).await })
    }
}

macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Fut<Self>;

            fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move { Principal::resolve(&req).await?.require($role).map($name) })
            }
        }
    };
}

role_guard!(
    /// A caller with the `org_admin` role; anyone else gets a JSON 403.
    OrgAdmin,
    Role::OrgAdmin
);
role_guard!(
    /// A caller who may write: `member` or `org_admin`.
    Member,
    Role::Member
);
role_guard!(
    /// Any authenticated caller, `viewer` included.
    AnyRole,
    Role::Viewer
);
