//! Curatore's HTTP API as a library: mount it in any actix-web server.
//!
//! ```
//! use actix_web::test;
//! # actix_web::rt::System::new().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("sqlite://{}/doc.db", dir.path().display());
//! # let (services, _operator) = curatore_service::testing::seeded(&url, "docs").await;
//! let state = curatore_web::AppState::from_services(services);
//! // In a server: `HttpServer::new(move || curatore_web::app(state.clone()))`.
//! let app = test::init_service(curatore_web::app(state)).await;
//! let req = test::TestRequest::get().uri("/api/v1/users").to_request();
//! let res = test::call_service(&app, req).await;
//! assert_eq!(res.status(), 401);
//! let body: serde_json::Value = test::read_body_json(res).await;
//! assert_eq!(body["error"]["code"], "authentication_required");
//! # });
//! ```
//!
//! `curatore_server::Curatore::build` makes the services and this state from
//! the settings, and serves them; start there unless you need less.
//!
//! Every failure, including actix's own (unknown route, wrong method, bad
//! JSON, oversized body, bad path or query), answers
//! `{"error": {"code": "...", "message": "..."}, "detail": "..."}` (`detail`
//! repeats the message, for clients of the original); every response carries
//! `x-request-id`, and every response to an allowed browser origin the CORS
//! headers ([`CorsPolicy`]).
//!
//! Features (all on by default): `sqlite` and `postgres`, the engines;
//! `openapi`, the `/openapi.json` document (module `openapi`); `swagger-ui`,
//! the `/docs` page over it.

mod alias;
pub mod auth;
mod body_deadline;
pub mod client;
mod cors;
mod dto;
mod error;
mod input;
pub mod metrics;
#[cfg(feature = "openapi")]
pub mod openapi;
mod rate_limit;
mod request;
mod routes;
mod state;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]
mod testing;

pub use alias::deprecated_alias;
pub use auth::{
    Actor, AnyRole, AuthConfig, Caller, LoginLimits, Member, OrgAdmin, Principal,
    RegistrationLimits,
};
pub use cors::CorsPolicy;
pub use curatore_service::{DefaultOrganization, RequestContext, Services};
pub use error::{ApiError, ErrorCode, wire};
pub use input::BODY_LIMIT_BYTES;
pub use rate_limit::{ClassLimits, RateLimits, rate_limit};
pub use request::{REQUEST_ID_HEADER, RequestId, request_context};
pub use routes::audit_export::export_response as audit_export_response;
pub use routes::audit_logs::audit_query;
pub use routes::health::VERSION;
pub use state::{AppState, DEFAULT_REQUEST_TIMEOUT, HealthDetails};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};

/// Registers the state, the input limits and every route on `cfg`, without
/// the middleware. [`app_with`] adds your routes beside ours with the
/// middleware in the right order; use this only to build that order
/// yourself (see [`app_with`]'s source). Call it on the `App` itself, not
/// inside a scope, so that [`request_context`] finds the body deadline.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(body_deadline::BodyTimeout(state.request_timeout()))
            .app_data(web::Data::new(state))
            .app_data(input::json_config())
            .app_data(input::payload_config())
            .app_data(input::path_config())
            .app_data(input::query_config())
            // The router tries resources in this order, and each pattern
            // with a `{segment}` costs a regex match on the way (~5,000
            // instructions), so groups whose paths are all fixed come
            // first and `/auth/me` is reached without any. The groups'
            // paths do not overlap, so the order changes nothing else.
            .configure(routes::health::routes)
            .configure(routes::component_health::routes)
            .configure(metrics::routes)
            .configure(routes::auth::routes)
            .configure(routes::settings::routes)
            .configure(routes::audit_logs::routes)
            .configure(routes::audit_export::routes)
            .configure(routes::api_keys::routes)
            .configure(routes::connections::routes)
            .configure(routes::organizations::routes)
            .configure(routes::users::routes)
            .configure(routes::ui_users::routes);
        #[cfg(feature = "openapi")]
        cfg.configure(openapi::routes);
    }
}

/// The complete application: routes, JSON 404 for unknown paths, CORS,
/// request ids and access logging.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_with(state, |_| {})
}

/// [`app`] with routes of your own beside ours: `routes` registers them, and
/// they pass through the same middleware, in the same order (request
/// context, the `/api` alias, CORS, the rate limits), so their callers get
/// request ids, JSON errors, CORS headers and limits like ours. Their
/// handlers take [`Caller`] (or [`OrgAdmin`], [`Member`], [`AnyRole`]) and
/// `web::Data<AppState>` like ours.
pub fn app_with(
    state: AppState,
    routes: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let cors = state.cors().middleware();
    // CORS inside request_context: its refusals get the JSON shape, and every
    // answer of the application, errors included, passes through it.
    App::new()
        .configure(configure(state))
        .configure(routes)
        .default_service(web::to(request::unknown_route))
        // Innermost first: the rate limit's 429s pass through CORS, so a
        // browser can read them.
        .wrap(actix_web::middleware::from_fn(rate_limit::rate_limit))
        .wrap(cors)
        .wrap(actix_web::middleware::from_fn(alias::deprecated_alias))
        .wrap(actix_web::middleware::from_fn(request_context))
}
