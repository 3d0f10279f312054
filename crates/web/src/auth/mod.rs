//! Who the caller is, resolved once per request.
//!
//! Credentials are a JWT access token (`Authorization: Bearer <jwt>`) or an
//! API key (`X-API-Key: <key>`, or `Authorization: Bearer cur_…`). With
//! authentication disabled every request is the system principal of the
//! default organization, so handlers never branch on the mode. What a caller
//! may do is decided by the services, not here.

use crate::client;
use crate::error::ApiError;
use crate::request::RequestId;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use curatore_domain::Role;
use curatore_service::{Client, Credentials, RequestContext};
use std::future::Future;
use std::pin::Pin;

pub use curatore_service::{Actor, AuthConfig, LoginLimits, Principal, RegistrationLimits};

/// `X-API-Key`, as a ready header name (a `&str` is parsed on every lookup).
pub(crate) const X_API_KEY: header::HeaderName = header::HeaderName::from_static("x-api-key");

fn credentials(headers: &HeaderMap, is_key: impl Fn(&str) -> bool) -> Credentials {
    if let Some(key) = headers.get(X_API_KEY).and_then(|v| v.to_str().ok()) {
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

pub(crate) fn state_of(req: &HttpRequest) -> Result<AppState, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|s| s.get_ref().clone())
        .ok_or_else(|| {
            tracing::error!("AppState is not registered on the application");
            ApiError::internal()
        })
}

/// Where the request comes from: request id, client address (after trusted
/// proxies), user agent.
pub(crate) fn client_of(req: &HttpRequest, state: &AppState) -> Client {
    Client {
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.as_str().to_owned()),
        ip: client::client_ip(req, state.services().trusted_proxies()),
        user_agent: client::user_agent(req),
    }
}

/// Resolves the caller of `req` (once per request; later extractors reuse
/// it). A caller who must change a temporary password is refused.
pub(crate) async fn resolve(req: &HttpRequest) -> Result<RequestContext, ApiError> {
    let ctx = resolve_pending(req).await?;
    ctx.principal().refuse_pending_password_change()?;
    Ok(ctx)
}

/// Like [`resolve`], but lets through a caller who must change a temporary
/// password: for change-password and logout only.
pub(crate) async fn resolve_pending(req: &HttpRequest) -> Result<RequestContext, ApiError> {
    resolve_with(req, RequestContext::clone).await
}

/// Resolves the caller of `req` (once per request, kept on the request) and
/// answers what `read` takes from it, without cloning the whole context. A
/// caller with a pending password change is not refused here: callers that
/// act for them use [`resolve`].
pub(crate) async fn resolve_with<T>(
    req: &HttpRequest,
    read: impl FnOnce(&RequestContext) -> T,
) -> Result<T, ApiError> {
    if let Some(ctx) = req.extensions().get::<RequestContext>() {
        return Ok(read(ctx));
    }
    let state = state_of(req)?;
    let services = state.services();
    let creds = credentials(req.headers(), |v| services.looks_like_api_key(v));
    let ctx = services
        .authenticate_pending(creds, client_of(req, &state))
        .await?;
    let answer = read(&ctx);
    req.extensions_mut().insert(ctx);
    Ok(answer)
}

/// Like [`resolve`], but `None` when authentication is enabled and no
/// credentials were sent; invalid credentials are still an error.
pub(crate) async fn resolve_optional(
    req: &HttpRequest,
) -> Result<Option<RequestContext>, ApiError> {
    let enabled = state_of(req)?.services().auth_enabled();
    let has_credentials =
        req.headers().contains_key(X_API_KEY) || req.headers().contains_key(header::AUTHORIZATION);
    if enabled && !has_credentials {
        return Ok(None);
    }
    resolve(req).await.map(Some)
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// The authenticated caller and where the request comes from. A request
/// without valid credentials gets a JSON 401.
#[derive(Debug, Clone)]
pub struct Caller(pub RequestContext);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(&req).await.map(Caller) })
    }
}

macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub RequestContext);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Fut<Self>;

            fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let ctx = resolve(&req).await?;
                    ctx.principal().require_role($role)?;
                    Ok($name(ctx))
                })
            }
        }
    };
}

role_guard!(
    /// For your own handlers: a caller with the `org_admin` role; anyone
    /// else gets a JSON 403.
    OrgAdmin,
    Role::OrgAdmin
);
role_guard!(
    /// For your own handlers: a caller who may write (`member` or `org_admin`).
    Member,
    Role::Member
);
role_guard!(
    /// For your own handlers: any authenticated caller, `viewer` included.
    AnyRole,
    Role::Viewer
);
