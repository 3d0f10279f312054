//! Register, log in, refresh, log out, and who am I.

use crate::auth::{Caller, client_of, resolve_optional, resolve_pending};
use crate::dto::{OrganizationBody, UserBody};
use crate::error::ApiError;
use crate::input::Json;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use curatore_domain::{Role, Secret};
use curatore_service::{MailStatus, Registration, Session};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/auth/register").post(register))
        .service(web::resource("/api/v1/auth/login").post(login))
        .service(web::resource("/api/v1/auth/refresh").post(refresh))
        .service(web::resource("/api/v1/auth/logout").post(logout))
        .service(web::resource("/api/v1/auth/me").get(me))
        .service(web::resource("/api/v1/auth/change-password").post(change_password))
        .service(web::resource("/api/v1/auth/reset-password").post(redeem_reset_token))
        .service(web::resource("/api/v1/auth/forgot-password").post(forgot_password));
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    /// Signed in with a temporary password: only change-password (and
    /// logout) will answer until it is changed.
    password_change_required: bool,
    user: UserBody,
}

/// A session as the API hands it out: never cached by anyone on the way.
fn tokens(session: Session) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            password_change_required: session.user.password_change_required,
            user: UserBody::from(&session.user),
            refresh_token: session.refresh_token.expose().to_owned(),
            access_token: session.access_token,
            token_type: "bearer",
            expires_in: session.expires_in,
        })
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email_or_username: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    password: Secret,
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in", body = TokenResponse))))]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_of(&req, &state);
    let session = state
        .services()
        .anonymous(&client)
        .login(&body.email_or_username, &body.password)
        .await?;
    Ok(tokens(session))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    refresh_token: Secret,
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses((status = 200, description = "A new access token and a rotated refresh token", body = TokenResponse))))]
async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_of(&req, &state);
    let session = state
        .services()
        .anonymous(&client)
        .refresh(&body.refresh_token)
        .await?;
    Ok(tokens(session))
}

#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct LogoutRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    refresh_token: Option<Secret>,
}

/// Ends the session of the refresh token sent, or else of the access token.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security((), ("bearer" = []), ("api_key" = [])),
    request_body(content = Option<LogoutRequest>, description = "The refresh token whose session ends; without it, the access token's"),
    responses((status = 204, description = "The session ended"))))]
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: Option<LogoutRequest> = crate::input::optional_json(&req, &body)?;
    let services = state.services();
    match body.and_then(|b| b.refresh_token) {
        Some(token) => {
            let client = client_of(&req, &state);
            services.anonymous(&client).logout(&token).await?;
        }
        None => {
            let ctx = resolve_pending(&req).await?;
            services.account(&ctx).logout().await?;
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    email: String,
    username: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    password: Secret,
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RoleName>))]
    role: Option<Role>,
    /// Sent by the original's registration form; a registration joins the
    /// admin's organization (or, open, the default one), never a new one,
    /// so it is accepted and not used.
    #[serde(rename = "organization_name")]
    _organization_name: Option<String>,
}

/// The original's user profile (its `UserResponse`): the user's fields at the
/// top level, and the organization's name.
#[derive(Serialize)]
struct ProfileBody {
    #[serde(flatten)]
    user: UserBody,
    organization_name: Option<String>,
}

impl From<RegisterRequest> for Registration {
    fn from(r: RegisterRequest) -> Self {
        Self {
            email: r.email,
            username: r.username,
            password: r.password,
            full_name: r.full_name,
            role: r.role,
        }
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    security((), ("bearer" = []), ("api_key" = [])),
    request_body = RegisterRequest,
    responses((status = 201, description = "The user", body = UserBody))))]
async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let services = state.services();
    let registration = body.into_inner().into();
    let registered = match resolve_optional(&req).await? {
        Some(ctx) => services.users(&ctx).register(registration).await?,
        None => {
            let client = client_of(&req, &state);
            services.anonymous(&client).register(registration).await?
        }
    };
    Ok(HttpResponse::Created().json(ProfileBody {
        user: UserBody::from(&registered.user),
        organization_name: Some(registered.organization_name),
    }))
}

/// Who the caller is: the original's flat profile at the top level (the
/// user's fields are null for a caller without a user, such as an API key of
/// no user or the system principal with authentication off), and beside it
/// the nested user, the organization, the auth method and the key's scopes.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct MeResponse {
    id: Option<Uuid>,
    email: Option<String>,
    username: Option<String>,
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RoleName))]
    role: &'static str,
    is_active: bool,
    is_verified: bool,
    organization_id: Uuid,
    organization_name: String,
    #[serde(serialize_with = "crate::dto::rfc3339_opt")]
    created_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::dto::rfc3339_opt")]
    last_login_at: Option<DateTime<Utc>>,
    user: Option<UserBody>,
    organization: OrganizationBody,
    auth_method: &'static str,
    scopes: Vec<String>,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = MeResponse))))]
async fn me(Caller(ctx): Caller) -> HttpResponse {
    let p = ctx.principal();
    let user = p.user();
    HttpResponse::Ok().json(MeResponse {
        id: user.map(|u| u.id.as_uuid()),
        email: user.map(|u| u.email.as_str().to_owned()),
        username: user.map(|u| u.username.as_str().to_owned()),
        full_name: user.and_then(|u| u.full_name.clone()),
        role: p.role().as_str(),
        is_active: user.is_none_or(|u| u.is_active),
        is_verified: user.is_some_and(|u| u.is_verified),
        organization_id: p.organization_id().as_uuid(),
        organization_name: p.organization().name.clone(),
        created_at: user.map(|u| u.created_at),
        last_login_at: user.and_then(|u| u.last_login_at),
        user: user.map(UserBody::from),
        organization: OrganizationBody::from(p.organization()),
        auth_method: p.method(),
        scopes: p.scopes().to_vec(),
    })
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct ChangePasswordRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    current_password: Secret,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    new_password: Secret,
}

/// Changes the caller's password; the caller's other sessions end.
/// A session signed in with a temporary password may call this (and logout) only.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; the caller's other sessions ended"))))]
async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = resolve_pending(&req).await?;
    state
        .services()
        .account(&ctx)
        .change_password(&body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct RedeemResetTokenRequest {
    /// The one-time token from `POST /api/v1/organizations/me/users/{id}/reset-password`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    token: Secret,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    new_password: Secret,
}

/// Sets a new password with the one-time token an org_admin issued; no
/// sign-in needed, the token is the credential.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth", security(()),
    request_body = RedeemResetTokenRequest,
    responses((status = 204, description = "Changed; the user's sessions ended"))))]
async fn redeem_reset_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<RedeemResetTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_of(&req, &state);
    state
        .services()
        .anonymous(&client)
        .redeem_reset_token(&body.token, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct ForgotPasswordRequest {
    /// The account's e-mail address.
    email: String,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct ForgotPasswordBody {
    message: &'static str,
    /// Whether this server sends mail at all; the answer is otherwise the
    /// same for every address, known or not.
    mail_configured: bool,
}

/// Asks for a password reset link by e-mail. The answer is the same whether
/// or not the address belongs to an account (no enumeration); when it does,
/// a one-time link to `PUBLIC_URL/console/reset?token=…` is mailed.
/// Counted per client address like logins.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth", security(()),
    request_body = ForgotPasswordRequest,
    responses((status = 202, description = "Accepted; a link is mailed if the address belongs to an account", body = ForgotPasswordBody))))]
async fn forgot_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_of(&req, &state);
    let status = state
        .services()
        .anonymous(&client)
        .request_password_reset(&body.email)
        .await?;
    let body = match status {
        MailStatus::NotConfigured => ForgotPasswordBody {
            message: "this server sends no mail; ask an org_admin to reset your password",
            mail_configured: false,
        },
        _ => ForgotPasswordBody {
            message: "if the address belongs to an account, a link to choose a new password is on its way",
            mail_configured: true,
        },
    };
    Ok(HttpResponse::Accepted()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

#[cfg(test)]
mod tests {
    use crate::testing::{PASSWORD, admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[actix_web::test]
    async fn forgot_password_without_mail_says_so_alike_for_every_address() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let mut answers = Vec::new();
        for email in ["admin@test.example", "nobody@test.example"] {
            answers.push(
                call(
                    &app,
                    TestRequest::post()
                        .uri("/api/v1/auth/forgot-password")
                        .set_json(json!({ "email": email })),
                )
                .await,
            );
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0].0, 202);
        assert_eq!(answers[0].1["mail_configured"], false);
        let (status, body) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/forgot-password")
                .set_json(json!({ "email": "not an address" })),
        )
        .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("validation_failed"))
        );
    }

    #[actix_web::test]
    async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let mut answers = Vec::new();
        for (who, password) in [("admin", "wrong-password"), ("nobody", PASSWORD)] {
            answers.push(
                call(
                    &app,
                    TestRequest::post()
                        .uri("/api/v1/auth/login")
                        .set_json(json!({"email_or_username": who, "password": password})),
                )
                .await,
            );
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0].0, 401);
        assert_eq!(answers[0].1["error"]["code"], "invalid_credentials");
    }

    #[actix_web::test]
    async fn changing_the_password_ends_the_other_sessions_and_keeps_this_one() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let this = admin(&app).await;
        let (_, other) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "admin", "password": PASSWORD})),
        )
        .await;
        let change = |current: &str| {
            TestRequest::post()
                .uri("/api/v1/auth/change-password")
                .insert_header(this.clone())
                .set_json(
                    json!({"current_password": current, "new_password": "another-long-password"}),
                )
        };
        let (status, body) = call(&app, change("wrong-password")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("validation_failed"))
        );
        let (status, _) = call(&app, change(PASSWORD)).await;
        assert_eq!(status, 204);
        let me = |auth: (&'static str, String)| {
            TestRequest::get()
                .uri("/api/v1/auth/me")
                .insert_header(auth)
        };
        assert_eq!(
            call(&app, me(this.clone())).await.0,
            200,
            "this session stays"
        );
        let other_auth = (
            "authorization",
            format!("Bearer {}", other["access_token"].as_str().unwrap()),
        );
        assert_eq!(
            call(&app, me(other_auth)).await.0,
            401,
            "the other session ended"
        );
        let (status, _) = call(
            &app,
            TestRequest::post().uri("/api/v1/auth/login").set_json(
                json!({"email_or_username": "admin", "password": "another-long-password"}),
            ),
        )
        .await;
        assert_eq!(status, 200);
    }

    #[actix_web::test]
    async fn me_shows_the_caller_and_a_refresh_rotates_the_token() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (status, me) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/auth/me")
                .insert_header(auth),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            (me["role"].clone(), me["auth_method"].clone()),
            (json!("org_admin"), json!("jwt"))
        );
        // The original's flat profile, beside the nested user.
        assert_eq!(me["username"], "admin");
        assert_eq!(me["id"], me["user"]["id"]);
        assert_eq!(me["organization_id"], me["organization"]["id"]);
        assert_eq!(me["organization_name"], me["organization"]["name"]);
        assert_eq!(me["is_active"], true);
        let (_, login) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "admin", "password": PASSWORD})),
        )
        .await;
        let first = login["refresh_token"].clone();
        let (status, refreshed) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/refresh")
                .set_json(json!({"refresh_token": first})),
        )
        .await;
        assert_eq!(status, 200);
        assert_ne!(refreshed["refresh_token"], first);
    }
}
