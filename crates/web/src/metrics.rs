//! Prometheus metrics: the recorder, the per-request measurements and
//! `GET /metrics`.
//!
//! Every layer records through the `metrics` facade (names in
//! `curatore_persistence::metrics`, `curatore_auth::passwords::metric`,
//! `curatore_service::metrics` and here); [`install`] puts one Prometheus
//! recorder behind the facade for the whole process, and `/metrics` renders
//! it. Each metric is described in `docs/metrics.md`.

use crate::ErrorCode;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use curatore_auth::constant_time_eq;
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
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder keeps every histogram sample (8 bytes each) until upkeep
/// folds it into the buckets; left to scrapes alone, a server nobody
/// scrapes grew by ~8 bytes a request (hundreds of KB a second under load)
/// for as long as it ran. A thread of its own, so it runs under any runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("curatore-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(
            "cannot start the metrics upkeep thread; histograms are folded on scrape only: {e}"
        );
    }
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
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    };
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    let method = method_index(method);
    let seconds = took.as_secs_f64();
    if HANDLE.get().is_none() {
        // No recorder of ours (yet): nothing worth keeping handles to.
        let (counter, histogram) = request_handles(method, class, route);
        counter.increment(1);
        histogram.record(seconds);
        return;
    }
    REQUEST_HANDLES.with_borrow_mut(|routes| {
        let slots = match routes.get_mut(route) {
            Some(slots) => slots,
            None => routes.entry(Box::from(route)).or_default(),
        };
        let (counter, histogram) =
            slots[method][class].get_or_insert_with(|| request_handles(method, class, route));
        counter.increment(1);
        histogram.record(seconds);
    });
}

/// The labels' values, by index.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other",
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn request_handles(
    method: usize,
    class: usize,
    route: &str,
) -> (metrics::Counter, metrics::Histogram) {
    let labels = [
        ("method", METHODS[method].to_owned()),
        ("route", route.to_owned()),
        ("status", CLASSES[class].to_owned()),
    ];
    (
        metrics::counter!(HTTP_REQUESTS, &labels),
        metrics::histogram!(HTTP_DURATION, &labels),
    )
}

type Slots = [[Option<(metrics::Counter, metrics::Histogram)>; 5]; 8];

thread_local! {
    /// A worker thread's handles to the request counter and histogram of
    /// each route template, method and status class it has answered, so a
    /// request costs two atomic updates instead of building and looking up
    /// two labelled keys (a sixth of `/livez`'s instructions). Routes are
    /// templates, so the map stays as small as the API.
    static REQUEST_HANDLES: std::cell::RefCell<std::collections::HashMap<Box<str>, Slots>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The method as a label index; unusual ones share one value.
fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").get(scrape));
}

/// `GET /metrics`: the Prometheus text format. With `METRICS_TOKEN` set,
/// only `Authorization: Bearer <token>` may read it.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics", tag = "metrics",
    security((), ("metrics_token" = [])),
    responses((status = 200, description = "The Prometheus text format", content_type = "text/plain", body = String))))]
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
