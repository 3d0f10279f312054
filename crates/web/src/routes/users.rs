//! The organization's users, for its org_admins: list, show, change,
//! deactivate, reactivate.

use crate::auth::Caller;
use crate::dto::UserBody;
use crate::error::ApiError;
use crate::input::{Json, domain};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use curatore_domain::{Secret, UserId};
use curatore_service::{Invitation, PasswordReset, UserChanges, UserQuery};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/organizations/me/users")
            .get(list)
            .post(invite),
    )
    .service(
        web::resource("/api/v1/organizations/me/users/{id}")
            .get(show)
            .put(update)
            .delete(deactivate),
    )
    .service(web::resource("/api/v1/organizations/me/users/{id}/reactivate").post(reactivate))
    .service(
        web::resource("/api/v1/organizations/me/users/{id}/reset-password").post(reset_password),
    );
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
struct ListQuery {
    is_active: Option<bool>,
    #[cfg_attr(feature = "openapi", param(value_type = Option<crate::openapi::RoleName>))]
    role: Option<String>,
    /// Items to skip (default 0).
    skip: Option<u64>,
    /// Items per page, 1 to 1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    limit: Option<u64>,
    cursor: Option<String>,
}

/// The list as the original answered it, plus a keyset cursor.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct UserList {
    users: Vec<UserBody>,
    /// How many match; null on pages fetched with a cursor (not recounted).
    total: Option<u64>,
    /// `true` when `total` is a full count made in the last few seconds and
    /// reused (lists of 10,000 or more), not one made for this response.
    total_estimated: bool,
    /// Pass as `cursor` for the next page (keyset: same cost at any depth).
    next_cursor: Option<String>,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/organizations/me/users", tag = "users", params(ListQuery),
    responses((status = 200, description = "Users of the caller's organization, newest first", body = UserList))))]
async fn list(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let ListQuery {
        is_active,
        role,
        skip,
        limit,
        cursor,
    } = query.into_inner();
    let defaults = UserQuery::default();
    let query = UserQuery {
        is_active,
        role: domain(role)?,
        skip: skip.unwrap_or(defaults.skip),
        cursor,
        limit: limit.unwrap_or(defaults.limit),
        search: None,
    };
    let page = state.services().users(&ctx).list(query).await?;
    let users: Vec<UserBody> = page.items.iter().map(UserBody::from).collect();
    Ok(HttpResponse::Ok().json(UserList {
        total: page.total,
        total_estimated: page.total_estimated,
        next_cursor: page.next_cursor,
        users,
    }))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    email: String,
    username: String,
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RoleName>))]
    role: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    password: Option<Secret>,
    /// Mail the invitation with a one-time link to choose a password (when
    /// the server sends mail; then no temporary password is made).
    #[serde(default)]
    send_email: bool,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct InvitedBody {
    #[serde(flatten)]
    user: UserBody,
    /// The generated password (null when the invite gave one, or the
    /// invitation was mailed): shown here once, never stored or logged.
    temporary_password: Option<String>,
    /// Whether the invitation mail was sent by the time of this answer:
    /// always false, since mail goes out in the background.
    email_sent: bool,
    /// `not_requested`, `not_configured` (no mail transport: nothing was
    /// sent) or `queued` (`invitation_sent_at` is set once the SMTP server
    /// accepted it).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::MailStatusName))]
    email_status: &'static str,
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/organizations/me/users", tag = "users",
    request_body = InviteRequest,
    responses((status = 201, description = "The user; `temporary_password` is shown this once", body = InvitedBody))))]
async fn invite(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    body: Json<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let InviteRequest {
        email,
        username,
        full_name,
        role,
        password,
        send_email,
    } = body.into_inner();
    let invitation = Invitation {
        email: email.parse()?,
        username: Some(username),
        full_name,
        role: domain(role)?,
        password,
        send_email,
    };
    let invited = state.services().users(&ctx).invite(invitation).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(InvitedBody {
            user: UserBody::from(&invited.user),
            temporary_password: invited.temporary_password.map(|p| p.expose().to_owned()),
            email_sent: false,
            email_status: invited.mail.as_str(),
        }))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/organizations/me/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = crate::dto::UserBody))))]
async fn show(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .services()
        .users(&ctx)
        .get(UserId::from_uuid(*id))
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RoleName>))]
    role: Option<String>,
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/organizations/me/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "The changed user", body = crate::dto::UserBody))))]
async fn update(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let UpdateRequest { full_name, role } = body.into_inner();
    let changes = UserChanges {
        full_name,
        role: domain(role)?,
        ..UserChanges::default()
    };
    let user = state
        .services()
        .users(&ctx)
        .update(UserId::from_uuid(*id), changes)
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}

/// A soft deactivation: the row stays, the account stops working.
#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/api/v1/organizations/me/users/{id}", tag = "users", params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "Deactivated; the user's sessions ended and keys stop working"))))]
async fn deactivate(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from_uuid(*id);
    state.services().users(&ctx).deactivate(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/organizations/me/users/{id}/reactivate", tag = "users", params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The reactivated user", body = crate::dto::UserBody))))]
async fn reactivate(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from_uuid(*id);
    let user = state.services().users(&ctx).reactivate(id).await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}

#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    password: Option<Secret>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct ResetBody {
    /// `password_set` or `reset_token_issued`.
    status: &'static str,
    /// The one-time reset token (null when a password was given): shown here
    /// once; the user redeems it at `POST /api/v1/auth/reset-password`.
    reset_token: Option<String>,
    /// When the reset token stops working.
    reset_token_expires_at: Option<DateTime<Utc>>,
    /// The mail to the user (the token as a link, or the notice that the
    /// password was set): `queued`, or `not_configured` when the server
    /// sends no mail.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::MailStatusName))]
    email_status: &'static str,
}

/// Sets another user's password, or issues a one-time reset token shown
/// once; either way the user's sessions end.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/organizations/me/users/{id}/reset-password", tag = "users", params(("id" = Uuid, Path, description = "The user's id")),
    request_body(content = Option<ResetRequest>, description = "A password to set; without it a one-time reset token is issued"),
    responses((status = 200, description = "Done; `reset_token` is shown this once", body = ResetBody))))]
async fn reset_password(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: Option<ResetRequest> = crate::input::optional_json(&req, &body)?;
    let password = body.and_then(|b| b.password);
    let id = UserId::from_uuid(*id);
    let reset = state
        .services()
        .users(&ctx)
        .reset_password(id, password)
        .await?;
    let body = match reset {
        PasswordReset::Set { notice } => ResetBody {
            status: "password_set",
            reset_token: None,
            reset_token_expires_at: None,
            email_status: notice.as_str(),
        },
        PasswordReset::Token {
            token,
            expires_at,
            mail,
        } => ResetBody {
            status: "reset_token_issued",
            reset_token: Some(token.expose().to_owned()),
            reset_token_expires_at: Some(expires_at),
            email_status: mail.as_str(),
        },
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

#[cfg(test)]
mod tests {
    use crate::testing::{PASSWORD, admin, app, call, state};
    use actix_web::test::TestRequest;
    use serde_json::{Value, json};

    const USERS: &str = "/api/v1/organizations/me/users";

    /// Registers `name` through the admin's existing registration route.
    async fn register<S, B>(app: &S, auth: &(&'static str, String), name: &str, role: &str) -> Value
    where
        S: actix_web::dev::Service<
                actix_http::Request,
                Response = actix_web::dev::ServiceResponse<B>,
                Error = actix_web::Error,
            >,
        B: actix_web::body::MessageBody,
    {
        let (status, body) = call(
            app,
            TestRequest::post()
                .uri("/api/v1/auth/register")
                .insert_header(auth.clone())
                .set_json(json!({
                    "email": format!("{name}@acme.example"),
                    "username": name,
                    "password": PASSWORD,
                    "role": role,
                })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    fn id_of(body: &Value) -> String {
        body["id"]
            .as_str()
            .or_else(|| body["user"]["id"].as_str())
            .unwrap()
            .to_owned()
    }

    #[actix_web::test]
    async fn an_admin_resets_a_password_and_the_old_sessions_end() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let bob = register(&app, &auth, "bob", "member").await;
        let login = |password: &str| {
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "bob", "password": password}))
        };
        let (_, session) = call(&app, login(PASSWORD)).await;
        let bob_auth = (
            "authorization",
            format!("Bearer {}", session["access_token"].as_str().unwrap()),
        );
        let reset = format!("{USERS}/{}/reset-password", id_of(&bob));
        let (status, body) = call(
            &app,
            TestRequest::post().uri(&reset).insert_header(auth.clone()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "reset_token_issued");
        let token = body["reset_token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("cpr_"));
        let me = TestRequest::get()
            .uri("/api/v1/auth/me")
            .insert_header(bob_auth.clone());
        assert_eq!(call(&app, me).await.0, 401, "the old session ended");
        let redeem = |token: &str, password: &str| {
            TestRequest::post()
                .uri("/api/v1/auth/reset-password")
                .set_json(json!({"token": token, "new_password": password}))
        };
        let (status, body) = call(&app, redeem(&token, "short")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("weak_password"))
        );
        assert_eq!(
            call(&app, redeem(&token, "bobs-own-new-password")).await.0,
            204
        );
        assert_eq!(call(&app, login(PASSWORD)).await.0, 401);
        assert_eq!(call(&app, login("bobs-own-new-password")).await.0, 200);
        let (status, body) = call(&app, redeem(&token, "yet-another-password")).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("invalid_reset_token")),
            "a reset token works once"
        );
        // A given password is set as given; a weak one is refused; not for oneself.
        let (status, body) = call(
            &app,
            TestRequest::post()
                .uri(&reset)
                .insert_header(auth.clone())
                .set_json(json!({"password": "chosen-by-the-admin"})),
        )
        .await;
        assert_eq!(
            (status, body["reset_token"].clone(), body["status"].clone()),
            (200, Value::Null, json!("password_set"))
        );
        assert_eq!(call(&app, login("chosen-by-the-admin")).await.0, 200);
        let (status, _) = call(
            &app,
            TestRequest::post()
                .uri(&reset)
                .insert_header(auth.clone())
                .set_json(json!({"password": "short"})),
        )
        .await;
        assert_eq!(status, 400);
        let (_, me) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/auth/me")
                .insert_header(auth.clone()),
        )
        .await;
        let own = format!(
            "{USERS}/{}/reset-password",
            me["user"]["id"].as_str().unwrap()
        );
        let (status, _) = call(&app, TestRequest::post().uri(&own).insert_header(auth)).await;
        assert_eq!(status, 403);
    }

    #[actix_web::test]
    async fn the_list_is_newest_first_with_a_total_and_filters() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        register(&app, &auth, "bob", "member").await;
        register(&app, &auth, "vera", "viewer").await;
        let get = |uri: &str| TestRequest::get().uri(uri).insert_header(auth.clone());
        let (status, body) = call(&app, get(USERS)).await;
        assert_eq!((status, body["total"].clone()), (200, json!(3)), "{body}");
        let names: Vec<&str> = body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["vera", "bob", "admin"]);
        for field in [
            "id",
            "email",
            "full_name",
            "role",
            "is_active",
            "is_verified",
        ] {
            assert!(body["users"][0].get(field).is_some(), "{field}");
        }
        assert!(body["users"][0].get("created_at").is_some());
        assert!(body["users"][0].get("last_login_at").is_some());
        let (_, body) = call(&app, get(&format!("{USERS}?role=viewer"))).await;
        assert_eq!(body["total"], json!(1));
        let (_, body) = call(&app, get(&format!("{USERS}?skip=1&limit=1"))).await;
        assert_eq!(
            (body["total"].clone(), body["users"][0]["username"].clone()),
            (json!(3), json!("bob"))
        );
        let (status, body) = call(&app, get(&format!("{USERS}?role=owner"))).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("org_admin")
        );
        let (status, _) = call(&app, get(&format!("{USERS}?limit=0"))).await;
        assert_eq!(status, 400);
        let (status, _) = call(&app, get(&format!("{USERS}?limit=1001"))).await;
        assert_eq!(status, 400);
        let (status, _) = call(&app, get(&format!("{USERS}?skip=-1"))).await;
        assert_eq!(status, 400);
    }

    #[actix_web::test]
    async fn a_missing_or_malformed_id_is_never_a_500() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let missing = format!("{USERS}/0195d3a0-0000-7000-8000-000000000000");
        for req in [
            TestRequest::get().uri(&missing),
            TestRequest::delete().uri(&missing),
            TestRequest::post().uri(&format!("{missing}/reactivate")),
            TestRequest::put()
                .uri(&missing)
                .set_json(json!({"full_name": "X"})),
        ] {
            let (status, body) = call(&app, req.insert_header(auth.clone())).await;
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (404, json!("not_found"))
            );
        }
        let (status, _) = call(
            &app,
            TestRequest::get()
                .uri(&format!("{USERS}/not-a-uuid"))
                .insert_header(auth),
        )
        .await;
        assert!(matches!(status, 400 | 404 | 422), "{status}");
    }

    #[actix_web::test]
    async fn put_changes_name_and_role_and_refuses_unknown_roles() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let bob = id_of(&register(&app, &auth, "bob", "member").await);
        let put = |body: Value| {
            TestRequest::put()
                .uri(&format!("{USERS}/{bob}"))
                .insert_header(auth.clone())
                .set_json(body)
        };
        let (status, body) = call(&app, put(json!({"full_name": "Bob B", "role": "viewer"}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["full_name"].clone(), body["role"].clone()),
            (json!("Bob B"), json!("viewer"))
        );
        for role in ["", "owner"] {
            let (status, body) = call(&app, put(json!({"role": role}))).await;
            assert_eq!(status, 400, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("viewer")
            );
        }
    }

    #[actix_web::test]
    async fn an_admin_cannot_demote_or_deactivate_themselves() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let (_, me) = call(
            &app,
            TestRequest::get().uri(USERS).insert_header(auth.clone()),
        )
        .await;
        let me = me["users"][0]["id"].as_str().unwrap().to_owned();
        let (status, body) = call(
            &app,
            TestRequest::put()
                .uri(&format!("{USERS}/{me}"))
                .insert_header(auth.clone())
                .set_json(json!({"role": "member"})),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (403, json!("forbidden"))
        );
        let (status, body) = call(
            &app,
            TestRequest::delete()
                .uri(&format!("{USERS}/{me}"))
                .insert_header(auth.clone()),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (403, json!("forbidden"))
        );
    }

    #[actix_web::test]
    async fn a_deactivated_user_is_refused_at_once_and_can_be_reactivated() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let bob = id_of(&register(&app, &auth, "bob", "org_admin").await);
        let (status, login) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "bob", "password": PASSWORD})),
        )
        .await;
        assert_eq!(status, 200, "{login}");
        let bob_auth = (
            "authorization",
            format!("Bearer {}", login["access_token"].as_str().unwrap()),
        );
        let (status, _) = call(
            &app,
            TestRequest::get()
                .uri(USERS)
                .insert_header(bob_auth.clone()),
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = call(
            &app,
            TestRequest::delete()
                .uri(&format!("{USERS}/{bob}"))
                .insert_header(auth.clone()),
        )
        .await;
        assert_eq!(status, 204);
        let (status, _) = call(
            &app,
            TestRequest::get()
                .uri(USERS)
                .insert_header(bob_auth.clone()),
        )
        .await;
        assert_eq!(status, 401);
        let (status, body) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/refresh")
                .set_json(json!({"refresh_token": login["refresh_token"]})),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = call(
            &app,
            TestRequest::post()
                .uri(&format!("{USERS}/{bob}/reactivate"))
                .insert_header(auth.clone()),
        )
        .await;
        assert_eq!(
            (status, body["is_active"].clone()),
            (200, json!(true)),
            "{body}"
        );
        // The old session stays ended.
        let (status, _) = call(&app, TestRequest::get().uri(USERS).insert_header(bob_auth)).await;
        assert_eq!(status, 401);
    }

    #[actix_web::test]
    async fn an_invite_without_a_password_returns_a_temporary_one_that_signs_in() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let invite = |body: Value| {
            TestRequest::post()
                .uri(USERS)
                .insert_header(auth.clone())
                .set_json(body)
        };
        let (status, body) = call(
            &app,
            invite(json!({"email": "ivy@acme.example", "username": "ivy", "full_name": "Ivy"})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["role"], json!("member"));
        let temporary = body["temporary_password"].as_str().unwrap().to_owned();
        assert!(temporary.len() >= 24);
        let (status, session) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "ivy", "password": temporary})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(session["password_change_required"], json!(true));
        let ivy = (
            "authorization",
            format!("Bearer {}", session["access_token"].as_str().unwrap()),
        );
        // Until it is changed, that session may do nothing else.
        let (status, body) = call(
            &app,
            TestRequest::get()
                .uri("/api/v1/auth/me")
                .insert_header(ivy.clone()),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (403, json!("password_change_required"))
        );
        let (status, _) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/change-password")
                .insert_header(ivy.clone())
                .set_json(
                    json!({"current_password": temporary, "new_password": "ivys-own-password"}),
                ),
        )
        .await;
        assert_eq!(status, 204);
        let (status, body) = call(
            &app,
            TestRequest::get().uri("/api/v1/auth/me").insert_header(ivy),
        )
        .await;
        assert_eq!(status, 200, "changed: the same session now works: {body}");
        let (_, session) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "ivy", "password": "ivys-own-password"})),
        )
        .await;
        assert_eq!(session["password_change_required"], json!(false));
        let (status, body) = call(
            &app,
            invite(json!({"email": "vic@acme.example", "username": "vic", "role": "viewer", "password": PASSWORD})),
        )
        .await;
        assert_eq!(
            (status, body["temporary_password"].clone()),
            (201, Value::Null),
            "{body}"
        );
        assert_eq!(body["role"], json!("viewer"));
        for (bad, status_code) in [
            (
                json!({"email": "ivy@acme.example", "username": "ivy2"}),
                409,
            ),
            (json!({"email": "new@acme.example", "username": "ivy"}), 409),
            (json!({"email": "x@acme.example", "username": "xy"}), 400),
            (
                json!({"email": "y@acme.example", "username": "yyy", "role": "owner"}),
                400,
            ),
            (
                json!({"email": "z@acme.example", "username": "zzz", "password": "short"}),
                400,
            ),
            (json!({"email": "not-an-email", "username": "www"}), 400),
        ] {
            let (status, body) = call(&app, invite(bad.clone())).await;
            assert_eq!(status, status_code, "{bad}: {body}");
        }
    }

    #[actix_web::test]
    async fn keys_need_the_users_scopes() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        let bob = id_of(&register(&app, &auth, "bob", "member").await);
        let mut keys = Vec::new();
        for scopes in [json!(["users:read"]), json!(["organization:read"])] {
            let (status, body) = call(
                &app,
                TestRequest::post()
                    .uri("/api/v1/api-keys")
                    .insert_header(auth.clone())
                    .set_json(json!({"name": "k", "scopes": scopes})),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            keys.push(body["key"].as_str().unwrap().to_owned());
        }
        let as_key = |req: TestRequest, key: &str| req.insert_header(("x-api-key", key.to_owned()));
        let (status, _) = call(&app, as_key(TestRequest::get().uri(USERS), &keys[0])).await;
        assert_eq!(status, 200);
        let (status, body) = call(
            &app,
            as_key(
                TestRequest::delete().uri(&format!("{USERS}/{bob}")),
                &keys[0],
            ),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (403, json!("insufficient_scope"))
        );
        let (status, body) = call(&app, as_key(TestRequest::get().uri(USERS), &keys[1])).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (403, json!("insufficient_scope"))
        );
    }

    #[actix_web::test]
    async fn members_may_not_manage_users() {
        let (_db, state) = state().await;
        let app = app(state).await;
        let auth = admin(&app).await;
        register(&app, &auth, "bob", "member").await;
        let (_, login) = call(
            &app,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!({"email_or_username": "bob", "password": PASSWORD})),
        )
        .await;
        let bob_auth = (
            "authorization",
            format!("Bearer {}", login["access_token"].as_str().unwrap()),
        );
        let (status, body) =
            call(&app, TestRequest::get().uri(USERS).insert_header(bob_auth)).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (403, json!("forbidden"))
        );
    }
}
