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
//! ```no_run
//! use actix_web::{HttpResponse, web};
//! use curatore_web::{AppState, Caller};
//!
//! async fn hello(state: web::Data<AppState>, Caller(ctx): Caller) -> HttpResponse {
//!     let llm = state.services().connections(&ctx).active("llm").await;
//!     HttpResponse::Ok().body(format!("{}", llm.is_ok()))
//! }
//!
//! # async fn run() -> Result<(), curatore_server::StartError> {
//! let settings = curatore_config::Settings::load()?.settings;
//! curatore_server::Curatore::build(&settings)
//!     .await?
//!     .serve_with(|cfg| {
//!         cfg.route("/hello", web::get().to(hello));
//!     })
//!     .await
//! # }
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
