//! API keys: create (the key is shown once), list, rename, revoke.

use crate::auth::Caller;
use crate::dto::{ApiKeyBody, Items};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use curatore_domain::ApiKeyId;
use curatore_service::NewKey;
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
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    expires_in_days: Option<u32>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Serialize)]
struct CreatedKeyBody {
    #[serde(flatten)]
    key: ApiKeyBody,
    /// The full key: shown here once, never again.
    api_key: String,
}

async fn create(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: web::Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let CreateRequest {
        name,
        expires_in_days,
        scopes,
    } = body.into_inner();
    let new = NewKey {
        name,
        expires_in_days,
        scopes,
    };
    let created = state.services().create_api_key(&ctx, new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedKeyBody {
            key: ApiKeyBody::from(&created.key),
            api_key: created.secret.expose().to_owned(),
        }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Admins: every key of the organization, not only their own.
    #[serde(default)]
    all: bool,
}

async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state.services().list_api_keys(&ctx, query.all).await?;
    Ok(HttpResponse::Ok().json(Items::from_page(page.map(|k| ApiKeyBody::from(&k)))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameRequest {
    name: String,
}

async fn rename(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: web::Json<RenameRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiKeyId::from_uuid(*id);
    let renamed = state
        .services()
        .rename_api_key(&ctx, id, &body.name)
        .await?;
    Ok(HttpResponse::Ok().json(ApiKeyBody::from(&renamed)))
}

async fn revoke(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiKeyId::from_uuid(*id);
    state.services().revoke_api_key(&ctx, id).await?;
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
