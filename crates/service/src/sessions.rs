//! Sessions: log in, refresh, log out, register, change one's password.
//!
//! Who has not signed in yet reaches these through [`Anonymous`]
//! (`services.anonymous(&client)`); a signed-in caller's own account through
//! [`Account`] (`services.account(&ctx)`).

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::{Client, Principal, RequestContext};
use crate::error::{Denied, Invalid, Result, ServiceError, Unauthenticated};
use crate::handle::Bound;
use crate::limiter::{Account as Limited, LoginAttempt, Refused};
use crate::services::{Services, authentication_required};
use crate::text;
use crate::work::{Origin, Work};
use curatore_auth::{PasswordCheck, generate_refresh_token, hash_refresh_token};
use curatore_domain::{
    EmailAddress, NewRefreshToken, NewUser, Organization, OrganizationId, Role, Secret, User,
    UserId, Username,
};
use curatore_persistence::{AccessSnapshot, RotateOutcome};
use serde_json::json;
use uuid::Uuid;

/// Longest login name looked up; longer ones cannot name a user.
const LOGIN_MAX: usize = 255;

/// A signed-in session: what a login or refresh hands out.
#[derive(Debug)]
pub struct Session {
    /// The access token (a JWT).
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The refresh token; shown to the client, stored only as a digest.
    pub refresh_token: Secret,
    /// The user.
    pub user: User,
    /// The user's organization.
    pub organization: Organization,
}

/// The use cases of a client that has not authenticated: sign in, refresh,
/// sign out by refresh token, open registration, reset-token redemption.
#[derive(Clone, Copy)]
pub struct Anonymous<'a> {
    services: &'a Services,
    client: &'a Client,
}

/// The signed-in caller's own account: the password, the session.
#[derive(Clone, Copy)]
pub struct Account<'a>(Bound<'a>);

impl Services {
    /// The use cases open to a client that has not authenticated.
    pub fn anonymous<'a>(&'a self, client: &'a Client) -> Anonymous<'a> {
        Anonymous {
            services: self,
            client,
        }
    }

    /// The caller's own account. Also for a caller who signed in with a
    /// temporary password ([`Services::authenticate_pending`]): changing it
    /// and signing out are all such a caller may do.
    pub fn account<'a>(&'a self, ctx: &'a RequestContext) -> Account<'a> {
        Account(Bound::new(self, ctx))
    }
}

/// A new user and the name of the organization they joined.
#[derive(Debug)]
pub struct Registered {
    /// The user.
    pub user: User,
    /// Their organization's name.
    pub organization_name: String,
}

/// A new user, as a registration asks for it.
#[derive(Debug)]
pub struct Registration {
    /// E-mail address.
    pub email: String,
    /// Login name.
    pub username: String,
    /// Password (checked against the policy, then hashed).
    pub password: Secret,
    /// Display name.
    pub full_name: Option<String>,
    /// Role (org_admin registrations only; self-registration is `member`).
    pub role: Option<Role>,
}

fn invalid_credentials() -> ServiceError {
    Unauthenticated::InvalidCredentials.into()
}

fn invalid_refresh_token() -> ServiceError {
    Unauthenticated::InvalidRefreshToken.into()
}

/// A login attempt whose password has been checked.
struct CheckedLogin {
    user: Option<User>,
    check: PasswordCheck,
    attempt: LoginAttempt,
}

impl Services {
    /// The 429 of the login limits (recorded in the audit trail, sampled).
    async fn refused_login(
        &self,
        client: &Client,
        organization: Option<OrganizationId>,
        refused: Refused,
    ) -> ServiceError {
        self.refused(
            client,
            organization,
            "login",
            refused.retry_after,
            "failed logins",
        )
        .await
    }

    /// Logs a user in by e-mail or username. Every failure (unknown user,
    /// wrong password, inactive user or organization) gets the same answer
    /// after the same work, and is audited.
    ///
    /// # Errors
    /// 401 `invalid_credentials`; 429 `too_many_attempts`; 400 for a login
    /// holding control characters; 503 when the database or hasher cannot serve.
    pub(crate) async fn login(
        &self,
        client: &Client,
        login: &str,
        password: &Secret,
    ) -> Result<Session> {
        let session = self.log_in(client, login, password).await;
        let outcome = match &session {
            Ok(_) => "success",
            Err(ServiceError::Unauthenticated(Unauthenticated::InvalidCredentials)) => "failure",
            Err(ServiceError::Limited(_)) => "locked_out",
            Err(_) => "error",
        };
        metrics::counter!(crate::metrics::LOGINS, "outcome" => outcome).increment(1);
        session
    }

    async fn log_in(&self, client: &Client, login: &str, password: &Secret) -> Result<Session> {
        let CheckedLogin {
            user,
            check,
            attempt,
        } = self.check_login(client, login, password).await?;
        let system = self.database().system();
        let Some(user) = user else {
            attempt.failed();
            system
                .audit_logs()
                .record(
                    Entry::anonymous(json!({"reason": "unknown_user"}))
                        .failed("invalid credentials")
                        .done_from(AuditEvent::Login, client),
                )
                .await?;
            return Err(invalid_credentials());
        };
        let organization = system.organizations().get(user.organization_id).await?;
        let refused = match (&check, &organization) {
            (PasswordCheck::Invalid, _) => Some("wrong_password"),
            (_, None) => Some("organization_missing"),
            _ if !user.is_active => Some("user_inactive"),
            (_, Some(org)) if !org.is_active => Some("organization_inactive"),
            _ => None,
        };
        let (Some(organization), None) = (organization, refused) else {
            attempt.failed();
            system
                .audit_logs()
                .record(
                    Entry::about("user", user.id.as_uuid(), json!({"reason": refused}))
                        .by_user(Some(user.organization_id), Some(user.id))
                        .failed("invalid credentials")
                        .done_from(AuditEvent::Login, client),
                )
                .await?;
            return Err(invalid_credentials());
        };
        attempt.succeeded();
        if user.password_change_required
            && user
                .password_expires_at
                .is_some_and(|at| at <= chrono::Utc::now())
        {
            system
                .audit_logs()
                .record(
                    Entry::about(
                        "user",
                        user.id.as_uuid(),
                        json!({"reason": "temporary_password_expired"}),
                    )
                    .by_user(Some(user.organization_id), Some(user.id))
                    .failed("temporary password expired")
                    .done_from(AuditEvent::Login, client),
                )
                .await?;
            return Err(Unauthenticated::TemporaryPasswordExpired.into());
        }
        // Hashing happens before the write transaction: SQLite writers wait
        // for each other, so nothing slow may run while holding the turn.
        let rehashed = match check {
            PasswordCheck::Valid { needs_rehash: true } => {
                Some(self.config().hasher.hash(password).await?)
            }
            _ => None,
        };
        let family = Uuid::new_v4();
        let refresh = generate_refresh_token();
        let mut work = Work::begin(self, Origin::Client(client)).await?;
        let users = work.tenant(organization.id).users();
        if let Some(hash) = &rehashed {
            users.set_password_hash(user.id, hash).await?;
        }
        work.system()
            .refresh_tokens()
            .create(NewRefreshToken {
                user_id: user.id,
                family_id: family,
                token_hash: refresh.hash.clone(),
                expires_at: chrono::Utc::now() + self.config().refresh_ttl,
                ip_address: Some(client.ip.to_string()),
                user_agent: client.user_agent.clone(),
            })
            .await?;
        let user = users.record_login(user.id, chrono::Utc::now()).await?;
        if rehashed.is_some() {
            work.forget(Forget::User(user.id));
        }
        work.commit(
            AuditEvent::Login,
            Entry::about(
                "user",
                user.id.as_uuid(),
                json!({"rehashed": rehashed.is_some()}),
            )
            .by_user(Some(organization.id), Some(user.id)),
        )
        .await?;
        self.session(user, organization, family, refresh.token)
    }

    /// Normalise → reserve against the client address → look the user up →
    /// reserve against the (account, address) pair → wait if the account is
    /// under attack from several addresses → verify. Unknown logins take the
    /// same path and are verified against the dummy hash.
    async fn check_login(
        &self,
        client: &Client,
        login: &str,
        password: &Secret,
    ) -> Result<CheckedLogin> {
        let limiter = self.limiter();
        let login = login.trim();
        // No account's name holds such characters; PostgreSQL cannot even look them up.
        curatore_domain::text::check_line("email_or_username", login)?;
        let reservation = match limiter.reserve_ip(client.ip).await {
            Ok(reserved) => reserved,
            Err(refused) => return Err(self.refused_login(client, None, refused).await),
        };
        // On error the reservation is dropped, which gives it back.
        let user = if login.is_empty() || login.len() > LOGIN_MAX {
            None
        } else {
            self.database()
                .system()
                .users()
                .find_by_login(login)
                .await?
        };
        let account = user
            .as_ref()
            .map_or_else(|| Limited::unknown(login), |u| Limited::User(u.id));
        let attempt = match limiter.reserve_account(reservation, account).await {
            Ok(reserved) => reserved,
            Err(refused) => {
                return Err(self
                    .refused_login(client, user.as_ref().map(|u| u.organization_id), refused)
                    .await);
            }
        };
        if !attempt.delay.is_zero() {
            tokio::time::sleep(attempt.delay).await;
        }
        let hasher = &self.config().hasher;
        let verified = match &user {
            Some(user) => hasher.verify(password, &user.password_hash).await,
            None => hasher
                .verify_dummy(password)
                .await
                .map(|()| PasswordCheck::Invalid),
        };
        match verified {
            Ok(check) => Ok(CheckedLogin {
                user,
                check,
                attempt,
            }),
            Err(err) => {
                attempt.abandon();
                Err(err.into())
            }
        }
    }

    fn session(
        &self,
        user: User,
        organization: Organization,
        family: Uuid,
        refresh_token: Secret,
    ) -> Result<Session> {
        let access =
            self.config()
                .signer
                .issue_access(user.id, organization.id, user.role, family)?;
        Ok(Session {
            access_token: access.token,
            expires_in: access.expires_in,
            refresh_token,
            user,
            organization,
        })
    }

    /// Rotates a refresh token. A token rotated moments ago (within
    /// `REFRESH_TOKEN_REUSE_INTERVAL_SECONDS`) gets the same successor again;
    /// any other reuse of a rotated token ends its whole session.
    pub(crate) async fn refresh(&self, client: &Client, token: &Secret) -> Result<Session> {
        let presented = hash_refresh_token(token.expose());
        // Derived, not random: a parallel or retried refresh of the same
        // token computes the same successor, which the grace can hand out again.
        let successor = self.config().signer.refresh_successor(token.expose());
        let mut work = Work::begin(self, Origin::Client(client)).await?;
        let outcome = work
            .system()
            .refresh_tokens()
            .rotate_with_grace(
                &presented,
                &successor.hash,
                self.config().refresh_reuse_grace,
                Some(client.ip.to_string()),
                client.user_agent.clone(),
            )
            .await?;
        let (current, within_grace) = match outcome {
            RotateOutcome::Rotated { current, .. } => (current, false),
            RotateOutcome::WithinGrace { current, .. } => (current, true),
            RotateOutcome::Reused { family_id, user_id } => {
                metrics::counter!(crate::metrics::REFRESH_REUSE).increment(1);
                // A rotated token came back: stolen or replayed. End the whole
                // family, so neither the thief nor the victim can go on.
                let revoked = work.end_session(family_id).await?;
                let org = work
                    .system()
                    .users()
                    .get(user_id)
                    .await?
                    .map(|u| u.organization_id);
                work.commit(
                    AuditEvent::RefreshTokenReuse,
                    Entry::about(
                        "user",
                        user_id.as_uuid(),
                        json!({"family_id": family_id, "revoked_tokens": revoked}),
                    )
                    .by_user(org, Some(user_id))
                    .failed("a rotated refresh token was presented; session revoked"),
                )
                .await?;
                return Err(invalid_refresh_token());
            }
            RotateOutcome::Expired { .. } | RotateOutcome::Unknown => {
                return Err(invalid_refresh_token());
            }
        };
        let Some(AccessSnapshot {
            user, organization, ..
        }) = work
            .system()
            .access_snapshot(current.user_id, current.family_id)
            .await?
        else {
            return Err(invalid_refresh_token());
        };
        let entry = Entry::about("user", user.id.as_uuid(), json!({}))
            .by_user(Some(organization.id), Some(user.id));
        if !user.is_active || !organization.is_active {
            work.end_session(current.family_id).await?;
            work.commit(
                AuditEvent::TokenRefresh,
                Entry {
                    details: json!({"reason": "inactive"}),
                    ..entry
                }
                .failed("user or organization inactive"),
            )
            .await?;
            return Err(invalid_refresh_token());
        }
        let details = if within_grace {
            json!({"reuse_grace": true})
        } else {
            json!({})
        };
        work.commit(AuditEvent::TokenRefresh, Entry { details, ..entry })
            .await?;
        // Within the grace this is the successor already handed out.
        self.session(user, organization, current.family_id, successor.token)
    }

    /// Ends the session (refresh-token family) `family` of `user_id`.
    async fn end_session(&self, origin: Origin<'_>, family: Uuid, user_id: UserId) -> Result<()> {
        let mut work = Work::begin(self, origin).await?;
        let revoked = work.end_session(family).await?;
        let org = work
            .system()
            .users()
            .get(user_id)
            .await?
            .map(|u| u.organization_id);
        work.commit(
            AuditEvent::Logout,
            Entry::about(
                "user",
                user_id.as_uuid(),
                json!({"revoked_tokens": revoked}),
            )
            .by_user(org, Some(user_id)),
        )
        .await
    }

    /// Creates a user: in `admin`'s organization with the role asked for, or
    /// (open registration) in the default organization as a `member`, a
    /// limited number of times per client address. The password is marked
    /// temporary (to be changed at first login, unusable after
    /// `temporary_until`) in the same transaction when asked.
    pub(crate) async fn register_user(
        &self,
        client: &Client,
        admin: Option<&RequestContext>,
        new: Registration,
        temporary_until: Option<chrono::DateTime<chrono::Utc>>,
        invite_by_mail: bool,
    ) -> Result<Registered> {
        let config = self.config();
        let (organization, role) = match admin {
            Some(ctx) => (
                ctx.principal.organization().clone(),
                new.role.unwrap_or_default(),
            ),
            None => {
                if let Err(refused) = self.registrations().reserve(client.ip).await {
                    return Err(self
                        .refused(
                            client,
                            None,
                            "registration",
                            refused.retry_after,
                            "registrations from this address",
                        )
                        .await);
                }
                if new.role.is_some_and(|r| r != Role::Member) {
                    return Err(ServiceError::from(Denied::SelfRegisteredMember));
                }
                (self.default_organization().await?, Role::Member)
            }
        };
        let email = EmailAddress::parse(&new.email)?;
        let username = Username::parse(&new.username)?;
        let full_name = text::optional("full_name", new.full_name, text::NAME_MAX)?;
        config.password_policy.check(&new.password)?;
        let password_hash = config.hasher.hash(&new.password).await?;
        let origin = match admin {
            Some(ctx) => Origin::Caller(ctx),
            None => Origin::Client(client),
        };
        let work = Work::begin(self, origin).await?;
        let users = work.tenant(organization.id).users();
        let user = users
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
        let user = match temporary_until {
            Some(until) => users.require_password_change(user.id, until).await?,
            None => user,
        };
        if invite_by_mail {
            // The link in the mail is a reset token that lives as long as
            // a temporary password would.
            let issued = curatore_auth::generate_reset_token();
            let expires_at =
                chrono::Utc::now() + chrono::Duration::days(crate::users::INVITATION_TOKEN_DAYS);
            users
                .set_reset_token(user.id, &issued.hash, expires_at)
                .await?;
            crate::mail::queue(
                work.system(),
                curatore_domain::MailKind::Invitation,
                &user,
                &organization.name,
                Some((&issued.token, expires_at)),
            )
            .await?;
        }
        let entry = match admin {
            Some(_) => Entry::about(
                "user",
                user.id.as_uuid(),
                json!({
                    "username": user.username.as_str(),
                    "role": role.as_str(),
                    "invitation_mailed": invite_by_mail,
                }),
            ),
            None => Entry::about(
                "user",
                user.id.as_uuid(),
                json!({"username": user.username.as_str(), "self_registered": true}),
            )
            .by_user(Some(organization.id), Some(user.id)),
        };
        work.commit(AuditEvent::Register, entry).await?;
        if invite_by_mail {
            self.wake_mail_worker();
        }
        Ok(Registered {
            user,
            organization_name: organization.name,
        })
    }
}

impl<'a> Anonymous<'a> {
    pub(crate) fn services(&self) -> &'a Services {
        self.services
    }

    pub(crate) fn client(&self) -> &'a Client {
        self.client
    }

    /// Logs a user in by e-mail or username. Every failure (unknown user,
    /// wrong password, inactive user or organization) gets the same answer
    /// after the same work, and is audited.
    ///
    /// # Errors
    /// 401 `invalid_credentials`; 429 `too_many_attempts`; 400 for a login
    /// holding control characters; 503 when the database or hasher cannot serve.
    pub async fn login(&self, login: &str, password: &Secret) -> Result<Session> {
        self.services.login(self.client, login, password).await
    }

    /// Rotates a refresh token. A token rotated moments ago (within
    /// `REFRESH_TOKEN_REUSE_INTERVAL_SECONDS`) gets the same successor again;
    /// any other reuse of a rotated token ends its whole session.
    ///
    /// # Errors
    /// 401 `invalid_refresh_token`; 503 when the database is unavailable.
    pub async fn refresh(&self, token: &Secret) -> Result<Session> {
        self.services.refresh(self.client, token).await
    }

    /// Ends the session of a refresh token: its tokens are revoked, and
    /// access tokens issued with it stop working at once. An unknown refresh
    /// token ends nothing and says nothing.
    ///
    /// # Errors
    /// 503 when the database is unavailable.
    pub async fn logout(&self, refresh_token: &Secret) -> Result<()> {
        let found = self
            .services
            .database()
            .system()
            .refresh_tokens()
            .find_by_hash(&hash_refresh_token(refresh_token.expose()))
            .await?;
        match found {
            Some(record) => {
                self.services
                    .end_session(
                        Origin::Client(self.client),
                        record.family_id,
                        record.user_id,
                    )
                    .await
            }
            None => Ok(()),
        }
    }

    /// Open registration (`ALLOW_REGISTRATION=true`): joins the default
    /// organization as a `member`, a limited number of times per client
    /// address. An org_admin creates users with [`crate::Users::invite`].
    ///
    /// # Errors
    /// 401 `authentication_required` when registration is closed; 403 when
    /// a role other than member is asked for; 429 past the limit; 400/409
    /// for invalid or taken values; 503 when the database is unavailable.
    pub async fn register(&self, new: Registration) -> Result<Registered> {
        if !self.services.config().allow_registration {
            return Err(authentication_required());
        }
        self.services
            .register_user(self.client, None, new, None, false)
            .await
    }
}

impl Account<'_> {
    /// Ends the caller's session (its refresh-token family): access tokens
    /// issued with it stop working at once.
    ///
    /// # Errors
    /// 400 when the caller did not sign in with a token (an API key, or
    /// authentication disabled): send the refresh token instead; 503 when
    /// the database is unavailable.
    pub async fn logout(&self) -> Result<()> {
        let p = self.0.principal();
        let (Some(session), Some(user)) = (p.session_id(), p.user_id()) else {
            return Err(ServiceError::validation(
                "send the refresh token to log out of this session",
            ));
        };
        self.0
            .services
            .end_session(Origin::Caller(self.0.ctx), session, user)
            .await
    }

    /// Ends every session of the caller, this one included: every refresh
    /// token of theirs is revoked, and access tokens issued with them stop
    /// working at once.
    ///
    /// # Errors
    /// 403 for API keys and callers that are not signed-in users; 503 when
    /// the database is unavailable.
    pub async fn logout_everywhere(&self) -> Result<u64> {
        let (user_id, _) = signed_in_user(self.0.principal())?;
        let mut work = self.0.begin().await?;
        let revoked = work.end_sessions(user_id).await?;
        work.commit(
            AuditEvent::Logout,
            Entry::about(
                "user",
                user_id.as_uuid(),
                json!({"revoked_tokens": revoked, "everywhere": true}),
            ),
        )
        .await?;
        Ok(revoked)
    }

    /// Changes the caller's own password. The current one must be given
    /// (guesses count against the login limits); every other session of the
    /// user ends, the one in use stays.
    ///
    /// # Errors
    /// 403 for API keys and callers that are not users; 400
    /// `validation_failed` for a wrong current password, `weak_password` for
    /// a new one that breaks the policy or equals the old; 429 past the
    /// limits; 503 when the database or hasher cannot serve.
    pub async fn change_password(&self, current: &Secret, new: &Secret) -> Result<()> {
        let services = self.0.services;
        let ctx = self.0.ctx;
        let (user_id, _) = signed_in_user(&ctx.principal)?;
        let org = ctx.organization_id();
        let user = self
            .0
            .tenant()
            .users()
            .get(user_id)
            .await?
            .ok_or_else(|| ServiceError::from(Denied::UserGone))?;
        let limiter = services.limiter();
        let reservation = match limiter.reserve_ip(ctx.client.ip).await {
            Ok(reserved) => reserved,
            Err(refused) => {
                return Err(services
                    .refused_login(&ctx.client, Some(org), refused)
                    .await);
            }
        };
        let attempt = match limiter
            .reserve_account(reservation, Limited::User(user.id))
            .await
        {
            Ok(reserved) => reserved,
            Err(refused) => {
                return Err(services
                    .refused_login(&ctx.client, Some(org), refused)
                    .await);
            }
        };
        let hasher = &services.config().hasher;
        let check = match hasher.verify(current, &user.password_hash).await {
            Ok(check) => check,
            Err(err) => {
                attempt.abandon();
                return Err(err.into());
            }
        };
        if matches!(check, PasswordCheck::Invalid) {
            attempt.failed();
            return Err(ServiceError::validation("current_password is not correct"));
        }
        attempt.succeeded();
        if current.expose() == new.expose() {
            return Err(Invalid::SamePassword.into());
        }
        self.set_password(new, true).await
    }

    /// Sets the caller's own password, checked against the policy; every
    /// other session of theirs ends. The audit entry says when the current
    /// password was not asked for (`current_was_checked` false).
    pub(crate) async fn set_password(&self, new: &Secret, current_was_checked: bool) -> Result<()> {
        let services = self.0.services;
        let (user_id, session) = signed_in_user(self.0.principal())?;
        services.config().password_policy.check(new)?;
        let hash = services.config().hasher.hash(new).await?;
        let mailing = services.mail_enabled();
        let mut work = self.0.begin().await?;
        let user = work.own().users().replace_password(user_id, &hash).await?;
        if mailing {
            crate::mail::queue(
                work.system(),
                curatore_domain::MailKind::PasswordChanged,
                &user,
                &self.0.principal().organization().name,
                None,
            )
            .await?;
        }
        let revoked = work.end_other_sessions(user_id, session).await?;
        let mut details = json!({ "revoked_tokens": revoked });
        if !current_was_checked {
            details["current_password_checked"] = json!(false);
        }
        work.commit(
            AuditEvent::ChangePassword,
            Entry::about("user", user_id.as_uuid(), details),
        )
        .await?;
        if mailing {
            services.wake_mail_worker();
        }
        Ok(())
    }
}

/// The signed-in user and their session; API keys and the system principal
/// cannot change passwords.
fn signed_in_user(p: &Principal) -> Result<(UserId, Uuid)> {
    p.refuse_api_key("API keys cannot change passwords; sign in as a user")?;
    match (p.user_id(), p.session_id()) {
        (Some(user), Some(session)) => Ok((user, session)),
        _ => Err(Denied::PersonRequired("only a signed-in user can change a password").into()),
    }
}
