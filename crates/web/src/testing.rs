//! In-process specifications: the application mounted with [`configure`]
//! (as an embedding service would), over a real SQLite file, called with
//! `actix_web::test` — no port, no process.

use crate::{AppState, configure, request_context};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test};
use curatore_service::testing;
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};

pub(crate) const PASSWORD: &str = testing::ADMIN_PASSWORD;

/// A seeded database and the state over it (keep the `TestDatabase` alive).
pub(crate) async fn state() -> (TestDatabase, AppState) {
    let db = TestDatabase::sqlite();
    let (services, _operator) = testing::seeded(&db.url(), "acme").await;
    (db, AppState::from_services(services))
}

/// A second handle on the test's database, for rows written behind the
/// services' back.
pub(crate) async fn database(db: &TestDatabase) -> curatore_persistence::Database {
    let url = curatore_domain::DatabaseUrl::parse(&db.url()).unwrap();
    curatore_persistence::Database::connect(&curatore_persistence::DatabaseOptions::new(url))
        .await
        .unwrap()
}

/// The application as an embedding service would mount it.
pub(crate) async fn app(
    state: AppState,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(
        App::new()
            .configure(configure(state))
            .wrap(actix_web::middleware::from_fn(request_context)),
    )
    .await
}

/// Status and JSON body of one request.
pub(crate) async fn call<S, B>(app: &S, req: test::TestRequest) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status().as_u16();
    let body = test::read_body(res).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `Authorization` for the seeded admin.
pub(crate) async fn admin<S, B>(app: &S) -> (&'static str, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, body) = call(
        app,
        test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({"email_or_username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        "authorization",
        format!("Bearer {}", body["access_token"].as_str().unwrap()),
    )
}
