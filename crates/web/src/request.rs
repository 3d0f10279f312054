//! Per-request plumbing: the request id, the access log line, the body
//! deadline, and turning actix's own plain-text or empty error responses into
//! the JSON shape.

use crate::ErrorCode;
use crate::body_deadline::{self, BodyTimeout};
use crate::error::ApiError;
use crate::state::DEFAULT_REQUEST_TIMEOUT;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use std::future::{Ready, ready};
use std::time::Instant;
use tracing::Instrument;

/// The header that carries the request id both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request: the caller's `x-request-id` when it is
/// sane (1–128 visible ASCII characters), otherwise a fresh UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_request(req: &ServiceRequest) -> Self {
        req.headers()
            .get(&REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
            .map_or_else(Self::fresh, |v| Self(v.to_owned()))
    }

    /// A random UUIDv4 from the thread's generator (a CSPRNG seeded by the
    /// system), not one system call per request.
    fn fresh() -> Self {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        Self(id.hyphenated().to_string())
    }
}

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::fresh)))
    }
}

/// Middleware: request id in, request id out, one log line per request, JSON
/// errors only, and a deadline for the request body
/// ([`crate::AppState::with_request_timeout`]; a late body is answered 408
/// `request_timeout` and the connection closed). Wrap the whole application
/// in it (see [`crate::app`]).
pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let timeout = req
        .app_data::<BodyTimeout>()
        .map_or(DEFAULT_REQUEST_TIMEOUT, |t| t.0);
    let body_expired = body_deadline::apply(&mut req, timeout);
    let id = RequestId::from_request(&req);
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id.as_str(),
        method = %req.method(),
        path = %req.path(),
    );
    // Routing needs sole ownership of the request, so it is not cloned here;
    // inner services answer errors as responses, an `Err` only comes from a
    // broken middleware and is passed on as is.
    let res = next.call(req).instrument(span.clone()).await?;
    let mut res = if body_expired.is_some_and(|e| e.get()) {
        body_timed_out(res.map_into_boxed_body(), timeout)
    } else {
        json_errors_only(res.map_into_boxed_body())
    };
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let took = started.elapsed();
    crate::metrics::record_request(
        res.request().method(),
        res.request().match_pattern(),
        res.status(),
        took,
    );
    let status = res.status().as_u16();
    let elapsed_ms = took.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request served");
        }
    });
    Ok(res)
}

/// The answer to a request whose body missed its deadline, whatever the
/// handler made of the failed read: 408 in the JSON shape, and the connection
/// closed, since the rest of the body may still be on its way.
fn body_timed_out(
    res: ServiceResponse<BoxBody>,
    timeout: std::time::Duration,
) -> ServiceResponse<BoxBody> {
    let err = ApiError::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request body did not arrive within {} s",
            timeout.as_secs_f64()
        ),
    );
    let mut answer = HttpResponse::build(StatusCode::REQUEST_TIMEOUT)
        .force_close()
        .content_type("application/json")
        .body(ApiError::body(err.code(), err.message()));
    // The browser must still be allowed to read it.
    for (name, value) in res.headers() {
        if name.as_str().starts_with("access-control-") || name == header::VARY {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    res.into_response(answer)
}

/// Replaces any error response that is not already JSON (actix's 404 for
/// unknown routes, 405 for wrong methods, plain-text extractor errors) with
/// the JSON shape, keeping the status and headers.
fn json_errors_only(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // HTML pages (the console's) carry their own error page.
    let is_page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_json || is_page {
        return res;
    }
    let (code, message) = generic_error(status);
    res.map_body(|head, _| {
        head.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        head.headers.remove(header::CONTENT_LENGTH);
        BoxBody::new(ApiError::body(code, message))
    })
}

/// The code and message for a status that came without our JSON body.
fn generic_error(status: StatusCode) -> (ErrorCode, &'static str) {
    match status {
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this method is not allowed on this resource",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::RequestTimeout,
            "the request took too long to arrive",
        ),
        StatusCode::SERVICE_UNAVAILABLE => {
            (ErrorCode::ServiceUnavailable, "the service is unavailable")
        }
        s if s.is_client_error() => (ErrorCode::BadRequest, "the request is not valid"),
        _ => (ErrorCode::InternalError, "an internal error occurred"),
    }
}

/// Builds the JSON 404 for routes that do not exist.
pub(crate) async fn unknown_route() -> HttpResponse {
    ApiError::not_found("no such resource").into()
}

impl From<ApiError> for HttpResponse {
    fn from(err: ApiError) -> Self {
        actix_web::ResponseError::error_response(&err)
    }
}
