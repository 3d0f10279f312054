//! Curatore as a library: the one start-up path from settings to a running
//! system, used by the `curatore-server` binary, by our tests, and by every
//! service that embeds Curatore.
//!
//! [`Curatore::build`] connects, migrates (adopting a database of the
//! original), seeds, opens the secrets key and builds the services, their
//! [`curatore_service::Operator`] and the web state, all from one
//! [`curatore_config::Settings`]. [`Curatore::serve_with`] serves our API
//! with routes of your own beside it, behind the same middleware.
//! [`from_settings`] holds each mapping from settings to a layer's
//! configuration, for callers that build part of the system themselves;
//! [`commands`] the operator's commands the binary runs.
//!
//! Features (all on by default): `sqlite` and `postgres`, the engines
//! (`backup` is SQLite's); `openapi` and `swagger-ui`, `/openapi.json` and
//! `/docs`; `cli`, the `curatore-server` binary's command line. An embedder
//! on one engine writes `default-features = false, features = ["sqlite"]`.
//!
//! ```
//! use actix_web::{HttpResponse, test, web};
//! use curatore_web::{AppState, Caller};
//!
//! // A route of your own behind our authentication: `Caller` is the proof.
//! async fn hello(state: web::Data<AppState>, Caller(ctx): Caller) -> HttpResponse {
//!     let llm = state.services().connections(&ctx).active("llm").await;
//!     HttpResponse::Ok().body(format!("llm configured: {}", matches!(llm, Ok(Some(_)))))
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! let settings = curatore_config::Settings {
//!     database_url: curatore_domain::DatabaseUrl::parse(
//!         &format!("sqlite://{}/curatore.db", dir.path().display()),
//!     )?,
//!     enable_auth: true,
//!     jwt_secret_key: curatore_domain::Secret::new("a-signing-key-of-at-least-32-bytes!!"),
//!     ..curatore_config::Settings::default()
//! };
//! let curatore = curatore_server::Curatore::build(&settings).await?;
//! // `curatore.serve_with(|cfg| { cfg.route("/hello", web::get().to(hello)); })`
//! // serves until a signal; here the same application answers one request.
//! let app = test::init_service(curatore_web::app_with(curatore.web_state().clone(), |cfg| {
//!     cfg.route("/hello", web::get().to(hello));
//! }))
//! .await;
//! let res = test::call_service(&app, test::TestRequest::get().uri("/hello").to_request()).await;
//! assert_eq!(res.status(), 401, "our authentication guards your route");
//! // (With `ENABLE_AUTH=false`, the default, every caller is the default
//! // organization's system principal and this answers 200.)
//! # drop(app);
//! curatore.close().await;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

mod adoption;
#[cfg(feature = "sqlite")]
pub mod backup;
pub mod commands;
mod curatore;
mod error;
pub mod from_settings;
pub mod logging;
mod open_files;
mod secrets;

pub use curatore::Curatore;
pub use error::StartError;
