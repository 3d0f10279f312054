//! The OpenAPI 3.1 document, generated from the handlers and bodies
//! (`#[utoipa::path]` on each handler, `ToSchema` on each body), served at
//! `GET /openapi.json`, with Swagger UI at `GET /docs` (feature `swagger-ui`; its assets are
//! vendored in the `utoipa-swagger-ui` crate: nothing is fetched from
//! elsewhere at build or run time).
//!
//! Every operation gets a `default` response with the one error body, whose
//! `code` is described with every [`ErrorCode`] and its status; operations
//! are secured by a bearer token or an API key unless they say otherwise
//! (`security(())`). How to describe a new route: `docs/openapi.md`.

use crate::ErrorCode;
use crate::routes;
use actix_web::{HttpResponse, web};
use std::borrow::Cow;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, SecurityRequirement};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

/// The error body every failure answers with.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code, reason = "describes the JSON written by `ApiError`")]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
    /// A longer explanation for people, when there is one.
    #[schema(nullable = false)]
    detail: Option<String>,
}

/// What failed: a stable code to branch on and a message for people.
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes the JSON written by `ApiError`")]
struct ErrorDetail {
    #[schema(value_type = ErrorCodeName)]
    code: String,
    message: String,
}

fn error_code_schema() -> Schema {
    let mut table = String::from(
        "A stable code; clients branch on it. Each code is always sent with the same status:\n\n",
    );
    for code in ErrorCode::ALL {
        table.push_str(&format!("- `{}`: {}\n", code.as_str(), code.status()));
    }
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
        .description(Some(table))
        .into()
}

/// A role in an organization.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "describes `curatore_domain::Role`")]
pub(crate) enum RoleName {
    OrgAdmin,
    Member,
    Viewer,
}

/// A role as the original web UI's forms send it (`/api/v1/users…` only):
/// `admin` is read as `org_admin` and `user` as `member`; answers use
/// `org_admin`, `member` and `viewer`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "describes the roles `/api/v1/users…` accepts")]
pub(crate) enum UiRoleName {
    OrgAdmin,
    Member,
    Viewer,
    Admin,
    User,
}

/// Who may use a connection.
#[derive(ToSchema)]
#[schema(as = ConnectionScope, rename_all = "snake_case")]
#[allow(dead_code, reason = "describes `curatore_domain::ConnectionScope`")]
pub(crate) enum ConnectionScopeName {
    Organization,
    User,
}

/// The outcome of a connection's last test.
#[derive(ToSchema)]
#[schema(as = ConnectionTestStatus, rename_all = "snake_case")]
#[allow(
    dead_code,
    reason = "describes `curatore_domain::ConnectionTestStatus`"
)]
pub(crate) enum ConnectionTestStatusName {
    Healthy,
    Unhealthy,
    NotTested,
}

/// Where a resolved setting came from, highest precedence first.
#[derive(ToSchema)]
#[schema(as = SettingSource, rename_all = "snake_case")]
#[allow(dead_code, reason = "describes `curatore_domain::setting_keys::Layer`")]
pub(crate) enum LayerName {
    Environment,
    User,
    Organization,
    System,
    Default,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Curatore API",
        description = "Organizations, users, roles, API keys, settings and the audit trail. \
            Every `/api/v1/...` operation also answers under `/api/...` (deprecated: \
            `Deprecation: true` and a `Link` to the `/api/v1` path). Rate-limited answers \
            carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; over \
            a limit, 429 `rate_limited` with `Retry-After`.",
        license(name = "MIT"),
    ),
    paths(
        routes::health::livez,
        routes::health::readyz,
        routes::health::backend,
        routes::health::backend_alias,
        routes::health::database,
        routes::health::comprehensive,
        routes::health::ui_health,
        routes::health::llm_status,
        routes::health::extractor_status,
        routes::component_health::llm,
        routes::component_health::extraction,
        routes::component_health::sharepoint,
        routes::component_health::redis,
        routes::component_health::celery,
        routes::component_health::docling,
        routes::auth::register,
        routes::auth::login,
        routes::auth::refresh,
        routes::auth::logout,
        routes::auth::me,
        routes::auth::change_password,
        routes::auth::redeem_reset_token,
        routes::api_keys::list,
        routes::api_keys::create,
        routes::api_keys::rename,
        routes::api_keys::revoke,
        routes::organizations::me,
        routes::organizations::update_me,
        routes::organizations::settings,
        routes::organizations::merge_settings,
        routes::organizations::list,
        routes::organizations::create,
        routes::organizations::by_id,
        routes::organizations::update_by_id,
        routes::users::list,
        routes::users::invite,
        routes::users::show,
        routes::users::update,
        routes::users::deactivate,
        routes::users::reactivate,
        routes::users::reset_password,
        routes::ui_users::list,
        routes::ui_users::invite,
        routes::ui_users::show,
        routes::ui_users::update,
        routes::ui_users::deactivate,
        routes::ui_users::set_password,
        routes::connections::types,
        routes::connections::list,
        routes::connections::create,
        routes::connections::get,
        routes::connections::update,
        routes::connections::delete,
        routes::connections::test,
        routes::connections::set_default,
        routes::settings::system,
        routes::settings::update_system,
        routes::settings::organization,
        routes::settings::update_organization,
        routes::settings::user,
        routes::settings::update_user,
        routes::settings::effective,
        routes::settings::schema,
        routes::audit_logs::list,
        routes::audit_logs::feed,
        routes::audit_export::export,
        crate::metrics::scrape,
    ),
    components(schemas(
        ErrorBody,
        ErrorCodeName,
        RoleName,
        UiRoleName,
        ConnectionScopeName,
        ConnectionTestStatusName,
        LayerName
    )),
    modifiers(&Conventions),
    tags(
        (name = "health", description = "Liveness, readiness and health reports (never rate limited)"),
        (name = "auth", description = "Sessions: register, log in, refresh, log out, who am I"),
        (name = "api-keys", description = "API keys (shown once at creation)"),
        (name = "organizations", description = "The caller's organization, and instance administration"),
        (name = "users", description = "Users of the caller's organization (`/api/v1/users…`: the original web UI's shapes)"),
        (name = "connections", description = "Connections to outside services (secrets are never shown)"),
        (name = "settings", description = "Settings by layer, and their effective values"),
        (name = "audit", description = "The audit trail"),
        (name = "metrics", description = "Prometheus metrics"),
    )
)]
struct ApiDoc;

/// Security schemes, the default security, and the error response on
/// every operation.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /api/v1/auth/login`; an API key is accepted \
                         as a bearer token too.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key from `POST /api/v1/api-keys`.",
            ))),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`METRICS_TOKEN`, when the server has one."))
                    .build(),
            ),
        );
        doc.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("api_key", Vec::<String>::new()),
        ]);
        let error = ResponseBuilder::new()
            .description(
                "An error in the one JSON shape; `error.code` says which (see `ErrorCode`). \
                 429 and 503 carry `Retry-After`.",
            )
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(Ref::from_schema_name("Error")))),
            )
            .build();
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
                op.responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| RefOr::T(error.clone()));
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The document (built once).
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// The document as pretty JSON with a final newline, as `docs/openapi.json` holds it.
pub fn document_json() -> String {
    let mut text = serde_json::to_string_pretty(document()).unwrap_or_default();
    text.push('\n');
    text
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").get(openapi_json));
    #[cfg(feature = "swagger-ui")]
    cfg.service(web::resource("/docs").get(docs_redirect))
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .config(utoipa_swagger_ui::Config::from("/openapi.json").try_it_out_enabled(true)),
        );
}

/// The document with the API-key scheme describing the scopes this server
/// knows (ours and an embedding service's).
async fn openapi_json(state: web::Data<crate::AppState>) -> HttpResponse {
    let mut doc = document().clone();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key".to_owned(),
                api_key_description(state.services().scopes()),
            ))),
        );
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    HttpResponse::Ok()
        .content_type("application/json")
        .body(text)
}

/// What the API-key scheme says of scopes.
fn api_key_description(scopes: &curatore_service::ScopeRegistry) -> String {
    let resources: Vec<String> = scopes
        .resources()
        .map(|(name, about)| format!("`{name}` ({about})"))
        .collect();
    format!(
        "An API key from `POST /api/v1/api-keys`. Its `scopes` limit it: `read` or `write` \
         for every resource, or `<resource>:read` / `<resource>:write` for one of: {}. \
         Without scopes a key may do what its user's role allows.",
        resources.join(", ")
    )
}

#[cfg(feature = "swagger-ui")]
async fn docs_redirect() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

impl PartialSchema for ErrorCodeName {
    fn schema() -> RefOr<Schema> {
        RefOr::T(error_code_schema())
    }
}

impl ToSchema for ErrorCodeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// Every [`ErrorCode`] as a schema of its own (`#/components/schemas/ErrorCode`).
pub(crate) struct ErrorCodeName;

#[cfg(test)]
mod tests {
    use super::document;
    use crate::testing::state;
    use actix_web::test as web_test;
    use std::collections::BTreeSet;
    use std::path::Path;

    const SNAPSHOT: &str = "../../docs/openapi.json";

    /// `UPDATE_OPENAPI=1 cargo test -p curatore-web openapi` rewrites the
    /// snapshot (`just openapi` does the same).
    #[actix_web::test]
    async fn the_served_document_matches_the_committed_snapshot() {
        let (_db, state) = state().await;
        let app = web_test::init_service(crate::app(state)).await;
        let res = web_test::call_service(
            &app,
            web_test::TestRequest::get()
                .uri("/openapi.json")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        let served = String::from_utf8(web_test::read_body(res).await.to_vec()).unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
        if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
            std::fs::write(&path, &served).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            served == committed,
            "the served OpenAPI document differs from docs/openapi.json; if the change is \
             intended, run `UPDATE_OPENAPI=1 cargo test -p curatore-web openapi` (or \
             `just openapi`) and commit the result"
        );
    }

    /// An embedding service's resources are listed where the document says
    /// what API-key scopes are.
    #[actix_web::test]
    async fn registered_scopes_are_described() {
        let db = curatore_test_support::TestDatabase::sqlite();
        let mut config =
            curatore_service::ServicesConfig::new(curatore_service::testing::auth_config());
        config
            .scopes
            .register("documents", "documents and their summaries")
            .unwrap();
        let (services, _) = curatore_service::testing::open(&db.url(), config).await;
        let app =
            web_test::init_service(crate::app(crate::AppState::from_services(services))).await;
        let res = web_test::call_service(
            &app,
            web_test::TestRequest::get()
                .uri("/openapi.json")
                .to_request(),
        )
        .await;
        let doc: serde_json::Value = web_test::read_body_json(res).await;
        let said = doc["components"]["securitySchemes"]["api_key"]["description"]
            .as_str()
            .unwrap();
        assert!(
            said.contains("`documents` (documents and their summaries)"),
            "{said}"
        );
        assert!(said.contains("`users`"), "{said}");
    }

    /// Every path a route module registers is described (a new route
    /// without `#[utoipa::path]` fails here).
    #[test]
    fn every_registered_route_is_in_the_document() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut registered = BTreeSet::new();
        let files = std::fs::read_dir(dir.join("routes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .chain([dir.join("metrics.rs")]);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for piece in text.split("web::resource(\"").skip(1) {
                registered.insert(piece.split('"').next().unwrap().to_owned());
            }
        }
        assert!(registered.len() > 20, "{registered:?}");
        let described: BTreeSet<String> = document().paths.paths.keys().cloned().collect();
        let missing: Vec<_> = registered.difference(&described).collect();
        assert!(
            missing.is_empty(),
            "routes without #[utoipa::path]: {missing:?}"
        );
    }

    #[test]
    fn every_error_code_and_both_security_schemes_are_described() {
        let json = serde_json::to_value(document()).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        let codes = json["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(codes, crate::ErrorCode::ALL.len());
        let schemes = &json["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"]["default"].is_object(),
                    "{method} {path} has no error response"
                );
            }
        }
    }

    #[actix_web::test]
    async fn the_docs_page_is_served_from_the_binary() {
        let (_db, state) = state().await;
        let app = web_test::init_service(crate::app(state)).await;
        let res =
            web_test::call_service(&app, web_test::TestRequest::get().uri("/docs").to_request())
                .await;
        assert_eq!(res.status(), 302);
        assert_eq!(res.headers().get("location").unwrap(), "/docs/");
        for asset in [
            "/docs/",
            "/docs/swagger-ui-bundle.js",
            "/docs/swagger-initializer.js",
        ] {
            let res =
                web_test::call_service(&app, web_test::TestRequest::get().uri(asset).to_request())
                    .await;
            assert_eq!(res.status(), 200, "{asset}");
            let body = web_test::read_body(res).await;
            assert!(body.len() > 100, "{asset}");
        }
    }
}
