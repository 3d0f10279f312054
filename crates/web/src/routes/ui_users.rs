//! The user routes the original's web UI calls (`/api/v1/users…`), which its
//! own backend never had: thin shapes over the same user services as
//! `/api/v1/organizations/me/users`, with the same rules.
//!
//! The UI's forms offer the roles `admin` and `user`; here (and only here)
//! they are read as `org_admin` and `member`. Answers keep our names.

use crate::auth::Caller;
use crate::dto::UiUserBody;
use crate::error::ApiError;
use crate::input::{Json, domain};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use curatore_domain::{Secret, UserId};
use curatore_service::{Invitation, UserChanges, UserQuery};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/users").get(list))
        .service(web::resource("/api/v1/users/invite").post(invite))
        .service(
            web::resource("/api/v1/users/{id}")
                .get(show)
                .put(update)
                .delete(deactivate),
        )
        .service(web::resource("/api/v1/users/{id}/password").put(set_password));
}

/// A role as the UI's forms send it: its `admin` and `user` are our
/// `org_admin` and `member`; any other name goes on as sent (and an unknown
/// one is refused by the service, naming the roles).
fn from_ui_role(role: Option<String>) -> Option<String> {
    role.map(|r| match r.as_str() {
        "admin" => "org_admin".to_owned(),
        "user" => "member".to_owned(),
        _ => r,
    })
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
struct ListQuery {
    is_active: Option<bool>,
    #[cfg_attr(feature = "openapi", param(value_type = Option<crate::openapi::UiRoleName>))]
    role: Option<String>,
    /// Items to skip (default 0).
    skip: Option<u64>,
    /// Items per page, 1 to 1000 (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    limit: Option<u64>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UiUserList))]
struct UserList {
    users: Vec<UiUserBody>,
    total: u64,
    /// `true` when `total` is a full count made in the last few seconds and
    /// reused (lists of 10,000 or more), not one made for this response.
    total_estimated: bool,
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, description = "Users of the caller's organization (the original UI's shape)", body = UserList))))]
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
    } = query.into_inner();
    let defaults = UserQuery::default();
    let query = UserQuery {
        is_active,
        role: domain(from_ui_role(role))?,
        skip: skip.unwrap_or(defaults.skip),
        limit: limit.unwrap_or(defaults.limit),
        ..defaults
    };
    let page = state.services().users(&ctx).list(query).await?;
    let users: Vec<UiUserBody> = page.items.iter().map(UiUserBody::from).collect();
    Ok(HttpResponse::Ok().json(UserList {
        total: page.total.unwrap_or(users.len() as u64),
        total_estimated: page.total_estimated,
        users,
    }))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UiUserBody))))]
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
    Ok(HttpResponse::Ok().json(UiUserBody::from(&user)))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UiInviteRequest))]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    email: String,
    username: Option<String>,
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::UiRoleName>))]
    role: Option<String>,
    /// Without it a temporary password is generated.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    password: Option<Secret>,
    /// Accepted; no mail transport exists, so nothing is sent.
    #[serde(default)]
    send_email: bool,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UiInvitedBody))]
struct InvitedBody {
    message: String,
    user: UiUserBody,
    /// The generated password (null when the invite gave one): shown here
    /// once, never stored or logged.
    temporary_password: Option<String>,
    email_sent: bool,
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/api/v1/users/invite", tag = "users",
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
        username,
        full_name,
        role: domain(from_ui_role(role))?,
        password,
    };
    let invited = state.services().users(&ctx).invite(invitation).await?;
    let mut message = format!("user {} invited", invited.user.email.as_str());
    if send_email {
        message.push_str("; no e-mail was sent (this server has no mail transport)");
    }
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(InvitedBody {
            message,
            user: UiUserBody::from(&invited.user),
            temporary_password: invited.temporary_password.map(|p| p.expose().to_owned()),
            email_sent: false,
        }))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UiUpdateRequest))]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    email: Option<String>,
    username: Option<String>,
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::UiRoleName>))]
    role: Option<String>,
    is_active: Option<bool>,
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UiUpdatedBody))]
struct UpdatedBody {
    message: &'static str,
    user: UiUserBody,
}

#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UpdateRequest,
    responses((status = 200, description = "The changed user", body = UpdatedBody))))]
async fn update(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let UpdateRequest {
        email,
        username,
        full_name,
        role,
        is_active,
    } = body.into_inner();
    let changes = UserChanges {
        full_name,
        role: domain(from_ui_role(role))?,
        email: domain(email)?,
        username: domain(username)?,
        is_active,
    };
    let user = state
        .services()
        .users(&ctx)
        .update(UserId::from_uuid(*id), changes)
        .await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        message: "user updated",
        user: UiUserBody::from(&user),
    }))
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct MessageBody {
    message: &'static str,
}

/// A soft deactivation, answered 200 with a message as the UI expects.
#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "Deactivated; the user's sessions ended and keys stop working", body = MessageBody))))]
async fn deactivate(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from_uuid(*id);
    state.services().users(&ctx).deactivate(id).await?;
    Ok(HttpResponse::Ok().json(MessageBody {
        message: "user deactivated",
    }))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    new_password: Secret,
}

/// Sets a user's password (org admins).
#[cfg_attr(feature = "openapi", utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = PasswordRequest,
    responses((status = 200, description = "Changed", body = MessageBody))))]
async fn set_password(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    id: web::Path<Uuid>,
    body: Json<PasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from_uuid(*id);
    let password = body.into_inner().new_password;
    state
        .services()
        .users(&ctx)
        .set_password(id, password)
        .await?;
    Ok(HttpResponse::Ok().json(MessageBody {
        message: "password changed",
    }))
}
