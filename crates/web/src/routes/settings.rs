//! Settings with precedence: `/api/v1/settings/{system,organization,user}`
//! (registered keys only), `effective` (every key's value and its source)
//! and `schema` (what the UI's editor may offer).

use crate::auth::{Caller, client_of, resolve_optional};
use crate::error::ApiError;
use crate::input::Json;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use curatore_domain::setting_keys::{Layer, Resolved};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/settings/system")
            .get(system)
            .put(update_system),
    )
    .service(
        web::resource("/api/v1/settings/organization")
            .get(organization)
            .put(update_organization),
    )
    .service(
        web::resource("/api/v1/settings/user")
            .get(user)
            .put(update_user),
    )
    .service(web::resource("/api/v1/settings/effective").get(effective))
    .service(web::resource("/api/v1/settings/schema").get(schema));
}

/// `{"settings": {key: value, …}}`: merged into the stored settings; `null` removes a key.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct SettingsRequest {
    /// Registered keys only; `null` removes a key.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: Value,
}

/// The answer to every `PUT`: the layer's registered settings afterwards.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SettingsUpdatedBody))]
struct UpdatedBody {
    message: &'static str,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: Map<String, Value>,
}

/// One key's resolved value.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct ResolvedBody<'a> {
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    value: &'a Value,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::LayerName))]
    source: Layer,
}

fn by_key(resolved: &[Resolved]) -> BTreeMap<&'static str, ResolvedBody<'_>> {
    resolved
        .iter()
        .map(|r| {
            (
                r.key,
                ResolvedBody {
                    value: &r.value,
                    source: r.source,
                },
            )
        })
        .collect()
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct SystemBody<'a> {
    /// What the system layer stores.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: &'a Map<String, Value>,
    /// Each visible key's instance-wide value (environment > system > default).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, ResolvedBody>))]
    effective: BTreeMap<&'static str, ResolvedBody<'a>>,
}

/// Public keys for everyone (even unauthenticated); every key for instance admins.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/settings/system", tag = "settings",
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The system layer and each visible key's instance-wide value", body = SystemBody))))]
async fn system(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let services = state.services();
    let view = match resolve_optional(&req).await? {
        Some(ctx) => services.settings(&ctx).system().await?,
        None => {
            let client = client_of(&req, &state);
            services.anonymous(&client).system_settings().await?
        }
    };
    Ok(HttpResponse::Ok().json(SystemBody {
        settings: &view.stored,
        effective: by_key(&view.instance),
    }))
}

/// Instance admins only.
#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/settings/system", tag = "settings",
    request_body = SettingsRequest,
    responses((status = 200, description = "The system layer's registered settings afterwards", body = UpdatedBody))))]
async fn update_system(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<SettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state.services().settings(&ctx).merge_system(patch).await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        message: "system settings updated",
        settings,
    }))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct OrganizationSettingsBody<'a> {
    organization_id: Uuid,
    organization_name: &'a str,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: Map<String, Value>,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/settings/organization", tag = "settings",
    responses((status = 200, description = "The caller's organization's registered settings", body = OrganizationSettingsBody))))]
async fn organization(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = state.services().settings(&ctx).organization()?;
    let org = ctx.principal().organization();
    Ok(HttpResponse::Ok().json(OrganizationSettingsBody {
        organization_id: org.id.as_uuid(),
        organization_name: &org.display_name,
        settings,
    }))
}

/// Org admins only.
#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/settings/organization", tag = "settings",
    request_body = SettingsRequest,
    responses((status = 200, description = "The organization's registered settings afterwards", body = UpdatedBody))))]
async fn update_organization(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<SettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state
        .services()
        .settings(&ctx)
        .merge_organization(patch)
        .await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        message: "organization settings updated",
        settings,
    }))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct UserSettingsBody {
    /// Null for an API key that belongs to no user.
    user_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: Map<String, Value>,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/settings/user", tag = "settings",
    responses((status = 200, description = "The caller's own registered settings", body = UserSettingsBody))))]
async fn user(state: web::Data<AppState>, Caller(ctx): Caller) -> Result<HttpResponse, ApiError> {
    let (user_id, settings) = state.services().settings(&ctx).user()?;
    Ok(HttpResponse::Ok().json(UserSettingsBody {
        user_id: user_id.map(|u| u.as_uuid()),
        settings,
    }))
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/settings/user", tag = "settings",
    request_body = SettingsRequest,
    responses((status = 200, description = "The caller's registered settings afterwards", body = UpdatedBody))))]
async fn update_user(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<SettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state.services().settings(&ctx).merge_user(patch).await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        message: "user settings updated",
        settings,
    }))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct EffectiveBody<'a> {
    organization_id: Uuid,
    user_id: Option<Uuid>,
    /// Each key's value and the layer it came from.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, ResolvedBody>))]
    settings: BTreeMap<&'static str, ResolvedBody<'a>>,
    /// The same values without their sources.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    values: BTreeMap<&'static str, &'a Value>,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/settings/effective", tag = "settings",
    responses((status = 200, description = "Every key's value for the caller, and where it came from", body = EffectiveBody))))]
async fn effective(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
) -> Result<HttpResponse, ApiError> {
    let resolved = state.services().settings(&ctx).effective().await?;
    Ok(HttpResponse::Ok().json(EffectiveBody {
        organization_id: resolved.organization_id.as_uuid(),
        user_id: resolved.user_id.map(|u| u.as_uuid()),
        settings: by_key(&resolved.settings),
        values: resolved
            .settings
            .iter()
            .map(|r| (r.key, &r.value))
            .collect(),
    }))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct SchemaBody {
    /// JSON Schema of the organization layer's registered keys.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    organization_schema: Value,
    /// JSON Schema of the user layer's registered keys.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    user_schema: Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    merged_example: Value,
}

/// Any authenticated caller: the schemas are the same for everyone.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/settings/schema", tag = "settings",
    responses((status = 200, description = "What the settings editor may offer", body = SchemaBody))))]
async fn schema(
    state: web::Data<AppState>,
    Caller(_ctx): Caller,
) -> Result<HttpResponse, ApiError> {
    let schema = state.services().settings_schema();
    Ok(HttpResponse::Ok().json(SchemaBody {
        organization_schema: schema.organization_schema,
        user_schema: schema.user_schema,
        merged_example: schema.merged_example,
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[actix_web::test]
    async fn a_put_answers_the_layer_as_stored_and_effective_names_its_source() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, body) = call(
            &app,
            TestRequest::put()
                .uri("/api/v1/settings/organization")
                .insert_header(auth.clone())
                .set_json(json!({"settings": {"quality_thresholds": {"markdown": 9}}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // Merged into what the organization was seeded with.
        assert_eq!(
            body["settings"],
            json!({"quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
                   "relevance": 7, "markdown": 9}, "auto_optimize": false})
        );
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/settings/effective")
                .insert_header(auth),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let q = &body["settings"]["quality_thresholds"];
        assert_eq!(q["source"], "organization");
        assert_eq!(q["value"]["markdown"], json!(9));
        assert_eq!(q["value"]["conversion"], json!(70));
        assert_eq!(body["values"]["auto_optimize"], json!(false));
    }

    #[actix_web::test]
    async fn settings_that_are_not_an_object_are_refused() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        for layer in ["system", "organization", "user"] {
            let (status, body) = call(
                &app,
                TestRequest::put()
                    .uri(&format!("/api/v1/settings/{layer}"))
                    .insert_header(auth.clone())
                    .set_json(json!({"settings": [1, 2]})),
            )
            .await;
            assert_eq!(status, 400, "{layer}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("settings"),
                "{body}"
            );
        }
    }
}
