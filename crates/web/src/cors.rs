//! Cross-origin requests: which browser origins may call the API, and the
//! `actix-cors` middleware that answers their preflights and marks every
//! answer (errors included) for them.

use actix_cors::Cors;
use actix_web::http::Method;
use actix_web::http::header::RETRY_AFTER;
use std::collections::HashSet;
use std::sync::Arc;

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE_SECONDS: usize = 600;

/// The pattern `DEBUG` adds: any localhost origin, any scheme and port.
const DEBUG_LOCALHOST: &str = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$";

/// Which origins may call the API from a browser. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    inner: Arc<Origins>,
}

#[derive(Debug)]
struct Origins {
    listed: HashSet<String>,
    any: bool,
    patterns: Vec<regex::Regex>,
}

impl CorsPolicy {
    /// The listed `origins` (exact, `*` for any), those matching
    /// `origin_regex` as a whole, and with `debug` any localhost origin.
    ///
    /// # Errors
    /// When `origin_regex` does not compile.
    pub fn new(
        origins: &[String],
        origin_regex: Option<&str>,
        debug: bool,
    ) -> Result<Self, regex::Error> {
        let mut patterns = Vec::new();
        if let Some(pattern) = origin_regex.filter(|p| !p.is_empty()) {
            // Matched as a whole, as the original's framework did.
            patterns.push(regex::Regex::new(&format!("^(?:{pattern})$"))?);
        }
        if debug {
            patterns.push(regex::Regex::new(DEBUG_LOCALHOST)?);
        }
        Ok(Self {
            inner: Arc::new(Origins {
                any: origins.iter().any(|o| o == "*"),
                listed: origins
                    .iter()
                    .map(|o| o.trim_end_matches('/').to_owned())
                    .collect(),
                patterns,
            }),
        })
    }

    /// Whether a browser at `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        let o = &self.inner;
        o.any || o.listed.contains(origin) || o.patterns.iter().any(|p| p.is_match(origin))
    }

    /// The middleware for this policy. Wrap the application in it inside
    /// [`crate::request_context`] (see [`crate::app`]), so its own refusals
    /// get the JSON shape and every response of the application passes
    /// through it.
    pub fn middleware(&self) -> Cors {
        let policy = self.clone();
        Cors::default()
            .allowed_origin_fn(move |origin, _| origin.to_str().is_ok_and(|o| policy.allows(o)))
            .allowed_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_any_header()
            .supports_credentials()
            .expose_headers([crate::REQUEST_ID_HEADER, RETRY_AFTER])
            .max_age(PREFLIGHT_MAX_AGE_SECONDS)
            // Another origin's request is served without CORS headers (the
            // browser then hides the answer), not refused: same-origin tools
            // and servers that send an Origin keep working.
            .block_on_origin_mismatch(false)
    }
}

impl Default for CorsPolicy {
    /// The original's defaults: its UI on port 3000, and any localhost port.
    fn default() -> Self {
        let origins = ["http://localhost:3000", "http://127.0.0.1:3000"].map(str::to_owned);
        let pattern = r"^http://(localhost|127\.0\.0\.1)(:\d+)?$";
        Self::new(&origins, Some(pattern), false)
            .unwrap_or_else(|_| unreachable!("the built-in pattern compiles"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_origins_match_exactly_and_patterns_as_a_whole() {
        let p = CorsPolicy::new(
            &["https://ui.example.com".to_owned()],
            Some("https://.*\\.test"),
            false,
        )
        .unwrap();
        assert!(p.allows("https://ui.example.com"));
        assert!(!p.allows("https://ui.example.com.evil.org"));
        assert!(p.allows("https://a.test"));
        assert!(
            !p.allows("https://a.test.evil.org"),
            "anchored at the end too"
        );
        assert!(!p.allows("http://localhost:3000"));
    }

    #[test]
    fn the_defaults_allow_localhost_over_http_only() {
        let p = CorsPolicy::default();
        assert!(p.allows("http://localhost:3000"));
        assert!(p.allows("http://127.0.0.1:5173"));
        assert!(!p.allows("https://localhost:3000"));
        assert!(!p.allows("http://localhost.evil.org"));
    }

    #[test]
    fn debug_widens_to_any_localhost_and_star_to_anything() {
        let p = CorsPolicy::new(&[], None, true).unwrap();
        assert!(p.allows("https://localhost:8443"));
        assert!(p.allows("http://[::1]:3000"));
        assert!(!p.allows("http://example.com"));
        let nothing = CorsPolicy::new(&[], None, false).unwrap();
        assert!(!nothing.allows("http://localhost:3000"));
        let any = CorsPolicy::new(&["*".to_owned()], None, false).unwrap();
        assert!(any.allows("https://example.com"));
    }

    #[actix_web::test]
    async fn the_app_answers_preflights_unauthenticated_and_marks_its_errors() {
        use actix_web::test::{TestRequest, call_service, init_service, read_body_json};
        let (_db, state) = crate::testing::state().await;
        let app = init_service(crate::app(state)).await;
        let ui = "http://localhost:3000";
        let preflight = TestRequest::default()
            .method(Method::OPTIONS)
            .uri("/api/v1/users")
            .insert_header(("origin", ui))
            .insert_header(("access-control-request-method", "GET"))
            .insert_header(("access-control-request-headers", "authorization"))
            .to_request();
        let res = call_service(&app, preflight).await;
        assert_eq!(res.status(), 200, "no credentials needed");
        assert_eq!(
            res.headers().get("access-control-allow-origin").unwrap(),
            ui
        );
        for (path, status) in [("/api/v1/users", 401), ("/api/v1/nowhere", 404)] {
            let req = TestRequest::get()
                .uri(path)
                .insert_header(("origin", ui))
                .to_request();
            let res = call_service(&app, req).await;
            assert_eq!(res.status(), status);
            assert_eq!(
                res.headers().get("access-control-allow-origin").unwrap(),
                ui
            );
            assert_eq!(
                res.headers()
                    .get("access-control-allow-credentials")
                    .unwrap(),
                "true"
            );
            let body: serde_json::Value = read_body_json(res).await;
            assert_eq!(body["detail"], body["error"]["message"], "{body}");
        }
    }
}
