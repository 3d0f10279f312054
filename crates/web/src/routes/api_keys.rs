//! API keys: create (the key is shown once), list, rename, revoke.

use crate::auth::Caller;
use crate::dto::ApiKeyBody;
use crate::error::ApiError;
use crate::input::Json;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use curatore_domain::ApiKeyId;
use curatore_service::{KeyQuery, NewKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/api-keys").get(list).post(create))
        .service(
            web::resource("/api/v1/api-keys/{id}")
                .put(rename)
                .delete(revoke),
        );
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    expires_in_days: Option<u32>,
    /// The original API's name for `expires_in_days` (1 to 365).
    expires_days: Option<u32>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct CreatedKeyBody {
    #[serde(flatten)]
    record: ApiKeyBody,
    /// The full key: shown here once, never again.
    api_key: String,
    /// The same, under the original API's name.
    key: String,
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys",
    request_body = CreateRequest,
    responses((status = 201, description = "The key; `api_key` (and its alias `key`) is shown this once", body = CreatedKeyBody))))]
async fn create(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let CreateRequest {
        name,
        expires_in_days,
        expires_days,
        scopes,
    } = body.into_inner();
    let new = NewKey {
        name,
        expires_in_days,
        expires_days,
        scopes,
    };
    let created = state.services().api_keys(&ctx).create(new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedKeyBody {
            record: ApiKeyBody::from(&created.key),
            api_key: created.secret.expose().to_owned(),
            key: created.secret.expose().to_owned(),
        }))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Admins: every key of the organization, not only their own.
    #[serde(default)]
    all: bool,
    is_active: Option<bool>,
    /// Items to skip (default 0).
    skip: Option<u64>,
    /// Items per page, 1 to 1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    limit: Option<u64>,
}

/// The list as today's clients (`items`) and the original's (`keys`,
/// `total`) read it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct KeyList {
    items: Vec<ApiKeyBody>,
    keys: Vec<ApiKeyBody>,
    total: u64,
    /// `true` when `total` is a full count made in the last few seconds and
    /// reused (lists of 10,000 or more), not one made for this response.
    total_estimated: bool,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", params(ListQuery),
    responses((status = 200, description = "The caller's keys (with `all=true`, an org_admin sees every key of the organization)", body = KeyList))))]
async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let defaults = KeyQuery::default();
    let query = KeyQuery {
        everyone: query.all,
        is_active: query.is_active,
        skip: query.skip.unwrap_or(defaults.skip),
        limit: query.limit.unwrap_or(defaults.limit),
    };
    let page = state.services().api_keys(&ctx).list(query).await?;
    let keys: Vec<ApiKeyBody> = page.items.iter().map(ApiKeyBody::from).collect();
    Ok(HttpResponse::Ok().json(KeyList {
        items: page.items.iter().map(ApiKeyBody::from).collect(),
        total: page.total.unwrap_or(keys.len() as u64),
        total_estimated: page.total_estimated,
        keys,
    }))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct RenameRequest {
    name: String,
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    request_body = RenameRequest,
    responses((status = 200, description = "The renamed key", body = ApiKeyBody))))]
async fn rename(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: Json<RenameRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiKeyId::from_uuid(*id);
    let renamed = state
        .services()
        .api_keys(&ctx)
        .rename(id, &body.name)
        .await?;
    Ok(HttpResponse::Ok().json(ApiKeyBody::from(&renamed)))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"))))]
async fn revoke(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiKeyId::from_uuid(*id);
    state.services().api_keys(&ctx).revoke(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use crate::testing::{admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[actix_web::test]
    async fn a_new_key_is_shown_once_and_never_listed() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, created) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/api-keys")
                .insert_header(auth.clone())
                .set_json(json!({"name": "ci"})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let key = created["api_key"].as_str().unwrap().to_owned();
        let (status, listed) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/api-keys")
                .insert_header(auth),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert!(!listed.to_string().contains(&key));
    }

    #[actix_web::test]
    async fn a_key_that_does_not_exist_is_404_and_revoking_twice_is_204() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let missing = "/api/v1/api-keys/0195d3a0-0000-7000-8000-000000000000";
        let (status, body) = call(
            &app,
            TestRequest::put()
                .uri(missing)
                .insert_header(auth.clone())
                .set_json(json!({"name": "x"})),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!("not_found"))
        );
        let (_, created) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/api-keys")
                .insert_header(auth.clone())
                .set_json(json!({"name": "ci"})),
        )
        .await;
        let path = format!("/api/v1/api-keys/{}", created["id"].as_str().unwrap());
        for _ in 0..2 {
            let (status, _) = call(
                &app,
                TestRequest::delete().uri(&path).insert_header(auth.clone()),
            )
            .await;
            assert_eq!(status, 204);
        }
    }

    #[actix_web::test]
    async fn the_original_fields_work_key_expires_days_keys_total_and_paging() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let mut ids = Vec::new();
        for (i, body) in [
            json!({"name": "a", "expires_days": 30}),
            json!({"name": "b", "expires_in_days": 30}),
            json!({"name": "c"}),
        ]
        .into_iter()
        .enumerate()
        {
            let (status, created) = call(
                &app,
                TestRequest::post()
                    .uri("/api/v1/api-keys")
                    .insert_header(auth.clone())
                    .set_json(body),
            )
            .await;
            assert_eq!(status, 201, "{i}: {created}");
            assert_eq!(created["key"], created["api_key"]);
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
        let (status, _) = call(
            &app,
            TestRequest::delete()
                .uri(&format!("/api/v1/api-keys/{}", ids[0]))
                .insert_header(auth.clone()),
        )
        .await;
        assert_eq!(status, 204);
        let list = |q: &str| {
            TestRequest::get()
                .uri(&format!("/api/v1/api-keys?{q}"))
                .insert_header(auth.clone())
        };
        let (_, page) = call(&app, list("skip=1&limit=1")).await;
        assert_eq!(page["total"], 3);
        assert_eq!(page["keys"].as_array().unwrap().len(), 1);
        assert_eq!(page["keys"], page["items"]);
        // Newest first: skipping one lands on the second newest, "b".
        assert_eq!(page["keys"][0]["name"], "b");
        let (_, active) = call(&app, list("is_active=true")).await;
        assert_eq!(active["total"], 2);
        let (status, body) = call(&app, list("limit=0")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("invalid_query_parameter"))
        );
        let (status, _) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/api-keys")
                .insert_header(auth)
                .set_json(json!({"name": "x", "expires_days": 366})),
        )
        .await;
        assert_eq!(status, 400);
    }

    #[actix_web::test]
    async fn a_key_mints_keys_only_with_api_keys_write_and_within_its_scopes() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let mint = |auth: (&'static str, String), scopes: serde_json::Value| {
            TestRequest::post()
                .uri("/api/v1/api-keys")
                .insert_header(auth)
                .set_json(json!({"name": "k", "scopes": scopes}))
        };
        let (_, plain) = call(&app, mint(auth.clone(), json!([]))).await;
        let (_, minter) = call(&app, mint(auth, json!(["api_keys:write", "read"]))).await;
        let as_key = |created: &serde_json::Value| {
            ("x-api-key", created["key"].as_str().unwrap().to_owned())
        };
        let (status, _) = call(&app, mint(as_key(&plain), json!(["read"]))).await;
        assert_eq!(status, 403, "a key without api_keys:write");
        let (status, child) = call(&app, mint(as_key(&minter), json!(["read"]))).await;
        assert_eq!(status, 201, "{child}");
        for scopes in [json!(["write"]), json!([])] {
            let (status, _) = call(&app, mint(as_key(&minter), scopes.clone())).await;
            assert_eq!(status, 403, "{scopes}");
        }
    }

    #[actix_web::test]
    async fn unknown_scopes_are_refused() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, body) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/api-keys")
                .insert_header(auth)
                .set_json(json!({"name": "ci", "scopes": ["root"]})),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("validation_failed"))
        );
    }
}
