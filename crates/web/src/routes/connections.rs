//! Connections to outside services: `/api/v1/connections`, with the
//! original's paths and bodies. Secrets are shown as `***REDACTED***`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use curatore_domain::{Connection, ConnectionId, ConnectionScope, ConnectionTestStatus};
use curatore_service::{
    ConnectionQuery, ConnectionUpdate, NewConnectionRequest, SavedConnection, TestOutcome,
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

#[derive(Serialize)]
struct TypeBody {
    #[serde(rename = "type")]
    type_name: &'static str,
    display_name: &'static str,
    description: &'static str,
    /// The same schema under both names: the original renamed one to the other.
    schema: Value,
    config_schema: Value,
    example_config: Value,
}

#[derive(Serialize)]
struct TypesBody {
    types: Vec<TypeBody>,
}

/// A connection as the API shows it; `config` has its secrets redacted.
#[derive(Serialize)]
struct ConnectionBody {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    description: Option<String>,
    connection_type: String,
    config: Value,
    is_active: bool,
    is_default: bool,
    last_tested_at: Option<DateTime<Utc>>,
    test_status: Option<ConnectionTestStatus>,
    test_result: Option<Value>,
    /// `healthy`, `unhealthy` or `unknown` (never tested).
    health_status: &'static str,
    scope: ConnectionScope,
    owner_user_id: Option<Uuid>,
    created_at: DateTime<Utc>,
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

/// A saved connection, with the test run on save (if any).
#[derive(Serialize)]
struct SavedBody {
    #[serde(flatten)]
    connection: ConnectionBody,
    test: Option<TestOutcome>,
}

impl From<SavedConnection> for SavedBody {
    fn from(s: SavedConnection) -> Self {
        Self {
            connection: s.connection.into(),
            test: s.test,
        }
    }
}

#[derive(Serialize)]
struct ListBody {
    connections: Vec<ConnectionBody>,
    total: u64,
}

#[derive(Serialize)]
struct TestBody {
    connection_id: Uuid,
    success: bool,
    status: ConnectionTestStatus,
    message: String,
    details: Value,
    error: Option<String>,
    tested_at: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    description: Option<String>,
    connection_type: String,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    scope: ConnectionScope,
    #[serde(default = "yes")]
    test_on_save: bool,
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    config: Option<Value>,
    is_active: Option<bool>,
    is_default: Option<bool>,
    #[serde(default)]
    test_on_save: bool,
    connection_type: Option<String>,
    scope: Option<ConnectionScope>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    connection_type: Option<String>,
    is_active: Option<bool>,
    is_default: Option<bool>,
    skip: Option<u64>,
    limit: Option<u64>,
}

async fn types(state: web::Data<AppState>, Caller(ctx): Caller) -> Result<HttpResponse, ApiError> {
    let types = state.services().connection_types(&ctx)?;
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

async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let defaults = ConnectionQuery::default();
    let query = ConnectionQuery {
        connection_type: q.connection_type,
        is_active: q.is_active,
        is_default: q.is_default,
        skip: q.skip.unwrap_or(defaults.skip),
        limit: q.limit.unwrap_or(defaults.limit),
    };
    let page = state.services().list_connections(&ctx, query).await?;
    let total = page.total.unwrap_or(page.items.len() as u64);
    Ok(HttpResponse::Ok().json(ListBody {
        connections: page.items.into_iter().map(ConnectionBody::from).collect(),
        total,
    }))
}

async fn create(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: web::Json<CreateRequest>,
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
    let saved = state.services().create_connection(&ctx, req).await?;
    Ok(HttpResponse::Created().json(SavedBody::from(saved)))
}

async fn get(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    let c = state.services().get_connection(&ctx, id).await?;
    Ok(HttpResponse::Ok().json(ConnectionBody::from(c)))
}

async fn update(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: web::Json<UpdateRequest>,
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
    let saved = state.services().update_connection(&ctx, id, upd).await?;
    Ok(HttpResponse::Ok().json(SavedBody::from(saved)))
}

async fn delete(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    state.services().delete_connection(&ctx, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn test(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    let report = state.services().test_connection(&ctx, id).await?;
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

async fn set_default(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ConnectionId::from_uuid(*id);
    let c = state.services().set_default_connection(&ctx, id).await?;
    Ok(HttpResponse::Ok().json(ConnectionBody::from(c)))
}
