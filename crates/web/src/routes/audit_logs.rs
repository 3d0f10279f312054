//! The caller's organization's audit trail (read-only: it is append-only).

use crate::auth::Caller;
use crate::dto::{AuditFeedBody, AuditLogPageBody};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use curatore_domain::{AuditAction, AuditStatus, UserId};
use curatore_service::{
    AuditCursor, AuditFeedQuery, AuditLogQuery, ENTITY_TYPE_MAX, MAX_AUDIT_LIMIT,
};
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/audit-logs").get(list))
        .service(web::resource("/api/v1/audit-logs/feed").get(feed));
}

/// The filters of the list and the export, as documented (the handlers read
/// the pairs themselves, see [`audit_query`]).
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[allow(dead_code, reason = "describes the query string")]
pub(crate) struct AuditFilters {
    /// Actions to include (repeat the parameter, or separate them with commas).
    action: Option<String>,
    /// Only entries of this user.
    user_id: Option<uuid::Uuid>,
    /// Only entries about this kind of thing (`user`, `api_key`, ...).
    entity_type: Option<String>,
    /// Only entries about this thing.
    entity_id: Option<uuid::Uuid>,
    /// `success` or `failure`.
    #[cfg_attr(feature = "openapi", param(pattern = "^(success|failure)$"))]
    status: Option<String>,
    /// Entries created at or after this instant (RFC 3339).
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    since: Option<String>,
    /// Entries created before this instant (RFC 3339).
    #[cfg_attr(feature = "openapi", param(format = DateTime))]
    until: Option<String>,
}

/// Paging of the list.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[allow(dead_code, reason = "describes the query string")]
pub(crate) struct PageParams {
    /// Entries per page, 1 to 1000 (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The query string parsed into the service's typed filter. `action` may
/// repeat and may hold several comma-separated actions; every other
/// parameter appears at most once. (`web::Query` into a struct cannot
/// collect repeated keys, so the pairs are decoded as a list and sorted out
/// here.) Each bad value is refused naming its parameter.
pub fn audit_query(pairs: Vec<(String, String)>) -> Result<AuditLogQuery, ApiError> {
    let mut raw = RawAuditQuery::default();
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "action" => {
                raw.actions.extend(value.split(',').map(str::to_owned));
                continue;
            }
            "user_id" => &mut raw.user_id,
            "entity_type" => &mut raw.entity_type,
            "entity_id" => &mut raw.entity_id,
            "status" => &mut raw.status,
            "since" => &mut raw.since,
            "until" => &mut raw.until,
            "limit" => &mut raw.limit,
            "cursor" => &mut raw.cursor,
            _ => return Err(unknown(&key)),
        };
        once(slot, &key, value)?;
    }
    raw.parse()
}

/// The audit parameters as sent, before parsing.
#[derive(Default)]
struct RawAuditQuery {
    actions: Vec<String>,
    user_id: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn invalid(param: &str, why: &str) -> ApiError {
    ApiError::query(format!("query parameter `{param}` {why}"))
}

fn uuid(param: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| invalid(param, "must be a UUID"))
}

fn instant(param: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(param, "must be an RFC 3339 timestamp"))
}

/// A page size: 1 to [`MAX_AUDIT_LIMIT`]; absent: the service's default.
fn limit(raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    raw.map(|raw| {
        raw.parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_AUDIT_LIMIT).contains(l))
            .ok_or_else(|| invalid("limit", &format!("must be between 1 and {MAX_AUDIT_LIMIT}")))
    })
    .transpose()
}

impl RawAuditQuery {
    fn parse(self) -> Result<AuditLogQuery, ApiError> {
        let actions = self
            .actions
            .iter()
            .map(|a| {
                // Control characters get the answer they get everywhere else.
                curatore_domain::text::check_line("action", a)?;
                AuditAction::parse(a).map_err(|_| {
                    invalid(
                        "action",
                        "must be 1-100 characters of lowercase letters, digits, `_` and `.`",
                    )
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let entity_type = match self.entity_type {
            Some(t) if t.is_empty() || t.len() > ENTITY_TYPE_MAX => {
                return Err(invalid("entity_type", "must be 1-50 characters"));
            }
            Some(t) => {
                curatore_domain::text::check_line("entity_type", &t)?;
                Some(t)
            }
            None => None,
        };
        let status = self
            .status
            .as_deref()
            .map(|s| {
                s.parse::<AuditStatus>()
                    .map_err(|_| invalid("status", "must be `success` or `failure`"))
            })
            .transpose()?;
        Ok(AuditLogQuery {
            actions,
            user_id: self
                .user_id
                .as_deref()
                .map(|u| uuid("user_id", u).map(UserId::from))
                .transpose()?,
            entity_type,
            entity_id: self
                .entity_id
                .as_deref()
                .map(|e| uuid("entity_id", e))
                .transpose()?,
            status,
            since: self
                .since
                .as_deref()
                .map(|s| instant("since", s))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| instant("until", s))
                .transpose()?,
            limit: limit(self.limit.as_deref())?,
            cursor: self
                .cursor
                .as_deref()
                .map(|c| {
                    AuditCursor::parse(c)
                        .ok_or_else(|| invalid("cursor", "is not a cursor this API issued"))
                })
                .transpose()?,
        })
    }
}

fn unknown(key: &str) -> ApiError {
    ApiError::query(format!("unknown query parameter `{key}`"))
}

/// Puts `value` in `slot`, refusing a parameter given twice.
fn once(slot: &mut Option<String>, key: &str, value: String) -> Result<(), ApiError> {
    if slot.replace(value).is_some() {
        return Err(ApiError::query(format!(
            "query parameter `{key}` is given more than once"
        )));
    }
    Ok(())
}

/// Newest first by `(created_at, id)`, `limit` (1–1000, default 50) at a
/// time, filtered; `next_cursor` leads to the next page.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit", params(AuditFilters, PageParams),
    responses((status = 200, description = "One page of the organization's trail", body = AuditLogPageBody))))]
async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    pairs: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let query = audit_query(pairs.into_inner())?;
    let page = state.services().audit_log(&ctx).list(&query).await?;
    Ok(HttpResponse::Ok().json(AuditLogPageBody::from(page)))
}

/// Where an incremental read resumes.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[allow(dead_code, reason = "describes the query string")]
pub(crate) struct FeedParams {
    /// `position` of the previous read (absent: from the first entry).
    after: Option<String>,
    /// Entries per read, 1 to 1000 (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    limit: Option<u64>,
}

/// The query string of the feed: `after` and `limit`, each at most once.
fn feed_query(pairs: Vec<(String, String)>) -> Result<AuditFeedQuery, ApiError> {
    let (mut after, mut raw_limit) = (None, None);
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "after" => &mut after,
            "limit" => &mut raw_limit,
            _ => return Err(unknown(&key)),
        };
        once(slot, &key, value)?;
    }
    Ok(AuditFeedQuery {
        after,
        limit: limit(raw_limit.as_deref())?,
    })
}

/// The trail in commit order, for incremental pulls: pass `position` back
/// as `after` and no entry is missed or repeated, however late its writer
/// committed (unlike `since`, which compares `created_at`, taken before the
/// commit). Fewer than `limit` entries: caught up.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/audit-logs/feed", tag = "audit", params(FeedParams),
    responses((status = 200, description = "The entries committed after `after`, oldest commit first", body = AuditFeedBody))))]
async fn feed(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    pairs: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let query = feed_query(pairs.into_inner())?;
    let page = state.services().audit_log(&ctx).feed(&query).await?;
    Ok(HttpResponse::Ok().json(AuditFeedBody::from(page)))
}

#[cfg(test)]
mod tests {
    use crate::testing::{admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[actix_web::test]
    async fn the_feed_hands_out_a_position_and_resumes_from_it() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let get = |uri: &str| TestRequest::get().uri(uri).insert_header(auth.clone());
        let (status, first) = call(&app, get("/api/v1/audit-logs/feed?limit=1")).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["items"].as_array().unwrap().len(), 1, "{first}");
        let position = first["position"].as_str().unwrap().to_owned();
        let (status, rest) = call(
            &app,
            get(&format!("/api/v1/audit-logs/feed?after={position}")),
        )
        .await;
        assert_eq!(status, 200, "{rest}");
        let rest = rest["items"].as_array().unwrap().clone();
        assert!(rest.iter().all(|e| e["id"] != first["items"][0]["id"]));
        assert!(rest.iter().any(|e| e["action"] == "login"), "{rest:?}");
        for bad in ["after=nope", "limit=0", "cursor=x", "after=0&after=0"] {
            let (status, body) = call(&app, get(&format!("/api/v1/audit-logs/feed?{bad}"))).await;
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (400, json!("invalid_query_parameter")),
                "{bad}"
            );
        }
    }

    #[actix_web::test]
    async fn the_trail_lists_the_login_and_refuses_an_out_of_range_limit() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/audit-logs?action=login")
                .insert_header(auth.clone()),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["limit"], 50);
        assert_eq!(body["items"].as_array().unwrap().len(), 1);
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/audit-logs?limit=1001")
                .insert_header(auth),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("invalid_query_parameter"))
        );
    }

    #[actix_web::test]
    async fn next_cursor_leads_through_every_page_and_is_null_on_the_last() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let _ = admin(&app).await;
        let _ = admin(&app).await;
        let auth = admin(&app).await;
        let get = |uri: String| TestRequest::get().uri(&uri).insert_header(auth.clone());
        let (status, first) = call(
            &app,
            get("/api/v1/audit-logs?limit=2&action=login&action=logout,nothing".into()),
        )
        .await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["limit"], 2);
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned();
        let (status, second) = call(
            &app,
            get(format!(
                "/api/v1/audit-logs?limit=2&action=login&cursor={cursor}"
            )),
        )
        .await;
        assert_eq!(status, 200, "{second}");
        let items = second["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(second["next_cursor"], json!(null));
        let ids: Vec<_> = first["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(items)
            .map(|e| e["id"].clone())
            .collect();
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    }

    #[actix_web::test]
    async fn a_bad_cursor_or_filter_is_refused_naming_the_parameter() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        for (query, named) in [
            ("cursor=0190f0c0ffee", "cursor"),
            ("cursor=zz", "cursor"),
            ("since=yesterday", "since"),
            ("until=2026-13-01T00:00:00Z", "until"),
            ("status=maybe", "status"),
            ("user_id=42", "user_id"),
            ("entity_id=x", "entity_id"),
            ("action=Login", "action"),
            ("limit=0", "limit"),
            ("limit=ten", "limit"),
            ("limit=5&limit=6", "limit"),
            ("colour=red", "colour"),
        ] {
            let (status, body) = call(
                &app,
                TestRequest::get()
                    .uri(&format!("/api/v1/audit-logs?{query}"))
                    .insert_header(auth.clone()),
            )
            .await;
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (400, json!("invalid_query_parameter")),
                "{query}"
            );
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("`{named}`")),
                "{query}: {message}"
            );
        }
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/audit-logs?status=success&since=2020-01-01T00:00:00%2B02:00&entity_type=user")
                .insert_header(auth),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    #[actix_web::test]
    async fn the_trail_needs_credentials() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let (status, body) = call(&app, TestRequest::get().uri("/api/v1/audit-logs")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (401, json!("authentication_required"))
        );
    }
}
