//! Connections to outside services: `/api/v1/connections`, with the
//! original's paths and bodies. Secrets are shown as `***REDACTED***`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use curatore_domain::{Connection, ConnectionId, ConnectionScope, ConnectionTestStatus};
use curatore_service::{
    ConnectionQuery, ConnectionUpdate, MAX_SKIP, NewConnectionRequest, SavedConnection, TestOutcome,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/connections/types").get(types))
        .service(web::resource("/api/v1/connections").get(list).post(create))
        .service(
            web::resource("/api/v1/connections/{id}")
                .get(get)
                .put(update)
                .delete(delete),
        )
        .service(web::resource("/api/v1/connections/{id}/test").post(test))
        .service(web::resource("/api/v1/connections/{id}/set-default").post(set_default));
}

/// A connection type and what its `config` holds.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ConnectionType))]
struct TypeBody {
    #[serde(rename = "type")]
    type_name: &'static str,
    display_name: &'static str,
    description: &'static str,
    /// The same schema under both names: the original renamed one to the other.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    schema: Value,
    /// The JSON Schema of `config`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    config_schema: Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    example_config: Value,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ConnectionTypes))]
struct TypesBody {
    types: Vec<TypeBody>,
}

/// A connection as the API shows it; `config` has its secrets redacted.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct ConnectionBody {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    description: Option<String>,
    connection_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    config: Value,
    is_active: bool,
    is_default: bool,
    #[serde(serialize_with = "crate::dto::rfc3339_opt")]
    last_tested_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::ConnectionTestStatusName>))]
    test_status: Option<ConnectionTestStatus>,
    /// The last test's outcome.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Value>))]
    test_result: Option<Value>,
    /// `healthy`, `unhealthy` or `unknown` (never tested).
    #[cfg_attr(feature = "openapi", schema(value_type = HealthStatus))]
    health_status: &'static str,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::ConnectionScopeName))]
    scope: ConnectionScope,
    owner_user_id: Option<Uuid>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    updated_at: DateTime<Utc>,
    is_managed: bool,
    managed_by: Option<String>,
}

impl From<Connection> for ConnectionBody {
    fn from(c: Connection) -> Self {
        let health_status = match c.test_status {
            Some(ConnectionTestStatus::Healthy) => "healthy",
            Some(ConnectionTestStatus::Unhealthy) => "unhealthy",
            _ => "unknown",
        };
        Self {
            id: c.id.as_uuid(),
            organization_id: c.organization_id.as_uuid(),
            name: c.name,
            description: c.description,
            connection_type: c.connection_type.as_str().to_owned(),
            config: c.config,
            is_active: c.is_active,
            is_default: c.is_default,
            last_tested_at: c.last_tested_at,
            test_status: c.test_status,
            test_result: c.test_result,
            health_status,
            scope: c.scope,
            owner_user_id: c.owner_user_id.map(|u| u.as_uuid()),
            created_at: c.created_at,
            updated_at: c.updated_at,
            is_managed: c.is_managed,
            managed_by: c.managed_by,
        }
    }
}

/// What `health_status` may say.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "snake_case"))]
#[allow(dead_code, reason = "describes `ConnectionBody::health_status`")]
enum HealthStatus {
    Healthy,
    Unhealthy,
    Unknown,
}

/// The outcome of a connection test (scrubbed of every secret).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ConnectionTestOutcome))]
struct OutcomeBody {
    success: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::ConnectionTestStatusName))]
    status: ConnectionTestStatus,
    message: String,
    /// What was learnt (status code, latency, model, …).
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    details: Value,
    error: Option<String>,
}

impl From<TestOutcome> for OutcomeBody {
    fn from(o: TestOutcome) -> Self {
        Self {
            success: o.success,
            status: o.status,
            message: o.message,
            details: o.details,
            error: o.error,
        }
    }
}

/// A saved connection, with the test run on save (if any).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SavedConnectionBody))]
struct SavedBody {
    #[serde(flatten)]
    connection: ConnectionBody,
    test: Option<OutcomeBody>,
}

impl From<SavedConnection> for SavedBody {
    fn from(s: SavedConnection) -> Self {
        Self {
            connection: s.connection.into(),
            test: s.test.map(OutcomeBody::from),
        }
    }
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ConnectionList))]
struct ListBody {
    connections: Vec<ConnectionBody>,
    total: u64,
    /// `true` when `total` is a full count made in the last few seconds and
    /// reused (lists of 10,000 or more), not one made for this response.
    total_estimated: bool,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ConnectionTestBody))]
struct TestBody {
    connection_id: Uuid,
    success: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::ConnectionTestStatusName))]
    status: ConnectionTestStatus,
    message: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    details: Value,
    error: Option<String>,
    tested_at: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ConnectionCreateRequest))]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    description: Option<String>,
    /// One of the `type`s of `GET /api/v1/connections/types`.
    connection_type: String,
    /// As the type's `config_schema` says.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    config: Value,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::ConnectionScopeName))]
    scope: ConnectionScope,
    #[serde(default = "yes")]
    test_on_save: bool,
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ConnectionUpdateRequest))]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    name: Option<String>,
    /// `null` clears it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    description: Option<Option<String>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    config: Option<Value>,
    is_active: Option<bool>,
    is_default: Option<bool>,
    #[serde(default)]
    test_on_save: bool,
    connection_type: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::ConnectionScopeName>))]
    scope: Option<ConnectionScope>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
struct ListQuery {
    connection_type: Option<String>,
    is_active: Option<bool>,
    is_default: Option<bool>,
    /// Items to skip (default 0).
    skip: Option<u64>,
    /// Items per page, 1 to 1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    limit: Option<u64>,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/connections/types", tag = "connections",
    responses((status = 200, description = "The connection types this server knows", body = TypesBody))))]
async fn types(state: web::Data<AppState>, Caller(ctx): Caller) -> Result<HttpResponse, ApiError> {
    let types = state.services().connections(&ctx).types()?;
    Ok(HttpResponse::Ok().json(TypesBody {
        types: types
            .into_iter()
            .map(|t| TypeBody {
                type_name: t.type_name,
                display_name: t.display_name,
                description: t.description,
                config_schema: t.schema.clone(),
                schema: t.schema,
                example_config: t.example_config,
            })
            .collect(),
    }))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/connections", tag = "connections", params(ListQuery),
    responses((status = 200, description = "Connections the caller may see", body = ListBody))))]
async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    // Databases count offsets in signed 64 bits: a larger skip would fail there.
    if q.skip.is_some_and(|skip| skip > MAX_SKIP) {
        return Err(ApiError::query(format!("skip must be at most {MAX_SKIP}")));
    }
    let defaults = ConnectionQuery::default();
    let query = ConnectionQuery {
        connection_type: q.connection_type,
        is_active: q.is_active,
        is_default: q.is_default,
        skip: q.skip.unwrap_or(defaults.skip),
        limit: q.limit.unwrap_or(defaults.limit),
    };
    let page = state.services().connections(&ctx).list(query).await?;
    let total = page.total.unwrap_or(page.items.len() as u64);
    Ok(HttpResponse::Ok().json(ListBody {
        connections: page.items.into_iter().map(ConnectionBody::from).collect(),
        total,
        total_estimated: page.total_estimated,
    }))
}

/// Creates a connection, tested first unless `test_on_save` is false.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/connections", tag = "connections",
    request_body = CreateRequest,
    responses((status = 201, description = "The connection, with the test's outcome", body = SavedBody))))]
async fn create(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let req = NewConnectionRequest {
        name: b.name,
        description: b.description,
        connection_type: b.connection_type,
        config: b.config,
        is_default: b.is_default,
        scope: b.scope,
        test_on_save: b.test_on_save,
    };
    let saved = state.services().connections(&ctx).create(req).await?;
    Ok(HttpResponse::Created().json(SavedBody::from(saved)))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses((status = 200, description = "The connection", body = ConnectionBody))))]
async fn get(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    let c = state.services().connections(&ctx).get(id).await?;
    Ok(HttpResponse::Ok().json(ConnectionBody::from(c)))
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "The changed connection, with the test's outcome", body = SavedBody))))]
async fn update(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let upd = ConnectionUpdate {
        name: b.name,
        description: b.description,
        config: b.config,
        is_active: b.is_active,
        is_default: b.is_default,
        test_on_save: b.test_on_save,
        connection_type: b.connection_type,
        scope: b.scope,
    };
    let id = ConnectionId::from_uuid(*id);
    let saved = state.services().connections(&ctx).update(id, upd).await?;
    Ok(HttpResponse::Ok().json(SavedBody::from(saved)))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses((status = 204, description = "Deleted"))))]
async fn delete(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    state.services().connections(&ctx).delete(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/connections/{id}/test", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses((status = 200, description = "The test's outcome (also stored on the connection)", body = TestBody))))]
async fn test(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    let report = state.services().connections(&ctx).test(id).await?;
    let o = report.outcome;
    Ok(HttpResponse::Ok().json(TestBody {
        connection_id: report.connection_id.as_uuid(),
        success: o.success,
        status: o.status,
        message: o.message,
        details: o.details,
        error: o.error,
        tested_at: report.tested_at,
    }))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/connections/{id}/set-default", tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses((status = 200, description = "The connection, now its type's default", body = ConnectionBody))))]
async fn set_default(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    let c = state.services().connections(&ctx).set_default(id).await?;
    Ok(HttpResponse::Ok().json(ConnectionBody::from(c)))
}

#[cfg(test)]
mod tests {
    use crate::testing::{admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[actix_web::test]
    async fn a_skip_beyond_what_databases_count_is_a_bad_query_parameter() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/connections?skip=9223372036854775808")
                .insert_header(auth),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_query_parameter");
    }

    #[actix_web::test]
    async fn a_body_that_is_not_a_json_object_is_refused() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, body) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/connections")
                .insert_header(auth)
                // serde would read the struct's fields from this array, in order.
                .set_json(json!(["x", null, "llm", {}, false, "organization", false])),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_body");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("JSON object"),
            "{body}"
        );
    }
}
