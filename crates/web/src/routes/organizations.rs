//! The caller's own organization.

use crate::auth::Caller;
use crate::dto::{OrganizationBody, UserBody};
use crate::error::ApiError;
use crate::input::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use curatore_domain::{OrganizationId, Secret};
use curatore_service::{NewAdmin, NewTenant, OrganizationChanges, TenantChanges};
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
    .service(
        web::resource("/api/v1/organizations")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/api/v1/organizations/{id}")
            .route(web::get().to(by_id))
            .route(web::put().to(update_by_id)),
    );
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/organizations/me", tag = "organizations",
    responses((status = 200, description = "The caller's organization", body = OrganizationBody))))]
async fn me(state: web::Data<AppState>, Caller(ctx): Caller) -> Result<HttpResponse, ApiError> {
    let org = state.services().my_organization(&ctx).get()?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&org)))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = Uuid, Path, description = "The organization's id")),
    responses((status = 200, description = "The organization (instance administrators; others see only their own)", body = OrganizationBody))))]
async fn by_id(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = OrganizationId::from_uuid(*id);
    let org = state.services().organizations(&ctx).get(id).await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&org)))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct AdminRequest {
    email: String,
    username: String,
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    password: Secret,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    slug: String,
    display_name: Option<String>,
    admin: AdminRequest,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct CreatedBody {
    #[serde(flatten)]
    organization: OrganizationBody,
    admin: UserBody,
}

/// Instance administrators: a new organization and its first org_admin.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/organizations", tag = "organizations",
    request_body = CreateRequest,
    responses((status = 201, description = "The organization and its first org_admin", body = CreatedBody))))]
async fn create(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let CreateRequest {
        name,
        slug,
        display_name,
        admin,
    } = body.into_inner();
    let admin = NewAdmin {
        email: admin.email,
        username: admin.username,
        full_name: admin.full_name,
        password: admin.password,
    };
    let new = NewTenant {
        name,
        slug,
        display_name,
        admin,
    };
    let (org, admin) = state.services().organizations(&ctx).create(new).await?;
    Ok(HttpResponse::Created().json(CreatedBody {
        organization: OrganizationBody::from(&org),
        admin: UserBody::from(&admin),
    }))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Items to skip (default 0).
    skip: Option<u64>,
    /// Items per page, 1 to 1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    limit: Option<u64>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct OrganizationList {
    organizations: Vec<OrganizationBody>,
    total: u64,
    /// `true` when `total` is a full count made in the last few seconds and
    /// reused (lists of 10,000 or more), not one made for this response.
    total_estimated: bool,
}

/// Instance administrators: every organization, oldest first.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/organizations", tag = "organizations", params(ListQuery),
    responses((status = 200, description = "Every organization (instance administrators)", body = OrganizationList))))]
async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (skip, limit) = (query.skip.unwrap_or(0), query.limit.unwrap_or(100));
    let page = state
        .services()
        .organizations(&ctx)
        .list(skip, limit)
        .await?;
    Ok(HttpResponse::Ok().json(OrganizationList {
        organizations: page.items.iter().map(OrganizationBody::from).collect(),
        total: page.total.unwrap_or(0),
        total_estimated: page.total_estimated,
    }))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct TenantUpdate {
    display_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    settings: Option<Value>,
    is_active: Option<bool>,
}

/// Instance administrators: change or (de)activate an organization.
#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = Uuid, Path, description = "The organization's id")),
    request_body = TenantUpdate,
    responses((status = 200, description = "The changed organization", body = OrganizationBody))))]
async fn update_by_id(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: Json<TenantUpdate>,
) -> Result<HttpResponse, ApiError> {
    let TenantUpdate {
        display_name,
        settings,
        is_active,
    } = body.into_inner();
    let changes = TenantChanges {
        display_name,
        settings,
        is_active,
    };
    let id = OrganizationId::from_uuid(*id);
    let org = state
        .services()
        .organizations(&ctx)
        .update(id, changes)
        .await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&org)))
}

/// The fields an organization may change about itself.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct OrganizationUpdate {
    display_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    settings: Option<Value>,
}

#[cfg_attr(feature = "openapi", utoipa::path(method(put, patch), path = "/api/v1/organizations/me", tag = "organizations",
    request_body = OrganizationUpdate,
    responses((status = 200, description = "The changed organization", body = OrganizationBody))))]
async fn update_me(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<OrganizationUpdate>,
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
        .my_organization(&ctx)
        .update(changes)
        .await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(&updated)))
}

/// `{"settings": {...}}`, both ways.
#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: Value,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/organizations/me/settings", tag = "organizations",
    responses((status = 200, description = "The organization's settings", body = SettingsBody))))]
async fn settings(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = state.services().my_organization(&ctx).settings()?;
    Ok(HttpResponse::Ok().json(SettingsBody { settings }))
}

/// Merges the body into the stored settings; answers the merged settings.
#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/organizations/me/settings", tag = "organizations",
    request_body = SettingsBody,
    responses((status = 200, description = "The settings after the merge", body = SettingsBody))))]
async fn merge_settings(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state
        .services()
        .my_organization(&ctx)
        .merge_settings(patch)
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
        // Beside the settings the organization was seeded with.
        let expected = json!({"ui": {"theme": "dark", "size": 2}, "tags": [3],
            "quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
                                   "relevance": 7, "markdown": 7},
            "auto_optimize": false});
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
    async fn instance_admins_create_list_and_deactivate_organizations() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let root = admin(&app).await;
        let new = json!({
            "name": "Beta", "slug": "beta",
            "admin": {"email": "boss@beta.example", "username": "boss", "password": "a-long-beta-password"}
        });
        let create = |auth: (&'static str, String), body: serde_json::Value| {
            TestRequest::post()
                .uri("/api/v1/organizations")
                .insert_header(auth)
                .set_json(body)
        };
        let (status, created) = call(&app, create(root.clone(), new.clone())).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(
            (created["slug"].clone(), created["admin"]["role"].clone()),
            (json!("beta"), json!("org_admin"))
        );
        let beta_id = created["id"].as_str().unwrap().to_owned();
        let (status, body) = call(&app, create(root.clone(), new)).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (409, json!("slug_taken"))
        );
        let (status, list) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/organizations")
                .insert_header(root.clone()),
        )
        .await;
        assert_eq!((status, list["total"].clone()), (200, json!(2)));

        // Beta's admin administers Beta, not the instance.
        let (_, login) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "boss", "password": "a-long-beta-password"})),
        )
        .await;
        let boss = (
            "authorization",
            format!("Bearer {}", login["access_token"].as_str().unwrap()),
        );
        let (status, _) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/organizations")
                .insert_header(boss.clone()),
        )
        .await;
        assert_eq!(status, 403);
        let (_, mine) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/organizations/me")
                .insert_header(root.clone()),
        )
        .await;
        let (status, _) = call(
            &app,
            TestRequest::get()
                .uri(&format!(
                    "/api/v1/organizations/{}",
                    mine["id"].as_str().unwrap()
                ))
                .insert_header(boss.clone()),
        )
        .await;
        assert_eq!(status, 404, "another organization is a 404");

        // Deactivated, Beta's users are refused at once; the default one cannot be.
        let beta = format!("/api/v1/organizations/{beta_id}");
        let (status, body) = call(
            &app,
            TestRequest::put()
                .uri(&beta)
                .insert_header(root.clone())
                .set_json(json!({"is_active": false})),
        )
        .await;
        assert_eq!((status, body["is_active"].clone()), (200, json!(false)));
        let (status, _) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/auth/me")
                .insert_header(boss),
        )
        .await;
        assert_eq!(status, 401);
        let (status, _) = call(
            &app,
            TestRequest::put()
                .uri(&format!(
                    "/api/v1/organizations/{}",
                    mine["id"].as_str().unwrap()
                ))
                .insert_header(root)
                .set_json(json!({"is_active": false})),
        )
        .await;
        assert_eq!(status, 409);
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
