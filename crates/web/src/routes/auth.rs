//! Register, log in, refresh, log out, and who am I.

use crate::audit::AuditContext;
use crate::auth::{AnyRole, CheckedLogin, Principal, check_login};
use crate::client;
use crate::dto::{OrganizationBody, UserBody};
use crate::error::ApiError;
use crate::input::{NAME_MAX, optional_text};
use crate::state::AppState;
use crate::tenant;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use curatore_auth::{PasswordCheck, generate_refresh_token, hash_refresh_token};
use curatore_domain::{
    AuditStatus, EmailAddress, NewRefreshToken, NewUser, Organization, Role, Secret, User, Username,
};
use curatore_persistence::{AccessSnapshot, RotateOutcome};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/auth/register").post(register))
        .service(web::resource("/api/v1/auth/login").post(login))
        .service(web::resource("/api/v1/auth/refresh").post(refresh))
        .service(web::resource("/api/v1/auth/logout").post(logout))
        .service(web::resource("/api/v1/auth/me").get(me));
}

/// The one answer for every failed login, whatever the reason.
fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "invalid email/username or password",
    )
}

fn invalid_refresh_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "the refresh token is not valid",
    )
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    user: UserBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email_or_username: String,
    password: Secret,
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth();
    let audit = AuditContext::new(&req, &state);
    let ip = client::client_ip(&req, &auth.config.trusted_proxies);
    let LoginRequest {
        email_or_username: login,
        password,
    } = body.into_inner();
    // Limits, user lookup and verification, in the order that makes the
    // limits hold under parallel and distributed attempts.
    let CheckedLogin {
        user,
        check,
        attempt,
    } = check_login(&state, &login, &password, ip).await?;
    let db = state.database();
    let Some(user) = user else {
        attempt.failed();
        db.audit_logs()
            .record(audit.entry(
                "login",
                None,
                None,
                None,
                json!({"reason": "unknown_user"}),
                AuditStatus::Failure,
                Some("invalid credentials"),
            )?)
            .await?;
        return Err(invalid_credentials());
    };
    let organization = db.organizations().get(user.organization_id).await?;
    let refused = match (&check, &organization) {
        (PasswordCheck::Invalid, _) => Some("wrong_password"),
        (_, None) => Some("organization_missing"),
        _ if !user.is_active => Some("user_inactive"),
        (_, Some(org)) if !org.is_active => Some("organization_inactive"),
        _ => None,
    };
    let (Some(organization), None) = (organization, refused) else {
        attempt.failed();
        db.audit_logs()
            .record(audit.entry(
                "login",
                Some(user.organization_id),
                Some(user.id),
                Some(("user", user.id.as_uuid())),
                json!({"reason": refused}),
                AuditStatus::Failure,
                Some("invalid credentials"),
            )?)
            .await?;
        return Err(invalid_credentials());
    };
    attempt.succeeded();
    // Hashing happens before the write transaction: SQLite writers wait for
    // each other, so nothing slow may run while holding the turn.
    let rehashed = match check {
        PasswordCheck::Valid { needs_rehash: true } => {
            Some(auth.config.hasher.hash(&password).await?)
        }
        _ => None,
    };
    let family = Uuid::new_v4();
    let refresh = generate_refresh_token();
    let tx = db.begin().await?;
    if let Some(hash) = &rehashed {
        tx.users().set_password_hash(user.id, hash).await?;
    }
    tx.refresh_tokens()
        .create(NewRefreshToken {
            user_id: user.id,
            family_id: family,
            token_hash: refresh.hash.clone(),
            expires_at: chrono::Utc::now() + auth.config.refresh_ttl,
            ip_address: Some(audit.ip().to_owned()),
            user_agent: audit.user_agent(),
        })
        .await?;
    let user = tx.users().record_login(user.id, chrono::Utc::now()).await?;
    tx.audit_logs()
        .record(audit.entry(
            "login",
            Some(organization.id),
            Some(user.id),
            Some(("user", user.id.as_uuid())),
            json!({"rehashed": rehashed.is_some()}),
            AuditStatus::Success,
            None,
        )?)
        .await?;
    tx.commit().await?;
    if rehashed.is_some() {
        auth.cache.forget_user(user.id);
    }
    respond_with_tokens(&state, &user, &organization, family, refresh.token)
}

fn respond_with_tokens(
    state: &AppState,
    user: &User,
    organization: &Organization,
    family: Uuid,
    refresh_token: Secret,
) -> Result<HttpResponse, ApiError> {
    let access =
        state
            .auth()
            .config
            .signer
            .issue_access(user.id, organization.id, user.role, family)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token: access.token,
            refresh_token: refresh_token.expose().to_owned(),
            token_type: "bearer",
            expires_in: access.expires_in,
            user: UserBody::from(user),
        }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: Secret,
}

async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let audit = AuditContext::new(&req, &state);
    let presented = hash_refresh_token(body.refresh_token.expose());
    // Derived, not random: a parallel or retried refresh of the same token
    // computes the same successor, which the grace can then hand out again.
    let auth = state.auth();
    let successor = auth
        .config
        .signer
        .refresh_successor(body.refresh_token.expose());
    let db = state.database();
    let tx = db.begin().await?;
    let outcome = tx
        .refresh_tokens()
        .rotate_with_grace(
            &presented,
            &successor.hash,
            auth.config.refresh_reuse_grace,
            Some(audit.ip().to_owned()),
            audit.user_agent(),
        )
        .await?;
    let (current, within_grace) = match outcome {
        RotateOutcome::Rotated { current, .. } => (current, false),
        RotateOutcome::WithinGrace { current, .. } => (current, true),
        RotateOutcome::Reused { family_id, user_id } => {
            // A rotated token came back: it was stolen or replayed. End the
            // whole family, so neither the thief nor the victim can go on.
            let revoked = tx.refresh_tokens().revoke_family(family_id).await?;
            let org = tx.users().get(user_id).await?.map(|u| u.organization_id);
            tx.audit_logs()
                .record(audit.entry(
                    "refresh_token_reuse",
                    org,
                    Some(user_id),
                    Some(("user", user_id.as_uuid())),
                    json!({"family_id": family_id, "revoked_tokens": revoked}),
                    AuditStatus::Failure,
                    Some("a rotated refresh token was presented; session revoked"),
                )?)
                .await?;
            tx.commit().await?;
            state.auth().cache.forget_session(family_id);
            return Err(invalid_refresh_token());
        }
        RotateOutcome::Expired { .. } | RotateOutcome::Unknown => {
            return Err(invalid_refresh_token());
        }
    };
    let Some(AccessSnapshot {
        user, organization, ..
    }) = tx
        .access_snapshot(current.user_id, current.family_id)
        .await?
    else {
        return Err(invalid_refresh_token());
    };
    if !user.is_active || !organization.is_active {
        tx.refresh_tokens().revoke_family(current.family_id).await?;
        tx.audit_logs()
            .record(audit.entry(
                "token_refresh",
                Some(organization.id),
                Some(user.id),
                Some(("user", user.id.as_uuid())),
                json!({"reason": "inactive"}),
                AuditStatus::Failure,
                Some("user or organization inactive"),
            )?)
            .await?;
        tx.commit().await?;
        state.auth().cache.forget_session(current.family_id);
        return Err(invalid_refresh_token());
    }
    tx.audit_logs()
        .record(audit.entry(
            "token_refresh",
            Some(organization.id),
            Some(user.id),
            Some(("user", user.id.as_uuid())),
            if within_grace {
                json!({"reuse_grace": true})
            } else {
                json!({})
            },
            AuditStatus::Success,
            None,
        )?)
        .await?;
    tx.commit().await?;
    // Within the grace this is the successor already handed out.
    respond_with_tokens(
        &state,
        &user,
        &organization,
        current.family_id,
        successor.token,
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LogoutRequest {
    refresh_token: Option<Secret>,
}

/// Ends a session: the refresh token's family (or the access token's) is
/// revoked, and access tokens issued with it stop working at once.
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Option<web::Json<LogoutRequest>>,
) -> Result<HttpResponse, ApiError> {
    let audit = AuditContext::new(&req, &state);
    let db = state.database();
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let (family, user_id) = match body.refresh_token {
        Some(token) => match db
            .refresh_tokens()
            .find_by_hash(&hash_refresh_token(token.expose()))
            .await?
        {
            Some(record) => (record.family_id, record.user_id),
            // Unknown token: nothing to end, and nothing to tell.
            None => return Ok(HttpResponse::NoContent().finish()),
        },
        None => {
            let principal = Principal::resolve(&req).await?;
            match (principal.session_id(), principal.user_id()) {
                (Some(sid), Some(uid)) => (sid, uid),
                _ => {
                    return Err(ApiError::bad_request(
                        "validation_failed",
                        "send the refresh token to log out of this session",
                    ));
                }
            }
        }
    };
    let tx = db.begin().await?;
    let revoked = tx.refresh_tokens().revoke_family(family).await?;
    let org = tx.users().get(user_id).await?.map(|u| u.organization_id);
    tx.audit_logs()
        .record(audit.entry(
            "logout",
            org,
            Some(user_id),
            Some(("user", user_id.as_uuid())),
            json!({"revoked_tokens": revoked}),
            AuditStatus::Success,
            None,
        )?)
        .await?;
    tx.commit().await?;
    state.auth().cache.forget_session(family);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    email: String,
    username: String,
    password: Secret,
    full_name: Option<String>,
    role: Option<Role>,
}

/// Creates a user. With `ALLOW_REGISTRATION=false` only an `org_admin` may,
/// in their own organization; with it open, anyone may join the default
/// organization as a `member`, a limited number of times per client address.
/// API keys may not create users.
async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth();
    let principal = Principal::resolve_optional(&req).await?;
    if let Some(p) = &principal {
        p.refuse_api_key("API keys cannot create users; sign in as a user")?;
    }
    let body = body.into_inner();
    let (organization, role, actor) = match principal {
        Some(p) if p.role() == Role::OrgAdmin => (
            p.organization().clone(),
            body.role.unwrap_or_default(),
            Some(p),
        ),
        _ if auth.config.allow_registration => {
            let ip = client::client_ip(&req, &auth.config.trusted_proxies);
            auth.registrations.reserve(ip).map_err(|refused| {
                ApiError::too_many_attempts(refused.retry_after, "registrations from this address")
            })?;
            if body.role.is_some_and(|r| r != Role::Member) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "self-registered users are members",
                ));
            }
            (
                tenant::default_organization(&state).await?,
                Role::Member,
                None,
            )
        }
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only an org_admin may create users",
            ));
        }
        None => return Err(crate::auth::authentication_required()),
    };
    let email = EmailAddress::parse(&body.email)?;
    let username = Username::parse(&body.username)?;
    let full_name = optional_text("full_name", body.full_name, NAME_MAX)?;
    auth.config.password_policy.check(&body.password)?;
    let password_hash = auth.config.hasher.hash(&body.password).await?;
    let audit = AuditContext::new(&req, &state);
    let tx = state.database().begin().await?;
    let user = tx
        .users()
        .create(NewUser {
            organization_id: organization.id,
            email,
            username,
            password_hash,
            full_name,
            role,
            is_verified: false,
        })
        .await?;
    let entry = match &actor {
        Some(p) => audit.by(
            p,
            "register",
            ("user", user.id.as_uuid()),
            json!({"username": user.username.as_str(), "role": role.as_str()}),
        )?,
        None => audit.entry(
            "register",
            Some(organization.id),
            Some(user.id),
            Some(("user", user.id.as_uuid())),
            json!({"username": user.username.as_str(), "self_registered": true}),
            AuditStatus::Success,
            None,
        )?,
    };
    tx.audit_logs().record(entry).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(UserBody::from(&user)))
}

#[derive(Serialize)]
struct MeResponse {
    user: Option<UserBody>,
    organization: OrganizationBody,
    role: &'static str,
    auth_method: &'static str,
    scopes: Vec<String>,
}

async fn me(AnyRole(principal): AnyRole) -> HttpResponse {
    HttpResponse::Ok().json(MeResponse {
        user: principal.user().map(UserBody::from),
        organization: OrganizationBody::from(principal.organization()),
        role: principal.role().as_str(),
        auth_method: principal.method(),
        scopes: principal.scopes().to_vec(),
    })
}
