//! The organization's users, managed by its org_admins: list, show, change
//! name and role, deactivate and reactivate.

use crate::audit::{AuditEvent, Entry};
use crate::context::{Access, RequestContext, Scope};
use crate::error::{ErrorCode, Result, ServiceError};
use crate::page::Page;
use crate::services::Services;
use crate::sessions::Registration;
use crate::text;
use curatore_auth::random_password;
use curatore_domain::{Role, Secret, User, UserId};
use curatore_persistence::Tenant;
use serde_json::json;

const READ: Scope = Scope::new("users", Access::Read);
const WRITE: Scope = Scope::new("users", Access::Write);

/// The most users one page may hold.
pub const MAX_USER_PAGE: u64 = 1000;

/// Which users to list.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// Only active (`true`) or only deactivated (`false`) users.
    pub is_active: Option<bool>,
    /// Only users with this role (`org_admin`, `member`, `viewer`).
    pub role: Option<String>,
    /// How many to pass over.
    pub skip: u64,
    /// The most to return (1 to [`MAX_USER_PAGE`]).
    pub limit: u64,
}

impl Default for UserQuery {
    fn default() -> Self {
        Self {
            is_active: None,
            role: None,
            skip: 0,
            limit: 100,
        }
    }
}

/// What an org_admin may change about a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// The name shown to people (blank clears it).
    pub full_name: Option<String>,
    /// The new role (`org_admin`, `member`, `viewer`).
    pub role: Option<String>,
}

/// A user invited by an org_admin.
#[derive(Debug)]
pub struct Invitation {
    /// E-mail address.
    pub email: String,
    /// Login name (3 to 100 characters).
    pub username: String,
    /// Display name (at most 255 characters).
    pub full_name: Option<String>,
    /// Role (`org_admin`, `member`, `viewer`); `None`: member.
    pub role: Option<String>,
    /// The password, checked against the policy; `None`: one is generated.
    pub password: Option<Secret>,
}

/// An invited user, and the password generated for them (shown once).
#[derive(Debug)]
pub struct InvitedUser {
    /// The new user.
    pub user: User,
    /// The generated password when none was given; never logged or stored.
    pub temporary_password: Option<Secret>,
}

/// Generated passwords: ~142 bits, and never shorter than the policy asks.
const TEMPORARY_PASSWORD_CHARS: usize = 24;

fn parse_role(raw: &str) -> Result<Role> {
    Ok(raw.parse::<Role>()?)
}

fn user_not_found() -> ServiceError {
    ServiceError::not_found("user not found")
}

fn last_admin() -> ServiceError {
    ServiceError::forbidden(
        "the organization's last active org_admin cannot be demoted or deactivated; make another user org_admin first",
    )
}

/// Refuses when `user` is the organization's last active org_admin. The
/// caller's transaction holds the organization row, so two requests cannot
/// both see two admins and each remove one.
async fn keep_an_admin(tenant: &Tenant<'_>, user: &User) -> Result<()> {
    if user.is_active
        && user.role == Role::OrgAdmin
        && tenant.users().count_active_admins().await? <= 1
    {
        return Err(last_admin());
    }
    Ok(())
}

impl Services {
    /// The organization's users, newest first, and how many match.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `users:read`; 400 for an unknown
    /// role or a limit outside 1..=[`MAX_USER_PAGE`]; 503 when the database
    /// is unavailable.
    pub async fn list_users(&self, ctx: &RequestContext, query: UserQuery) -> Result<Page<User>> {
        self.require_admin(ctx, "list_users").await?;
        ctx.principal.require_scope(READ)?;
        if !(1..=MAX_USER_PAGE).contains(&query.limit) {
            return Err(ServiceError::new(
                ErrorCode::InvalidQueryParameter,
                format!("limit must be between 1 and {MAX_USER_PAGE}"),
            ));
        }
        crate::page::check_skip(query.skip)?;
        let role = query.role.as_deref().map(parse_role).transpose()?;
        let (items, total) = self
            .database()
            .tenant(ctx.organization_id())
            .users()
            .page(query.is_active, role, query.skip, query.limit)
            .await?;
        Ok(Page {
            items,
            total: Some(total),
            limit: query.limit,
            offset: query.skip,
        })
    }

    /// Invites a user into the caller's organization (org_admin, signed in,
    /// not with an API key), through the same path as registration: the
    /// same validation, conflicts and audit entry (`register`). Without a
    /// password one is generated and returned once.
    ///
    /// # Errors
    /// 403 for non-admins and API keys; 400 for an unknown role, invalid
    /// e-mail, username or name, or a password the policy refuses; 409 for a
    /// taken e-mail or username; 503 when the database is unavailable.
    pub async fn invite_user(
        &self,
        ctx: &RequestContext,
        invitation: Invitation,
    ) -> Result<InvitedUser> {
        self.require_admin(ctx, "invite_user").await?;
        ctx.principal.require_scope(WRITE)?;
        let role = invitation.role.as_deref().map(parse_role).transpose()?;
        let (password, temporary_password) = match invitation.password {
            Some(password) => (password, None),
            None => {
                let len = TEMPORARY_PASSWORD_CHARS.max(self.config().password_policy.min_chars);
                let generated = random_password(len);
                (generated.clone(), Some(generated))
            }
        };
        let user = self
            .register(
                &ctx.client,
                Some(&ctx.principal),
                Registration {
                    email: invitation.email,
                    username: invitation.username,
                    password,
                    full_name: invitation.full_name,
                    role: Some(role.unwrap_or_default()),
                },
            )
            .await?;
        Ok(InvitedUser {
            user,
            temporary_password,
        })
    }

    /// One of the organization's users; another organization's answers
    /// exactly like a missing one.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for non-admins and keys without `users:read`.
    pub async fn get_user(&self, ctx: &RequestContext, id: UserId) -> Result<User> {
        self.require_admin(ctx, "get_user").await?;
        ctx.principal.require_scope(READ)?;
        self.database()
            .tenant(ctx.organization_id())
            .users()
            .get(id)
            .await?
            .ok_or_else(user_not_found)
    }

    /// Changes a user's name and role (org_admin), audited. A role change
    /// ends the user's sessions. Admins cannot change their own role, and the
    /// last active org_admin cannot be demoted.
    ///
    /// # Errors
    /// 404 `not_found`; 400 for an unknown role or a bad name; 403 for
    /// non-admins, keys without `users:write`, one's own role and the last
    /// admin; 503 when the database is unavailable.
    pub async fn update_user(
        &self,
        ctx: &RequestContext,
        id: UserId,
        changes: UserChanges,
    ) -> Result<User> {
        self.require_admin(ctx, "update_user").await?;
        ctx.principal.require_scope(WRITE)?;
        let role = changes.role.as_deref().map(parse_role).transpose()?;
        let full_name = changes
            .full_name
            .map(|n| text::optional("full_name", Some(n), text::NAME_MAX))
            .transpose()?;
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(ctx.organization_id());
        tenant.organization().get_for_update().await?;
        let user = tenant.users().get(id).await?.ok_or_else(user_not_found)?;
        let role = role.filter(|r| *r != user.role);
        if role.is_some() && ctx.principal.user_id() == Some(id) {
            return Err(ServiceError::forbidden("you cannot change your own role"));
        }
        let mut updated = user.clone();
        if let Some(full_name) = full_name {
            updated = tenant.users().set_full_name(id, full_name).await?;
        }
        if let Some(role) = role {
            keep_an_admin(&tenant, &user).await?;
            updated = tenant.users().set_role(id, role).await?;
            tx.system().refresh_tokens().revoke_all_for_user(id).await?;
        }
        let mut fields = Vec::new();
        if updated.full_name != user.full_name {
            fields.push("full_name");
        }
        if role.is_some() {
            fields.push("role");
        }
        if fields.is_empty() {
            return Ok(updated);
        }
        let mut details = json!({ "fields": fields });
        if let (Some(role), Some(obj)) = (role, details.as_object_mut()) {
            obj.insert("role".into(), json!({"from": user.role, "to": role}));
        }
        tenant
            .audit_logs()
            .record(Entry::about("user", id.as_uuid(), details).by(AuditEvent::UserUpdated, ctx))
            .await?;
        tx.commit().await?;
        self.cache().forget_user(id);
        Ok(updated)
    }

    /// Deactivates a user (org_admin), audited: their sessions end, their
    /// API keys and access tokens are refused from now on. Admins cannot
    /// deactivate themselves, and the last active org_admin stays.
    /// Deactivating an inactive user changes and records nothing.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for non-admins, keys without `users:write`,
    /// oneself and the last admin; 503 when the database is unavailable.
    pub async fn deactivate_user(&self, ctx: &RequestContext, id: UserId) -> Result<User> {
        self.require_admin(ctx, "deactivate_user").await?;
        ctx.principal.require_scope(WRITE)?;
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(ctx.organization_id());
        tenant.organization().get_for_update().await?;
        let user = tenant.users().get(id).await?.ok_or_else(user_not_found)?;
        if ctx.principal.user_id() == Some(id) {
            return Err(ServiceError::forbidden("you cannot deactivate yourself"));
        }
        if !user.is_active {
            return Ok(user);
        }
        keep_an_admin(&tenant, &user).await?;
        let updated = tenant.users().set_active(id, false).await?;
        let sessions = tx.system().refresh_tokens().revoke_all_for_user(id).await?;
        tenant
            .audit_logs()
            .record(
                Entry::about(
                    "user",
                    id.as_uuid(),
                    json!({"username": user.username.as_str(), "sessions_revoked": sessions}),
                )
                .by(AuditEvent::UserDeactivated, ctx),
            )
            .await?;
        tx.commit().await?;
        self.cache().forget_user(id);
        Ok(updated)
    }

    /// Reactivates a user (org_admin), audited. Their revoked sessions stay
    /// revoked: they sign in again. Reactivating an active user changes and
    /// records nothing.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for non-admins and keys without `users:write`;
    /// 503 when the database is unavailable.
    pub async fn reactivate_user(&self, ctx: &RequestContext, id: UserId) -> Result<User> {
        self.require_admin(ctx, "reactivate_user").await?;
        ctx.principal.require_scope(WRITE)?;
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(ctx.organization_id());
        let user = tenant.users().get(id).await?.ok_or_else(user_not_found)?;
        if user.is_active {
            return Ok(user);
        }
        let updated = tenant.users().set_active(id, true).await?;
        tenant
            .audit_logs()
            .record(
                Entry::about(
                    "user",
                    id.as_uuid(),
                    json!({"username": user.username.as_str()}),
                )
                .by(AuditEvent::UserReactivated, ctx),
            )
            .await?;
        tx.commit().await?;
        self.cache().forget_user(id);
        Ok(updated)
    }

    /// Resets another user's password (org_admin, signed in, not with an
    /// API key): to `password` when given (checked against the policy),
    /// otherwise to a generated one returned once. Every session of the user
    /// ends at once; their own password is changed with change-password.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for non-admins, API keys and oneself; 400
    /// `weak_password`; 503 when the database is unavailable.
    pub async fn reset_user_password(
        &self,
        ctx: &RequestContext,
        id: UserId,
        password: Option<Secret>,
    ) -> Result<Option<Secret>> {
        self.require_admin(ctx, "reset_user_password").await?;
        ctx.principal
            .refuse_api_key("API keys cannot set passwords; sign in as a user")?;
        if ctx.principal.user_id() == Some(id) {
            return Err(ServiceError::forbidden(
                "change your own password with /api/v1/auth/change-password",
            ));
        }
        let user = self
            .database()
            .tenant(ctx.organization_id())
            .users()
            .get(id)
            .await?
            .ok_or_else(user_not_found)?;
        let (password, generated) = match password {
            Some(given) => (given, None),
            None => {
                let len = TEMPORARY_PASSWORD_CHARS.max(self.config().password_policy.min_chars);
                let made = random_password(len);
                (made.clone(), Some(made))
            }
        };
        self.config().password_policy.check(&password)?;
        let hash = self.config().hasher.hash(&password).await?;
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(ctx.organization_id());
        tenant.users().set_password_hash(id, &hash).await?;
        let sessions = tx.system().refresh_tokens().revoke_all_for_user(id).await?;
        tenant
            .audit_logs()
            .record(
                Entry::about(
                    "user",
                    id.as_uuid(),
                    json!({
                        "username": user.username.as_str(),
                        "generated": generated.is_some(),
                        "sessions_revoked": sessions,
                    }),
                )
                .by(AuditEvent::ResetPassword, ctx),
            )
            .await?;
        tx.commit().await?;
        self.cache().forget_user(id);
        Ok(generated)
    }
}
