//! Prometheus metrics: the recorder, the per-request measurements and
//! `GET /metrics`.
//!
//! Every layer records through the `metrics` facade (names in
//! `curatore_persistence::metrics`, `curatore_auth::passwords::metric`,
//! `curatore_service::metrics` and here); [`install`] puts one Prometheus
//! recorder behind the facade for the whole process, and `/metrics` renders
//! it. Each metric is described in `docs/metrics.md`.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use curatore_auth::constant_time_eq;
use curatore_service::ErrorCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Counter, by `method`, `route` and `status`: requests answered.
pub const HTTP_REQUESTS: &str = "curatore_http_requests_total";
/// Histogram, seconds, by `method`, `route` and `status`: time to answer.
pub const HTTP_DURATION: &str = "curatore_http_request_duration_seconds";
/// Gauge, by `state` (`idle`, `in_use`): pooled database connections.
pub const DB_POOL_CONNECTIONS: &str = "curatore_db_pool_connections";
/// Gauge: the most connections the pool may open.
pub const DB_POOL_MAX: &str = "curatore_db_pool_max_connections";
/// The `route` label of requests that matched no route: a fixed value, so
/// random paths cannot grow the label space.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Histogram buckets, in seconds, for every `_seconds` metric: 0.5 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder
/// (once; later calls return the same handle). If another recorder was
/// installed first, the handle renders nothing and a warning is logged.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("metrics histogram buckets rejected: {e}");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template and status class"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Pooled database connections, idle or in use"
    );
    describe_gauge!(
        DB_POOL_MAX,
        "The most connections the database pool may open"
    );
    describe_counter!(
        curatore_persistence::metrics::POOL_TIMEOUTS,
        "Requests for a database connection that timed out waiting"
    );
    describe_histogram!(
        curatore_persistence::metrics::WRITE_GATE_WAIT,
        Unit::Seconds,
        "Time a SQLite write waited for the write gate"
    );
    describe_counter!(
        curatore_persistence::metrics::AUDIT_ENTRIES,
        "Audit entries written"
    );
    describe_gauge!(
        curatore_auth::passwords::metric::QUEUE_DEPTH,
        "Password hashes and checks running or queued"
    );
    describe_histogram!(
        curatore_auth::passwords::metric::DURATION,
        Unit::Seconds,
        "Time one password hash or check took on its thread"
    );
    describe_counter!(
        curatore_auth::passwords::metric::REFUSED,
        "Password hashes and checks refused because the queue was full"
    );
    describe_counter!(
        curatore_service::metrics::LOGINS,
        "Login attempts by outcome (success, failure, locked_out, error)"
    );
    describe_counter!(
        curatore_service::metrics::REFRESH_REUSE,
        "Reuses of rotated refresh tokens detected (sessions ended)"
    );
    describe_gauge!(
        curatore_service::metrics::BACKUP_LAST_SUCCESS,
        "When the last backup succeeded, in seconds since the Unix epoch"
    );
    describe_gauge!(
        curatore_service::metrics::BACKUP_LAST_DURATION,
        Unit::Seconds,
        "How long the last successful backup took"
    );
    describe_gauge!(
        curatore_service::metrics::BACKUP_LAST_SIZE,
        Unit::Bytes,
        "The size of the last successful backup's archive"
    );
    describe_counter!(
        curatore_service::metrics::BACKUP_FAILURES,
        "Backups that failed, by reason (disk_full, permission, error)"
    );
    describe_counter!(
        crate::rate_limit::REJECTED,
        "Requests refused by the request rate limits, by route class"
    );
}

/// Records one answered request. `route` is the matched route template
/// (`/api/v1/api-keys/{key_id}`), never the raw path.
pub(crate) fn record_request(
    method: &Method,
    route: Option<String>,
    status: StatusCode,
    took: Duration,
) {
    let class = match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let route = route.unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let method = method_label(method);
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", class.to_owned()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(took.as_secs_f64());
}

/// The method as a label; unusual ones share one value.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").get(scrape));
}

/// `GET /metrics`: the Prometheus text format. With `METRICS_TOKEN` set,
/// only `Authorization: Bearer <token>` may read it.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    security((), ("metrics_token" = [])),
    responses((status = 200, description = "The Prometheus text format", content_type = "text/plain", body = String)))]
async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(token) = state.metrics_token() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes()) {
            return Err(ApiError::new(
                ErrorCode::AuthenticationRequired,
                "the metrics need the METRICS_TOKEN as a bearer token",
            ));
        }
    }
    let pool = state.services().pool_status();
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(pool.in_use));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.open - pool.in_use));
    metrics::gauge!(DB_POOL_MAX).set(f64::from(pool.max));
    let handle = install();
    handle.run_upkeep();
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(handle.render()))
}
