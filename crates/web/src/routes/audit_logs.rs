//! The caller's organization's audit trail (read-only: it is append-only).

use crate::auth::Caller;
use crate::dto::{AuditLogBody, LimitedItems};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/audit-logs").get(list));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u64>,
    action: Option<String>,
}

/// Newest first, at most `limit` (1–100, default 50), optionally one action.
async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .services()
        .list_audit_log(&ctx, query.action.as_deref(), query.limit)
        .await?;
    Ok(HttpResponse::Ok().json(LimitedItems::from_page(page.map(AuditLogBody::from))))
}

#[cfg(test)]
mod tests {
    use crate::testing::{admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::json;

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
                .uri("/api/v1/audit-logs?limit=101")
                .insert_header(auth),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("invalid_query_parameter"))
        );
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
