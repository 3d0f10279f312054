//! The Python system's deprecated prefix: every `/api/v1/…` route is also
//! served under `/api/…`, answered with `Deprecation: true` and a `Link` to
//! the `/api/v1` path (`rel="successor-version"`), so old clients keep
//! working while they move.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::http::header::{HeaderName, HeaderValue, LINK};
use actix_web::middleware::Next;

/// The current prefix, and the deprecated one it replaces.
const CURRENT: &str = "/api/v1/";
const DEPRECATED: &str = "/api/";

const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");

/// The `/api/v1` path for a deprecated `/api/…` path, or `None` when `path`
/// is not one.
fn successor(path: &str) -> Option<String> {
    let rest = path.strip_prefix(DEPRECATED)?;
    if rest.is_empty() || rest == "v1" || rest.starts_with("v1/") {
        return None;
    }
    Some(format!("{CURRENT}{rest}"))
}

/// Middleware: routes `/api/…` as `/api/v1/…` and marks the answer
/// deprecated. Wrap it outside [`crate::rate_limit`] and inside
/// [`crate::request_context`] (as [`crate::app`] does).
pub async fn deprecated_alias(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(path) = successor(req.path()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let path_and_query = match req.query_string() {
        "" => path.clone(),
        query => format!("{path}?{query}"),
    };
    let (Ok(uri), Ok(link)) = (
        path_and_query.parse::<Uri>(),
        HeaderValue::from_str(&format!("<{path}>; rel=\"successor-version\"")),
    ) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    let mut res = next.call(req).await?.map_into_boxed_body();
    res.headers_mut()
        .insert(DEPRECATION, HeaderValue::from_static("true"));
    res.headers_mut().insert(LINK, link);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::successor;
    use crate::testing::{PASSWORD, state};
    use actix_web::test as web_test;
    use serde_json::{Value, json};

    #[actix_web::test]
    async fn every_api_v1_route_answers_under_api_with_deprecation_headers() {
        let (_db, state) = state().await;
        let app = web_test::init_service(crate::app(state)).await;
        let login = web_test::TestRequest::post()
            .uri("/api/auth/login")
            .set_json(json!({"email_or_username": "admin", "password": PASSWORD}))
            .to_request();
        let res = web_test::call_service(&app, login).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers().get("deprecation").unwrap(), "true");
        assert_eq!(
            res.headers().get("link").unwrap(),
            r#"</api/v1/auth/login>; rel="successor-version""#
        );
        let body: Value = web_test::read_body_json(res).await;
        let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());

        // Path parameters and query strings come along.
        let me = web_test::TestRequest::get()
            .uri("/api/audit-logs?limit=1")
            .insert_header(("authorization", bearer.as_str()))
            .to_request();
        let res = web_test::call_service(&app, me).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get("link").unwrap(),
            r#"</api/v1/audit-logs>; rel="successor-version""#
        );
        let body: Value = web_test::read_body_json(res).await;
        assert!(body.is_object(), "{body}");

        // Errors are deprecated too, in the one JSON shape.
        let missing = web_test::TestRequest::get()
            .uri("/api/no-such-thing")
            .to_request();
        let res = web_test::call_service(&app, missing).await;
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers().get("deprecation").unwrap(), "true");

        // The current prefix is not deprecated.
        let current = web_test::TestRequest::get()
            .uri("/api/v1/auth/me")
            .insert_header(("authorization", bearer.as_str()))
            .to_request();
        let res = web_test::call_service(&app, current).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("deprecation").is_none());
        assert!(res.headers().get("link").is_none());
    }

    #[test]
    fn only_paths_under_api_but_not_api_v1_have_a_successor() {
        assert_eq!(
            successor("/api/auth/me").as_deref(),
            Some("/api/v1/auth/me")
        );
        assert_eq!(
            successor("/api/api-keys/1f0c").as_deref(),
            Some("/api/v1/api-keys/1f0c")
        );
        assert_eq!(successor("/api/v1/auth/me"), None);
        assert_eq!(successor("/api/v1"), None);
        assert_eq!(successor("/api/"), None);
        assert_eq!(successor("/livez"), None);
        assert_eq!(successor("/apix/auth"), None);
    }
}
