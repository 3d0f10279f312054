//! The caller's own organization.

use crate::auth::Caller;
use crate::dto::OrganizationBody;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use curatore_domain::OrganizationId;
use curatore_service::OrganizationChanges;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/organizations/me")
            .route(web::get().to(me))
            .route(web::put().to(update_me))
            .route(web::patch().to(update_me)),
    )
    .service(
        web::resource("/api/v1/organizations/me/settings")
            .route(web::get().to(settings))
            .route(web::put().to(merge_settings)),
    )
    .service(web::resource("/api/v1/organizations/{id}").route(web::get().to(by_id)));
}

async fn me(state: web::Data<AppState>, Caller(ctx): Caller) -> Result<HttpResponse, ApiError> {
    let org = state.services().my_organization(&ctx)?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&org)))
}

async fn by_id(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = OrganizationId::from_uuid(*id);
    let org = state.services().organization_by_id(&ctx, id)?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&org)))
}

/// The fields an organization may change about itself.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationUpdate {
    display_name: Option<String>,
    settings: Option<Value>,
}

async fn update_me(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: web::Json<OrganizationUpdate>,
) -> Result<HttpResponse, ApiError> {
    let OrganizationUpdate {
        display_name,
        settings,
    } = body.into_inner();
    let changes = OrganizationChanges {
        display_name,
        settings,
    };
    let updated = state
        .services()
        .update_my_organization(&ctx, changes)
        .await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&updated)))
}

/// `{"settings": {...}}`, both ways.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    settings: Value,
}

async fn settings(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = state.services().organization_settings(&ctx)?;
    Ok(HttpResponse::Ok().json(SettingsBody { settings }))
}

/// Merges the body into the stored settings; answers the merged settings.
async fn merge_settings(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: web::Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state
        .services()
        .merge_organization_settings(&ctx, patch)
        .await?;
    Ok(HttpResponse::Ok().json(SettingsBody { settings }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[actix_web::test]
    async fn another_organizations_id_is_a_404_like_a_missing_one() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, me) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/organizations/me")
                .insert_header(auth.clone()),
        )
        .await;
        assert_eq!(status, 200);
        let own = format!("/api/v1/organizations/{}", me["id"].as_str().unwrap());
        let (status, _) = call(
            &app,
            TestRequest::get().uri(&own).insert_header(auth.clone()),
        )
        .await;
        assert_eq!(status, 200);
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/organizations/0195d3a0-0000-7000-8000-000000000000")
                .insert_header(auth),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!("not_found"))
        );
    }

    #[actix_web::test]
    async fn settings_merge_recursively_and_null_removes_a_key() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let put = |body: serde_json::Value| {
            TestRequest::put()
                .uri("/api/v1/organizations/me/settings")
                .insert_header(auth.clone())
                .set_json(body)
        };
        let (status, body) = call(
            &app,
            put(json!({"settings": {"ui": {"theme": "dark", "lang": "en"}, "tags": [1, 2]}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(
            &app,
            put(json!({"settings": {"ui": {"lang": null, "size": 2}, "tags": [3]}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let expected = json!({"ui": {"theme": "dark", "size": 2}, "tags": [3]});
        assert_eq!(body["settings"], expected);
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/organizations/me/settings")
                .insert_header(auth.clone()),
        )
        .await;
        assert_eq!((status, body["settings"].clone()), (200, expected));
        let (status, body) = call(&app, put(json!({"settings": "dark"}))).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("validation_failed"))
        );
    }

    #[actix_web::test]
    async fn put_me_changes_the_display_name_like_patch() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, body) = call(
            &app,
            TestRequest::put()
                .uri("/api/v1/organizations/me")
                .insert_header(auth)
                .set_json(json!({"display_name": "Acme Research"})),
        )
        .await;
        assert_eq!(
            (status, body["display_name"].clone()),
            (200, json!("Acme Research"))
        );
    }

    #[actix_web::test]
    async fn settings_that_are_not_an_object_are_refused() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, body) = call(
            &app,
            TestRequest::patch()
                .uri("/api/v1/organizations/me")
                .insert_header(auth)
                .set_json(json!({"settings": [1, 2]})),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("validation_failed"))
        );
    }
}
