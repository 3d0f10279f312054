//! In-process specifications: the application mounted with [`configure`]
//! (as an embedding service would), over a real SQLite file, called with
//! `actix_web::test` — no port, no process.

use crate::{AppState, configure, request_context};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test};
use curatore_auth::{
    ApiKeyFormat, Argon2Settings, PasswordHasher, PasswordPolicy, SigningAlgorithm, TokenSettings,
    TokenSigner,
};
use curatore_domain::{DatabaseUrl, EmailAddress, Secret, Slug, Username};
use curatore_migration::{Migrator, MigratorTrait};
use curatore_persistence::{Database, DatabaseOptions};
use curatore_service::{
    AuthConfig, DefaultOrganization, InitialAdmin, LoginLimits, RegistrationLimits, Services,
};
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const PASSWORD: &str = "a-long-admin-password";

fn config() -> AuthConfig {
    AuthConfig {
        enabled: true,
        signer: TokenSigner::new(TokenSettings {
            secret: Secret::new("web-spec-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye"),
            algorithm: SigningAlgorithm::HS256,
            issuer: "curatore".into(),
            audience: "curatore".into(),
            access_ttl: Duration::from_secs(600),
        }),
        hasher: PasswordHasher::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap(),
        password_policy: PasswordPolicy::default(),
        api_keys: ApiKeyFormat::new("cur_"),
        refresh_ttl: Duration::from_secs(3600),
        refresh_reuse_grace: Duration::ZERO,
        allow_registration: false,
        trusted_proxies: vec![],
        client_networks: curatore_service::ClientNetworks::default(),
        login_limits: LoginLimits {
            per_account: 5,
            per_ip: 50,
            window: Duration::from_secs(60),
        },
        registration_limits: RegistrationLimits {
            per_ip: 5,
            window: Duration::from_secs(3600),
        },
        cache_ttl: Duration::ZERO,
    }
}

/// A seeded database and the state over it (keep the `TestDatabase` alive).
pub(crate) async fn state() -> (TestDatabase, AppState) {
    let db = TestDatabase::sqlite();
    let database = Database::connect(&DatabaseOptions::new(
        DatabaseUrl::parse(&db.url()).unwrap(),
    ))
    .await
    .unwrap();
    Migrator::up(database.connection(), None).await.unwrap();
    let services = Services::new(database, DefaultOrganization::default(), config());
    services
        .seed_initial_tenant(InitialAdmin {
            organization_name: "Acme".into(),
            organization_slug: Slug::parse("acme").unwrap(),
            admin_email: EmailAddress::parse("admin@acme.example").unwrap(),
            admin_username: Username::parse("admin").unwrap(),
            admin_password: Secret::new(PASSWORD),
            admin_full_name: None,
        })
        .await
        .unwrap();
    (db, AppState::from_services(services))
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
