//! The organization's users, managed by its org_admins: list, show, change
//! name and role, deactivate and reactivate.

use crate::audit::{AuditEvent, Entry};
use crate::context::{Access, RequestContext, Scope};
use crate::error::{Denied, Invalid, Result, ServiceError, Unauthenticated};
use crate::handle::Bound;
use crate::mail::{self, MailStatus};
use crate::page::{Page, cursor};
use crate::services::Services;
use crate::sessions::{Anonymous, Registered, Registration};
use crate::text;
use crate::work::{Origin, Work};
use curatore_auth::{generate_reset_token, hash_refresh_token, random_password};
use curatore_domain::{EmailAddress, MailKind, Role, Secret, User, UserId, Username};
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
    /// Only users with this role.
    pub role: Option<Role>,
    /// How many to pass over (offset paging; 0 with a cursor).
    pub skip: u64,
    /// Keyset paging: the `next_cursor` of the previous page. Such pages
    /// cost the same at any depth and carry no total.
    pub cursor: Option<String>,
    /// The most to return (1 to [`MAX_USER_PAGE`]).
    pub limit: u64,
    /// Only users whose e-mail address or username starts with this; such
    /// lists are paged by keyset and carry no total.
    pub search: Option<String>,
}

impl Default for UserQuery {
    fn default() -> Self {
        Self {
            is_active: None,
            role: None,
            search: None,
            skip: 0,
            cursor: None,
            limit: 100,
        }
    }
}

/// What an org_admin may change about a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// The name shown to people (blank clears it).
    pub full_name: Option<String>,
    /// The new role.
    pub role: Option<Role>,
    /// The new e-mail address (unique across the instance).
    pub email: Option<EmailAddress>,
    /// The new login name (unique across the instance).
    pub username: Option<Username>,
    /// `false` deactivates, `true` reactivates, with the rules of
    /// [`Users::deactivate`] and [`Users::reactivate`].
    pub is_active: Option<bool>,
}

/// A user invited by an org_admin.
#[derive(Debug)]
pub struct Invitation {
    /// E-mail address.
    pub email: EmailAddress,
    /// Login name (3 to 100 characters); `None`: derived from the e-mail
    /// address and made unique.
    pub username: Option<String>,
    /// Display name (at most 255 characters).
    pub full_name: Option<String>,
    /// Role; `None`: member.
    pub role: Option<Role>,
    /// The password, checked against the policy; `None`: one is generated.
    pub password: Option<Secret>,
    /// Mail the invitation, with a one-time link to choose a password,
    /// when this server sends mail; then no temporary password is made.
    pub send_email: bool,
}

/// An invited user, and the password generated for them (shown once).
#[derive(Debug)]
pub struct InvitedUser {
    /// The new user.
    pub user: User,
    /// The generated password when none was given and no invitation was
    /// mailed; never logged or stored.
    pub temporary_password: Option<Secret>,
    /// What became of the invitation mail.
    pub mail: MailStatus,
}

/// Generated passwords: ~142 bits, and never shorter than the policy asks.
const TEMPORARY_PASSWORD_CHARS: usize = 24;

/// How long a generated invitation password works if never changed.
pub const TEMPORARY_PASSWORD_DAYS: i64 = 7;

/// How long a one-time password reset token works.
pub const RESET_TOKEN_HOURS: i64 = 24;

/// How long the link of a mailed invitation works.
pub const INVITATION_TOKEN_DAYS: i64 = TEMPORARY_PASSWORD_DAYS;

/// What an org_admin's password reset produced.
#[derive(Debug)]
pub enum PasswordReset {
    /// The given password was set.
    Set {
        /// The notice to the user that their password changed.
        notice: MailStatus,
    },
    /// A one-time token (shown once) with which the user sets a new
    /// password at `POST /api/v1/auth/reset-password` until `expires_at`.
    Token {
        /// The token; only its digest is stored.
        token: Secret,
        /// When it stops working.
        expires_at: chrono::DateTime<chrono::Utc>,
        /// The mail carrying the token as a link.
        mail: MailStatus,
    },
}

/// Candidate usernames for an invite that names none: the e-mail's local
/// part reduced to the characters usernames allow, then with a number added.
fn username_candidates(email: &str) -> impl Iterator<Item = String> {
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    let mut base: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(90)
        .collect();
    while base.len() < 3 {
        base.push('_');
    }
    let numbered = base.clone();
    std::iter::once(base).chain((2..=20).map(move |n| format!("{numbered}{n}")))
}

fn user_not_found() -> ServiceError {
    ServiceError::not_found("user")
}

fn last_admin() -> ServiceError {
    Denied::LastAdmin.into()
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

/// The organization's users, for its org_admins (`services.users(&ctx)`).
#[derive(Clone, Copy)]
pub struct Users<'a>(Bound<'a>);

impl Services {
    /// The caller's organization's users.
    pub fn users<'a>(&'a self, ctx: &'a RequestContext) -> Users<'a> {
        Users(Bound::new(self, ctx))
    }
}

impl Users<'_> {
    /// The organization's users, newest first, and how many match.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `users:read`; 400 for an unknown
    /// role or a limit outside 1..=[`MAX_USER_PAGE`]; 503 when the database
    /// is unavailable.
    pub async fn list(&self, query: UserQuery) -> Result<Page<User>> {
        self.0.admin("list_users", READ).await?;
        if !(1..=MAX_USER_PAGE).contains(&query.limit) {
            return Err(Invalid::PageSize { max: MAX_USER_PAGE }.into());
        }
        crate::page::check_skip(query.skip)?;
        let role = query.role;
        let users = self.0.tenant().users();
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(s) = search {
            curatore_domain::text::check_line("search", s)?;
        }
        if query.cursor.is_none() && search.is_none() {
            let (items, total) = users
                .page(query.is_active, role, query.skip, query.limit)
                .await?;
            // The cursor of the last row lets a client continue by keyset.
            let next_cursor = (items.len() as u64 == query.limit)
                .then(|| {
                    items
                        .last()
                        .map(|u| cursor::encode(u.created_at, u.id.as_uuid()))
                })
                .flatten();
            return Ok(Page {
                items,
                total: Some(total.count),
                total_estimated: total.estimated,
                limit: query.limit,
                offset: query.skip,
                next_cursor,
            });
        }
        if query.skip != 0 {
            return Err(Invalid::SkipWithCursor.into());
        }
        let after = match query.cursor.as_deref() {
            None => None,
            Some(raw) => Some(
                cursor::decode(raw)
                    .map(|(at, id)| (at, UserId::from_uuid(id)))
                    .ok_or_else(|| ServiceError::from(Invalid::UnknownCursor))?,
            ),
        };
        // A search is paged by keyset from its first page: no count.
        let mut items = users
            .page_after(query.is_active, role, search, after, query.limit + 1)
            .await?;
        let more = items.len() as u64 > query.limit;
        items.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            items
                .last()
                .map(|u| cursor::encode(u.created_at, u.id.as_uuid()))
        } else {
            None
        };
        Ok(Page {
            items,
            total: None,
            total_estimated: false,
            limit: query.limit,
            offset: 0,
            next_cursor,
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
    pub async fn invite(&self, invitation: Invitation) -> Result<InvitedUser> {
        self.0.admin("invite_user", WRITE).await?;
        self.0
            .principal()
            .refuse_api_key("API keys cannot create users; sign in as a user")?;
        let services = self.0.services;
        let role = invitation.role;
        let by_mail = invitation.send_email && services.mail_enabled();
        let mail = match (invitation.send_email, by_mail) {
            (false, _) => MailStatus::NotRequested,
            (true, false) => MailStatus::NotConfigured,
            (true, true) => MailStatus::Queued,
        };
        let (password, temporary_password) = match invitation.password {
            Some(password) => (password, None),
            // Nobody learns this one: the mailed link chooses the real one.
            None if by_mail => (
                random_password(
                    TEMPORARY_PASSWORD_CHARS.max(services.config().password_policy.min_chars),
                ),
                None,
            ),
            None => {
                let len = TEMPORARY_PASSWORD_CHARS.max(services.config().password_policy.min_chars);
                let generated = random_password(len);
                (generated.clone(), Some(generated))
            }
        };
        let temporary_until = temporary_password
            .is_some()
            .then(|| chrono::Utc::now() + chrono::Duration::days(TEMPORARY_PASSWORD_DAYS));
        let username = match invitation.username {
            Some(username) => username,
            None => self.free_username(invitation.email.as_str()).await?,
        };
        let Registered { user, .. } = services
            .register_user(
                &self.0.ctx.client,
                Some(self.0.ctx),
                Registration {
                    email: invitation.email.into_inner(),
                    username,
                    password,
                    full_name: invitation.full_name,
                    role: Some(role.unwrap_or_default()),
                },
                temporary_until,
                by_mail,
            )
            .await?;
        Ok(InvitedUser {
            user,
            temporary_password,
            mail,
        })
    }

    /// Creates a user with a password of their own, as `POST
    /// /auth/register` does for a signed-in caller: an org_admin in their
    /// organization with the role asked for (same rules as
    /// [`Users::invite`]); anyone else only under open registration, as
    /// [`Anonymous::register`].
    ///
    /// # Errors
    /// As [`Users::invite`]; 403 for non-admins while registration is closed.
    pub async fn register(&self, new: Registration) -> Result<Registered> {
        let principal = self.0.principal();
        principal.refuse_pending_password_change()?;
        principal.refuse_api_key("API keys cannot create users; sign in as a user")?;
        let services = self.0.services;
        // Anyone else signed in registers as anyone may, when anyone may.
        let admin = (principal.role() == Role::OrgAdmin).then_some(self.0.ctx);
        if admin.is_none() && !services.config().allow_registration {
            return Err(Denied::CreateUsers.into());
        }
        services
            .register_user(&self.0.ctx.client, admin, new, None, false)
            .await
    }

    /// A username no user has yet, derived from `email`. Two invites racing
    /// for the same name still meet the unique index: one gets 409.
    async fn free_username(&self, email: &str) -> Result<String> {
        let users = self.0.services.database().system();
        for candidate in username_candidates(email) {
            if users.users().find_by_username(&candidate).await?.is_none() {
                return Ok(candidate);
            }
        }
        let suffix = random_password(8).expose().to_ascii_lowercase();
        let suffix: String = suffix.chars().filter(char::is_ascii_alphanumeric).collect();
        let base = username_candidates(email).next().unwrap_or_default();
        Ok(format!("{base}-{suffix}"))
    }

    /// One of the organization's users; another organization's answers
    /// exactly like a missing one.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for non-admins and keys without `users:read`.
    pub async fn get(&self, id: UserId) -> Result<User> {
        self.0.admin("get_user", READ).await?;
        self.0
            .tenant()
            .users()
            .get(id)
            .await?
            .ok_or_else(user_not_found)
    }

    /// Changes a user's name, role, e-mail address, username and whether
    /// they are active (org_admin), all in one transaction, audited
    /// (`update_user`, and `deactivate_user`/`reactivate_user` for
    /// `is_active`). A role change or a deactivation ends the user's
    /// sessions. Admins cannot change their own role or deactivate
    /// themselves, and the last active org_admin cannot be demoted or
    /// deactivated.
    ///
    /// # Errors
    /// 404 `not_found`; 400 for an unknown role or a bad name, e-mail or
    /// username; 409 `email_taken`/`username_taken`; 403 for non-admins,
    /// keys without `users:write`, one's own role or deactivation and the
    /// last admin; 503 when the database is unavailable.
    pub async fn update(&self, id: UserId, changes: UserChanges) -> Result<User> {
        self.0.admin("update_user", WRITE).await?;
        let role = changes.role;
        let full_name = changes
            .full_name
            .map(|n| text::optional("full_name", Some(n), text::NAME_MAX))
            .transpose()?;
        let (email, username) = (changes.email, changes.username);
        let mut work = self.0.begin().await?;
        let tenant = work.own();
        tenant.organization().get_for_update().await?;
        let user = tenant.users().get(id).await?.ok_or_else(user_not_found)?;
        let role = role.filter(|r| *r != user.role);
        if user.role == Role::OrgAdmin {
            self.0.principal().require_person("changing an org_admin")?;
        }
        if role == Some(Role::OrgAdmin) {
            self.0.principal().require_person("granting org_admin")?;
        }
        let email = email.filter(|e| *e != user.email);
        let username = username.filter(|u| *u != user.username);
        let is_active = changes.is_active.filter(|a| *a != user.is_active);
        let myself = self.0.principal().user_id() == Some(id);
        if role.is_some() && myself {
            return Err(Denied::OwnRole.into());
        }
        if is_active == Some(false) && myself {
            return Err(Denied::DeactivateSelf.into());
        }
        let mut updated = user.clone();
        if let Some(full_name) = full_name {
            updated = tenant.users().set_full_name(id, full_name).await?;
        }
        let mut fields = Vec::new();
        if email.is_some() {
            fields.push("email");
        }
        if username.is_some() {
            fields.push("username");
        }
        if email.is_some() || username.is_some() {
            updated = tenant.users().set_login_names(id, email, username).await?;
        }
        if let Some(role) = role {
            keep_an_admin(&tenant, &user).await?;
            updated = tenant.users().set_role(id, role).await?;
        }
        if updated.full_name != user.full_name {
            fields.push("full_name");
        }
        if role.is_some() {
            fields.push("role");
            work.end_sessions(id).await?;
        }
        let tenant = work.own();
        let mut entries = Vec::new();
        if !fields.is_empty() {
            let mut details = json!({ "fields": fields });
            if let (Some(role), Some(obj)) = (role, details.as_object_mut()) {
                obj.insert("role".into(), json!({"from": user.role, "to": role}));
            }
            entries.push((
                AuditEvent::UserUpdated,
                Entry::about("user", id.as_uuid(), details),
            ));
        }
        if let Some(active) = is_active {
            // After a demotion in this same request `updated` is no admin.
            if !active {
                keep_an_admin(&tenant, &updated).await?;
            }
            updated = tenant.users().set_active(id, active).await?;
            let mut details = json!({"username": updated.username.as_str()});
            let event = if active {
                AuditEvent::UserReactivated
            } else {
                let sessions = work.end_sessions(id).await?;
                details["sessions_revoked"] = json!(sessions);
                AuditEvent::UserDeactivated
            };
            entries.push((event, Entry::about("user", id.as_uuid(), details)));
        }
        let Some((event, entry)) = entries.pop() else {
            return Ok(updated);
        };
        for (earlier, details) in entries {
            work.audit(earlier, details);
        }
        work.forget(crate::cache::Forget::User(id));
        work.commit(event, entry).await?;
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
    pub async fn deactivate(&self, id: UserId) -> Result<User> {
        self.0.admin("deactivate_user", WRITE).await?;
        let mut work = self.0.begin().await?;
        let tenant = work.own();
        tenant.organization().get_for_update().await?;
        let user = tenant.users().get(id).await?.ok_or_else(user_not_found)?;
        if self.0.principal().user_id() == Some(id) {
            return Err(Denied::DeactivateSelf.into());
        }
        if user.role == Role::OrgAdmin {
            self.0
                .principal()
                .require_person("deactivating an org_admin")?;
        }
        if !user.is_active {
            return Ok(user);
        }
        keep_an_admin(&tenant, &user).await?;
        let updated = tenant.users().set_active(id, false).await?;
        let sessions = work.end_sessions(id).await?;
        work.commit(
            AuditEvent::UserDeactivated,
            Entry::about(
                "user",
                id.as_uuid(),
                json!({"username": user.username.as_str(), "sessions_revoked": sessions}),
            ),
        )
        .await?;
        Ok(updated)
    }

    /// Reactivates a user (org_admin), audited. Their revoked sessions stay
    /// revoked: they sign in again. Reactivating an active user changes and
    /// records nothing.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for non-admins and keys without `users:write`;
    /// 503 when the database is unavailable.
    pub async fn reactivate(&self, id: UserId) -> Result<User> {
        self.0.admin("reactivate_user", WRITE).await?;
        let mut work = self.0.begin().await?;
        let tenant = work.own();
        let user = tenant.users().get(id).await?.ok_or_else(user_not_found)?;
        if user.role == Role::OrgAdmin {
            self.0
                .principal()
                .require_person("reactivating an org_admin")?;
        }
        if user.is_active {
            return Ok(user);
        }
        let updated = tenant.users().set_active(id, true).await?;
        work.forget(crate::cache::Forget::User(id));
        work.commit(
            AuditEvent::UserReactivated,
            Entry::about(
                "user",
                id.as_uuid(),
                json!({"username": user.username.as_str()}),
            ),
        )
        .await?;
        Ok(updated)
    }

    /// Resets another user's password (org_admin, signed in, not with an
    /// API key): to `password` when given (checked against the policy),
    /// otherwise by issuing a one-time reset token (returned once, valid for
    /// [`RESET_TOKEN_HOURS`]) with which the user chooses a new password.
    /// Either way every session of the user ends at once; their own password
    /// is changed with change-password.
    ///
    /// # Errors
    /// 404 `not_found`; 403 for non-admins, API keys and oneself; 400
    /// `weak_password`; 503 when the database is unavailable.
    pub async fn reset_password(
        &self,
        id: UserId,
        password: Option<Secret>,
    ) -> Result<PasswordReset> {
        self.0.admin("reset_user_password", WRITE).await?;
        self.0
            .principal()
            .require_person("setting another user's password")?;
        if self.0.principal().user_id() == Some(id) {
            return Err(Denied::OwnPassword.into());
        }
        let user = self
            .0
            .tenant()
            .users()
            .get(id)
            .await?
            .ok_or_else(user_not_found)?;
        let config = self.0.services.config();
        let hash = match &password {
            Some(given) => {
                config.password_policy.check(given)?;
                Some(config.hasher.hash(given).await?)
            }
            None => None,
        };
        let mailing = self.0.services.mail_enabled();
        let mail = if mailing {
            MailStatus::Queued
        } else {
            MailStatus::NotConfigured
        };
        let organization = self.0.principal().organization().name.clone();
        let mut work = self.0.begin().await?;
        let tenant = work.own();
        let outcome = match &hash {
            Some(hash) => {
                let user = tenant.users().replace_password(id, hash).await?;
                if mailing {
                    mail::queue(
                        work.system(),
                        MailKind::PasswordChanged,
                        &user,
                        &organization,
                        None,
                    )
                    .await?;
                }
                PasswordReset::Set { notice: mail }
            }
            None => {
                let issued = generate_reset_token();
                let expires_at = chrono::Utc::now() + chrono::Duration::hours(RESET_TOKEN_HOURS);
                let user = tenant
                    .users()
                    .set_reset_token(id, &issued.hash, expires_at)
                    .await?;
                if mailing {
                    mail::queue(
                        work.system(),
                        MailKind::PasswordReset,
                        &user,
                        &organization,
                        Some((&issued.token, expires_at)),
                    )
                    .await?;
                }
                PasswordReset::Token {
                    token: issued.token,
                    expires_at,
                    mail,
                }
            }
        };
        let sessions = work.end_sessions(id).await?;
        work.commit(
            AuditEvent::ResetPassword,
            Entry::about(
                "user",
                id.as_uuid(),
                json!({
                    "username": user.username.as_str(),
                    "method": if hash.is_some() { "password" } else { "reset_token" },
                    "sessions_revoked": sessions,
                    "mail_queued": mailing,
                }),
            ),
        )
        .await?;
        if mailing {
            self.0.services.wake_mail_worker();
        }
        Ok(outcome)
    }

    /// Sets a user's password without the current one, as the original's
    /// UI asks (`PUT /users/{id}/password`): for another user, an org_admin's
    /// reset ([`Users::reset_password`], every session of theirs ends); for
    /// oneself, a signed-in session's change whose other sessions end while
    /// this one stays.
    ///
    /// # Errors
    /// As [`Users::reset_password`] for another user; for oneself 403 with
    /// an API key or without a session, 400 `weak_password`; 503 when the
    /// database is unavailable.
    pub async fn set_password(&self, id: UserId, password: Secret) -> Result<()> {
        if self.0.principal().user_id() != Some(id) {
            self.reset_password(id, Some(password)).await?;
            return Ok(());
        }
        self.0.principal().refuse_pending_password_change()?;
        self.0
            .services
            .account(self.0.ctx)
            .set_password(&password, false)
            .await
    }
}

impl Anonymous<'_> {
    /// Sets a new password with a one-time reset token an org_admin issued
    /// (no sign-in needed: the token is the credential). The token is used
    /// up, every session of the user ends, and a pending temporary password
    /// is replaced.
    ///
    /// # Errors
    /// 400 `invalid_reset_token` for an unknown, used or expired token, or a
    /// user or organization no longer active; 400 `weak_password`; 503 when
    /// the database or hasher cannot serve.
    pub async fn redeem_reset_token(&self, token: &Secret, new_password: &Secret) -> Result<()> {
        let services = self.services();
        let invalid = || ServiceError::from(Unauthenticated::InvalidResetToken);
        let digest = hash_refresh_token(token.expose());
        let system = services.database().system();
        let Some((user, expires_at)) = system.users().find_by_reset_token(&digest).await? else {
            return Err(invalid());
        };
        let organization = system.organizations().get(user.organization_id).await?;
        let usable = expires_at.is_some_and(|at| at > chrono::Utc::now())
            && user.is_active
            && organization.as_ref().is_some_and(|o| o.is_active);
        let (Some(organization), true) = (organization, usable) else {
            return Err(invalid());
        };
        services.config().password_policy.check(new_password)?;
        let hash = services.config().hasher.hash(new_password).await?;
        let mut work = Work::begin(services, Origin::Client(self.client())).await?;
        // Conditional on the token still being there, so two redemptions of
        // one token cannot both succeed.
        if !work
            .tenant(user.organization_id)
            .users()
            .redeem_reset_token(user.id, &digest, &hash)
            .await?
        {
            return Err(invalid());
        }
        // A notice, unless this was an invitation being accepted (the
        // user never signed in): then the person choosing it is the notice.
        let notice = services.mail_enabled() && user.last_login_at.is_some();
        if notice {
            mail::queue(
                work.system(),
                MailKind::PasswordChanged,
                &user,
                &organization.name,
                None,
            )
            .await?;
        }
        let sessions = work.end_sessions(user.id).await?;
        work.commit(
            AuditEvent::RedeemResetToken,
            Entry::about(
                "user",
                user.id.as_uuid(),
                json!({"username": user.username.as_str(), "sessions_revoked": sessions}),
            )
            .by_user(Some(user.organization_id), Some(user.id)),
        )
        .await?;
        if notice {
            services.wake_mail_worker();
        }
        Ok(())
    }

    /// Asks for a password reset by e-mail ("forgot password"): when the
    /// address belongs to an active user of an active organization, a
    /// one-time link (valid [`RESET_TOKEN_HOURS`]) is mailed to it. The
    /// answer is the same whether or not it does, and so is the work done
    /// before answering: the reset is made after the answer. Requests are
    /// counted per client address with the login limit and window.
    ///
    /// # Errors
    /// 400 `validation_failed` for something that is no e-mail address; 429
    /// `too_many_attempts` past the limit; 503 when the database is
    /// unavailable.
    pub async fn request_password_reset(&self, email: &str) -> Result<MailStatus> {
        let services = self.services();
        let client = self.client();
        if let Err(refused) = services.password_resets().reserve(client.ip).await {
            return Err(services
                .refused(
                    client,
                    None,
                    "password_reset",
                    refused.retry_after,
                    "password reset requests from this address",
                )
                .await);
        }
        let email = EmailAddress::parse(email)?;
        if !services.mail_enabled() {
            return Ok(MailStatus::NotConfigured);
        }
        let user = services
            .database()
            .system()
            .users()
            .find_by_email(email.as_str())
            .await?;
        let services = services.clone();
        let client = client.clone();
        tokio::spawn(async move {
            if let Some(user) = user
                && let Err(e) = services.mail_password_reset(&client, user).await
            {
                tracing::warn!("could not queue a requested password reset: {e}");
            }
        });
        Ok(MailStatus::Queued)
    }
}

impl Services {
    /// Issues a reset token to `user` and queues the mail carrying it, as
    /// the user asked without signing in; nothing for an inactive user or
    /// organization.
    async fn mail_password_reset(&self, client: &crate::context::Client, user: User) -> Result<()> {
        let Some(organization) = self
            .database()
            .system()
            .organizations()
            .get(user.organization_id)
            .await?
        else {
            return Ok(());
        };
        if !user.is_active || !organization.is_active {
            return Ok(());
        }
        let issued = generate_reset_token();
        let expires_at = chrono::Utc::now() + chrono::Duration::hours(RESET_TOKEN_HOURS);
        let work = Work::begin(self, Origin::Client(client)).await?;
        let user = work
            .tenant(organization.id)
            .users()
            .set_reset_token(user.id, &issued.hash, expires_at)
            .await?;
        mail::queue(
            work.system(),
            MailKind::PasswordReset,
            &user,
            &organization.name,
            Some((&issued.token, expires_at)),
        )
        .await?;
        work.commit(
            AuditEvent::RequestPasswordReset,
            Entry::about(
                "user",
                user.id.as_uuid(),
                json!({"username": user.username.as_str()}),
            )
            .by_user(Some(organization.id), Some(user.id)),
        )
        .await?;
        self.wake_mail_worker();
        Ok(())
    }
}
