//! Request rate limits: fixed windows per client address and per principal
//! (user or API key), by route class, in process.
//!
//! Each request is counted against its client address (an IPv6 client's
//! network, `RATE_LIMIT_IPV6_PREFIX`) first (before any
//! credentials are checked, so a flood of bad tokens is bounded too), then,
//! with authentication enabled and credentials sent, against its user or API
//! key. The answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (seconds until the window ends) of the tightest
//! budget; a request over a budget is answered 429 `rate_limited` with
//! `Retry-After`. Health, `/livez`, `/readyz`, `/metrics`, `/docs` and
//! `/openapi.json` are never limited. A limit of 0 means no limit.
//!
//! Like the login limiter, the counts live in this process: behind a load
//! balancer each process keeps its own.

use crate::auth;
use crate::client;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use curatore_service::{Actor, RequestContext};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Counter, by `class`: requests refused with 429 `rate_limited`.
pub const REJECTED: &str = "curatore_rate_limited_total";

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Budgets of one kind of caller per route class, per window (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassLimits {
    /// `POST` to `/auth/…` (login, refresh, register, logout).
    pub auth: u32,
    /// `GET`, `HEAD` and `OPTIONS`.
    pub read: u32,
    /// Every other method.
    pub write: u32,
}

impl ClassLimits {
    fn of(&self, class: RouteClass) -> u32 {
        match class {
            RouteClass::Auth => self.auth,
            RouteClass::Read => self.read,
            RouteClass::Write => self.write,
        }
    }
}

/// The request rate limits (`RATE_LIMIT_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// The length of one window; counts start again at each multiple of it.
    pub window: Duration,
    /// Per client address (after trusted proxies), whoever the caller is.
    pub per_ip: ClassLimits,
    /// Per user signed in with an access token.
    pub per_user: ClassLimits,
    /// Per API key.
    pub per_api_key: ClassLimits,
}

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RouteClass {
    Auth,
    Read,
    Write,
}

impl RouteClass {
    fn of(method: &Method, path: &str) -> Self {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            Self::Read
        } else if path.contains("/auth/") {
            Self::Auth
        } else {
            Self::Write
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// Whose budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bucket {
    Ip(IpAddr),
    User(Uuid),
    ApiKey(Uuid),
}

/// What one budget says to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    limit: u32,
    remaining: u32,
    reset: Duration,
    allowed: bool,
}

impl Verdict {
    /// The one to report: a refusal first, else the fewest remaining.
    fn tighter(self, other: Self) -> Self {
        match (self.allowed, other.allowed) {
            (true, false) => other,
            (false, true) => self,
            _ if other.remaining < self.remaining => other,
            _ => self,
        }
    }
}

/// Beyond this many keys in a shard, keys of past windows are swept on insert.
const SWEEP_ABOVE: usize = 4_096;
/// Shards of the count table, so requests on different cores rarely meet at one lock.
const SHARDS: usize = 16;

/// A multiply-rotate hash (FxHash's idea): the keys are addresses and
/// server-made ids, not text a client chooses, so speed beats SipHash's
/// flooding resistance here.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Fast = BuildHasherDefault<FastHasher>;
type Counts = HashMap<(Bucket, RouteClass), (u64, u32), Fast>;

/// The counts of the current windows.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limits: RateLimits,
    hasher: Fast,
    shards: Vec<Mutex<Counts>>,
}

impl RateLimiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            limits: RateLimits {
                window: limits.window.max(Duration::from_secs(1)),
                ..limits
            },
            hasher: Fast::default(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }

    /// Counts one request against `bucket`; `None` when it has no limit.
    fn check(&self, bucket: Bucket, class: RouteClass, now: Duration) -> Option<Verdict> {
        let limit = match bucket {
            Bucket::Ip(_) => self.limits.per_ip.of(class),
            Bucket::User(_) => self.limits.per_user.of(class),
            Bucket::ApiKey(_) => self.limits.per_api_key.of(class),
        };
        if limit == 0 {
            return None;
        }
        let window = self.limits.window.as_secs();
        let index = now.as_secs() / window;
        let reset = Duration::from_secs((index + 1) * window).saturating_sub(now);
        let key = (bucket, class);
        // The high bits: the map inside the shard uses the low ones.
        let shard = &self.shards[(self.hasher.hash_one(key) >> 59) as usize % SHARDS];
        let mut counts = shard.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() > SWEEP_ABOVE {
            counts.retain(|_, (i, _)| *i == index);
        }
        let entry = counts.entry(key).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let used = entry.1;
        Some(Verdict {
            limit,
            remaining: limit.saturating_sub(used),
            reset,
            allowed: used <= limit,
        })
    }
}

/// Paths that are never limited: probes, health, metrics and the API's docs.
fn exempt(path: &str) -> bool {
    matches!(path, "/livez" | "/readyz" | "/metrics" | "/openapi.json")
        || path.starts_with("/docs")
        || path.starts_with("/api/v1/system/health")
        || path.starts_with("/api/system/health")
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Middleware: applies [`RateLimits`] when the state has them (see
/// [`AppState::with_rate_limits`]); otherwise passes every request on.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let limiter = state.as_ref().and_then(|s| s.rate_limiter());
    let (Some(state), Some(limiter)) = (state.as_ref(), limiter) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if exempt(req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let class = RouteClass::of(req.method(), req.path());
    let now = since_epoch();
    let services = state.services();
    let ip = client::client_ip(req.request(), services.trusted_proxies());
    // IPv6: the client's network, not each of its addresses.
    let network = services.client_networks().budget_key(ip);
    let mut verdict = limiter.check(Bucket::Ip(network), class, now);
    let has_credentials = req.headers().contains_key(auth::X_API_KEY)
        || req.headers().contains_key(header::AUTHORIZATION);
    if services.auth_enabled() && has_credentials && verdict.is_none_or(|v| v.allowed) {
        // Resolved once here and kept on the request, so the handler's
        // extractor does not pay again; a failure is the handler's to report.
        if let Ok(bucket) = auth::resolve_with(req.request(), principal_bucket).await
            && let Some(bucket) = bucket
            && let Some(mine) = limiter.check(bucket, class, now)
        {
            verdict = Some(verdict.map_or(mine, |v| v.tighter(mine)));
        }
    }
    let Some(verdict) = verdict else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if !verdict.allowed {
        metrics::counter!(REJECTED, "class" => class.label()).increment(1);
        let mut res =
            actix_web::ResponseError::error_response(&ApiError::rate_limited(verdict.reset));
        set_headers(res.headers_mut(), verdict);
        return Ok(req.into_response(res));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    set_headers(res.headers_mut(), verdict);
    Ok(res)
}

fn principal_bucket(ctx: &RequestContext) -> Option<Bucket> {
    match ctx.principal().actor() {
        Actor::User { user_id, .. } => Some(Bucket::User(user_id.as_uuid())),
        Actor::ApiKey { key_id, .. } => Some(Bucket::ApiKey(key_id.as_uuid())),
        Actor::System => None,
    }
}

fn set_headers(headers: &mut HeaderMap, verdict: Verdict) {
    let reset = verdict.reset.as_secs() + u64::from(verdict.reset.subsec_nanos() > 0);
    headers.insert(LIMIT, HeaderValue::from(verdict.limit));
    headers.insert(REMAINING, HeaderValue::from(verdict.remaining));
    headers.insert(RESET, HeaderValue::from(reset.max(1)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(read: u32) -> RateLimits {
        let class = ClassLimits {
            auth: 2,
            read,
            write: 1,
        };
        RateLimits {
            window: Duration::from_secs(60),
            per_ip: class,
            per_user: class,
            per_api_key: ClassLimits::default(),
        }
    }

    #[test]
    fn a_budget_counts_down_then_refuses_until_the_next_window() {
        let limiter = RateLimiter::new(limits(3));
        let ip = Bucket::Ip("10.0.0.1".parse().unwrap());
        let at = Duration::from_secs(6_000 + 10);
        let seen: Vec<_> = (0..4)
            .map(|_| limiter.check(ip, RouteClass::Read, at).unwrap())
            .map(|v| (v.remaining, v.allowed))
            .collect();
        assert_eq!(seen, [(2, true), (1, true), (0, true), (0, false)]);
        let v = limiter.check(ip, RouteClass::Read, at).unwrap();
        assert_eq!(v.reset, Duration::from_secs(50));
        let next = limiter
            .check(ip, RouteClass::Read, at + Duration::from_secs(50))
            .unwrap();
        assert_eq!((next.remaining, next.allowed), (2, true));
    }

    #[test]
    fn classes_and_callers_have_their_own_budgets_and_zero_is_unlimited() {
        let limiter = RateLimiter::new(limits(0));
        let a = Bucket::Ip("10.0.0.1".parse().unwrap());
        let b = Bucket::Ip("10.0.0.2".parse().unwrap());
        let at = Duration::from_secs(1);
        assert!(limiter.check(a, RouteClass::Write, at).unwrap().allowed);
        assert!(!limiter.check(a, RouteClass::Write, at).unwrap().allowed);
        assert!(limiter.check(b, RouteClass::Write, at).unwrap().allowed);
        assert!(limiter.check(a, RouteClass::Auth, at).unwrap().allowed);
        assert!(limiter.check(a, RouteClass::Read, at).is_none());
        let key = Bucket::ApiKey(Uuid::new_v4());
        assert!(limiter.check(key, RouteClass::Write, at).is_none());
    }

    #[test]
    fn route_classes() {
        assert_eq!(
            RouteClass::of(&Method::GET, "/api/v1/auth/me"),
            RouteClass::Read
        );
        assert_eq!(
            RouteClass::of(&Method::POST, "/api/v1/auth/login"),
            RouteClass::Auth
        );
        assert_eq!(
            RouteClass::of(&Method::POST, "/api/auth/refresh"),
            RouteClass::Auth
        );
        assert_eq!(
            RouteClass::of(&Method::DELETE, "/api/v1/api-keys/x"),
            RouteClass::Write
        );
        assert!(exempt("/api/v1/system/health/database"));
        assert!(exempt("/metrics"));
        assert!(!exempt("/api/v1/auth/me"));
    }

    /// How many of 40 reads, one from each address, the middleware lets in.
    async fn admitted(addresses: impl Iterator<Item = String>) -> usize {
        let (_db, state) = crate::testing::state().await;
        let state = state.with_rate_limits(limits(5));
        let app = actix_web::test::init_service(crate::app(state)).await;
        let mut admitted = 0;
        for address in addresses {
            let req = actix_web::test::TestRequest::get()
                .uri("/api/v1/organizations/me")
                .peer_addr(address.parse().unwrap())
                .to_request();
            let res = actix_web::test::call_service(&app, req).await;
            if res.status() != actix_web::http::StatusCode::TOO_MANY_REQUESTS {
                admitted += 1;
            }
        }
        admitted
    }

    #[actix_web::test]
    async fn forty_addresses_of_one_64_get_the_request_budget_of_one() {
        let one_network = (0..40).map(|n| format!("[2001:db8:5:5:{n:x}::{n:x}]:4000"));
        assert_eq!(admitted(one_network).await, 5);
        let own_networks = (0..40).map(|n| format!("[2001:db8:6:{n:x}::1]:4000"));
        assert_eq!(admitted(own_networks).await, 40);
        let ipv4 = (0..40).map(|n| format!("198.51.100.{n}:4000"));
        assert_eq!(admitted(ipv4).await, 40);
        let mapped = (0..40).map(|_| "[::ffff:198.51.100.9]:4000".to_owned());
        assert_eq!(
            admitted(mapped).await,
            5,
            "IPv4-mapped: the IPv4 address's budget"
        );
    }

    #[test]
    fn the_tighter_verdict_is_reported() {
        let v = |remaining, allowed| Verdict {
            limit: 10,
            remaining,
            reset: Duration::ZERO,
            allowed,
        };
        assert_eq!(v(5, true).tighter(v(3, true)), v(3, true));
        assert_eq!(v(5, false).tighter(v(3, true)), v(5, false));
        assert_eq!(v(0, true).tighter(v(9, false)), v(9, false));
    }
}
