//! Settings with precedence: `/api/v1/settings/{system,organization,user}`
//! (registered keys only), `effective` (every key's value and its source)
//! and `schema` (what the UI's editor may offer).

use crate::auth::{Caller, resolve_optional};
use crate::error::ApiError;
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
#[serde(deny_unknown_fields)]
struct SettingsRequest {
    settings: Value,
}

/// The answer to every `PUT`: the layer's registered settings afterwards.
#[derive(Serialize)]
struct UpdatedBody {
    message: &'static str,
    settings: Map<String, Value>,
}

/// One key's resolved value.
#[derive(Serialize)]
struct ResolvedBody<'a> {
    value: &'a Value,
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
struct SystemBody<'a> {
    /// What the system layer stores.
    settings: &'a Map<String, Value>,
    /// Each visible key's instance-wide value (environment > system > default).
    effective: BTreeMap<&'static str, ResolvedBody<'a>>,
}

/// Public keys for everyone (even unauthenticated); every key for instance admins.
async fn system(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let ctx = resolve_optional(&req).await?;
    let view = state.services().system_settings_view(ctx.as_ref()).await?;
    Ok(HttpResponse::Ok().json(SystemBody {
        settings: &view.stored,
        effective: by_key(&view.instance),
    }))
}

async fn update_system(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: web::Json<SettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state.services().merge_system_settings(&ctx, patch).await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        message: "system settings updated",
        settings,
    }))
}

#[derive(Serialize)]
struct OrganizationSettingsBody<'a> {
    organization_id: Uuid,
    organization_name: &'a str,
    settings: Map<String, Value>,
}

async fn organization(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = state.services().registered_organization_settings(&ctx)?;
    let org = ctx.principal.organization();
    Ok(HttpResponse::Ok().json(OrganizationSettingsBody {
        organization_id: org.id.as_uuid(),
        organization_name: &org.display_name,
        settings,
    }))
}

async fn update_organization(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: web::Json<SettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state
        .services()
        .merge_registered_organization_settings(&ctx, patch)
        .await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        message: "organization settings updated",
        settings,
    }))
}

#[derive(Serialize)]
struct UserSettingsBody {
    user_id: Option<Uuid>,
    settings: Map<String, Value>,
}

async fn user(state: web::Data<AppState>, Caller(ctx): Caller) -> Result<HttpResponse, ApiError> {
    let (user_id, settings) = state.services().my_user_settings(&ctx)?;
    Ok(HttpResponse::Ok().json(UserSettingsBody {
        user_id: user_id.map(|u| u.as_uuid()),
        settings,
    }))
}

async fn update_user(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: web::Json<SettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner().settings;
    let settings = state.services().merge_my_user_settings(&ctx, patch).await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        message: "user settings updated",
        settings,
    }))
}

#[derive(Serialize)]
struct EffectiveBody<'a> {
    organization_id: Uuid,
    user_id: Option<Uuid>,
    /// Each key's value and the layer it came from.
    settings: BTreeMap<&'static str, ResolvedBody<'a>>,
    /// The same values without their sources.
    values: BTreeMap<&'static str, &'a Value>,
}

async fn effective(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
) -> Result<HttpResponse, ApiError> {
    let resolved = state.services().effective_settings(&ctx).await?;
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
struct SchemaBody {
    organization_schema: Value,
    user_schema: Value,
    merged_example: Value,
}

/// Any authenticated caller: the schemas are the same for everyone.
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
        assert_eq!(
            body["settings"],
            json!({"quality_thresholds": {"markdown": 9}})
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
