//! Curatore's administration console: HTML pages under `/console`, served
//! by the server itself over the same services as the API, so every action
//! has the same rules and leaves the same audit entries.
//!
//! ```no_run
//! # async fn demo(services: curatore_service::Services) -> std::io::Result<()> {
//! let console = curatore_console::Console::new(services.clone(), b"a key of 32 bytes or more, random");
//! let state = curatore_web::AppState::from_services(services);
//! actix_web::HttpServer::new(move || curatore_web::app_with(state.clone(), console.routes()))
//!     .bind(("127.0.0.1", 8000))?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! Templates are compiled in (askama, checked at compile time), htmx is
//! vendored (`assets/htmx.min.js`, `scripts/vendor-htmx.sh` re-fetches and
//! verifies it) and progressively enhances plain links and forms: every page
//! reads, and every main form posts, without JavaScript.
//!
//! The session is a cookie (HttpOnly, `SameSite=Strict`, host-only, `Secure`
//! behind HTTPS) holding the refresh token, an opaque reference to the
//! server-side session: the access token never reaches the browser. Every
//! state-changing request carries a synchronizer CSRF token derived from the
//! session, and cross-site posts are refused before they reach a handler.

mod assets;
mod errors;
mod forms;
mod guard;
mod layout;
mod pages;
mod session;

use actix_web::web;
use curatore_service::Services;
use std::sync::Arc;

pub use session::SESSION_COOKIE;

/// The console: the services it acts through, and the key its CSRF tokens
/// are derived with. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    services: Services,
    csrf_key: Vec<u8>,
    sessions: session::SessionCache,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// A console over `services`. `key` derives the CSRF tokens; instances
    /// serving the same users must share it (the server derives it from
    /// `JWT_SECRET_KEY`).
    pub fn new(services: Services, key: &[u8]) -> Self {
        Self {
            inner: Arc::new(Inner {
                services,
                csrf_key: key.to_vec(),
                sessions: session::SessionCache::default(),
            }),
        }
    }

    pub(crate) fn services(&self) -> &Services {
        &self.inner.services
    }

    pub(crate) fn sessions(&self) -> &session::SessionCache {
        &self.inner.sessions
    }

    pub(crate) fn csrf_key(&self) -> &[u8] {
        &self.inner.csrf_key
    }

    /// Registers `/` (a redirect) and everything under `/console`; pass it
    /// to `curatore_web::app_with`.
    pub fn routes(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + use<> {
        let console = self.clone();
        move |cfg: &mut web::ServiceConfig| pages::configure(cfg, console.clone())
    }
}
