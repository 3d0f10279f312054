//! Sessions: log in, refresh, log out, register.

use crate::audit::{AuditEvent, Entry};
use crate::cache::Forget;
use crate::context::{Client, Principal, RequestContext};
use crate::error::{ErrorCode, Result, ServiceError};
use crate::limiter::{Account, LoginAttempt, Refused};
use crate::services::{Services, authentication_required};
use crate::text;
use curatore_auth::{PasswordCheck, generate_refresh_token, hash_refresh_token};
use curatore_domain::{
    EmailAddress, NewRefreshToken, NewUser, Organization, OrganizationId, Role, Secret, User,
    Username,
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

/// Which session a logout ends.
#[derive(Debug)]
pub enum LogoutTarget {
    /// The session of this refresh token.
    RefreshToken(Secret),
    /// The session the caller's access token belongs to.
    Caller(Box<Principal>),
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
    ServiceError::new(
        ErrorCode::InvalidCredentials,
        "invalid email/username or password",
    )
}

fn invalid_refresh_token() -> ServiceError {
    ServiceError::new(
        ErrorCode::InvalidRefreshToken,
        "the refresh token is not valid",
    )
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
    pub async fn login(&self, client: &Client, login: &str, password: &Secret) -> Result<Session> {
        let session = self.log_in(client, login, password).await;
        let outcome = match &session {
            Ok(_) => "success",
            Err(e) if e.code() == ErrorCode::InvalidCredentials => "failure",
            Err(e) if e.code() == ErrorCode::TooManyAttempts => "locked_out",
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
            return Err(ServiceError::new(
                ErrorCode::TemporaryPasswordExpired,
                "this temporary password has expired unused; ask an org_admin for a new one",
            ));
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
        let tx = self.database().begin().await?;
        let users = tx.tenant(organization.id).users();
        if let Some(hash) = &rehashed {
            users.set_password_hash(user.id, hash).await?;
        }
        tx.system()
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
        tx.tenant(organization.id)
            .audit_logs()
            .record(
                Entry::about(
                    "user",
                    user.id.as_uuid(),
                    json!({"rehashed": rehashed.is_some()}),
                )
                .by_user(Some(organization.id), Some(user.id))
                .done_from(AuditEvent::Login, client),
            )
            .await?;
        tx.commit().await?;
        if rehashed.is_some() {
            self.forget(Forget::User(user.id)).await;
        }
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
            .map_or_else(|| Account::unknown(login), |u| Account::User(u.id));
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
    ///
    /// # Errors
    /// 401 `invalid_refresh_token`; 503 when the database is unavailable.
    pub async fn refresh(&self, client: &Client, token: &Secret) -> Result<Session> {
        let presented = hash_refresh_token(token.expose());
        // Derived, not random: a parallel or retried refresh of the same
        // token computes the same successor, which the grace can hand out again.
        let successor = self.config().signer.refresh_successor(token.expose());
        let tx = self.database().begin().await?;
        let system = tx.system();
        let outcome = system
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
                let revoked = system.refresh_tokens().revoke_family(family_id).await?;
                let org = system
                    .users()
                    .get(user_id)
                    .await?
                    .map(|u| u.organization_id);
                system
                    .audit_logs()
                    .record(
                        Entry::about(
                            "user",
                            user_id.as_uuid(),
                            json!({"family_id": family_id, "revoked_tokens": revoked}),
                        )
                        .by_user(org, Some(user_id))
                        .failed("a rotated refresh token was presented; session revoked")
                        .done_from(AuditEvent::RefreshTokenReuse, client),
                    )
                    .await?;
                tx.commit().await?;
                self.forget(Forget::Session(family_id)).await;
                return Err(invalid_refresh_token());
            }
            RotateOutcome::Expired { .. } | RotateOutcome::Unknown => {
                return Err(invalid_refresh_token());
            }
        };
        let Some(AccessSnapshot {
            user, organization, ..
        }) = system
            .access_snapshot(current.user_id, current.family_id)
            .await?
        else {
            return Err(invalid_refresh_token());
        };
        let entry = Entry::about("user", user.id.as_uuid(), json!({}))
            .by_user(Some(organization.id), Some(user.id));
        if !user.is_active || !organization.is_active {
            system
                .refresh_tokens()
                .revoke_family(current.family_id)
                .await?;
            system
                .audit_logs()
                .record(
                    Entry {
                        details: json!({"reason": "inactive"}),
                        ..entry
                    }
                    .failed("user or organization inactive")
                    .done_from(AuditEvent::TokenRefresh, client),
                )
                .await?;
            tx.commit().await?;
            self.forget(Forget::Session(current.family_id)).await;
            return Err(invalid_refresh_token());
        }
        let details = if within_grace {
            json!({"reuse_grace": true})
        } else {
            json!({})
        };
        system
            .audit_logs()
            .record(Entry { details, ..entry }.done_from(AuditEvent::TokenRefresh, client))
            .await?;
        tx.commit().await?;
        // Within the grace this is the successor already handed out.
        self.session(user, organization, current.family_id, successor.token)
    }

    /// Ends a session: its refresh tokens are revoked, and access tokens
    /// issued with it stop working at once. An unknown refresh token ends
    /// nothing and says nothing.
    ///
    /// # Errors
    /// 400 when the caller is not a token session and sent no refresh
    /// token; 503 when the database is unavailable.
    pub async fn logout(&self, client: &Client, target: LogoutTarget) -> Result<()> {
        let system = self.database().system();
        let (family, user_id) = match target {
            LogoutTarget::RefreshToken(token) => match system
                .refresh_tokens()
                .find_by_hash(&hash_refresh_token(token.expose()))
                .await?
            {
                Some(record) => (record.family_id, record.user_id),
                None => return Ok(()),
            },
            LogoutTarget::Caller(principal) => {
                match (principal.session_id(), principal.user_id()) {
                    (Some(sid), Some(uid)) => (sid, uid),
                    _ => {
                        return Err(ServiceError::validation(
                            "send the refresh token to log out of this session",
                        ));
                    }
                }
            }
        };
        let tx = self.database().begin().await?;
        let system = tx.system();
        let revoked = system.refresh_tokens().revoke_family(family).await?;
        let org = system
            .users()
            .get(user_id)
            .await?
            .map(|u| u.organization_id);
        system
            .audit_logs()
            .record(
                Entry::about(
                    "user",
                    user_id.as_uuid(),
                    json!({"revoked_tokens": revoked}),
                )
                .by_user(org, Some(user_id))
                .done_from(AuditEvent::Logout, client),
            )
            .await?;
        tx.commit().await?;
        self.forget(Forget::Session(family)).await;
        Ok(())
    }

    /// Creates a user. With `ALLOW_REGISTRATION=false` only an `org_admin`
    /// may, in their own organization; with it open, anyone may join the
    /// default organization as a `member`, a limited number of times per
    /// client address. API keys may not create users.
    ///
    /// # Errors
    /// 401 without credentials when registration is closed; 403 for keys,
    /// non-admins and self-registration with a role; 429 past the limit;
    /// 400/409 for invalid or taken values; 503 when the database is unavailable.
    pub async fn register(
        &self,
        client: &Client,
        caller: Option<&Principal>,
        new: Registration,
    ) -> Result<User> {
        self.register_with(client, caller, new, None).await
    }

    /// [`Services::register`], optionally marking the password as temporary
    /// (to be changed at first login, unusable after `temporary_until`) in
    /// the same transaction.
    pub(crate) async fn register_with(
        &self,
        client: &Client,
        caller: Option<&Principal>,
        new: Registration,
        temporary_until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<User> {
        if let Some(p) = caller {
            p.refuse_api_key("API keys cannot create users; sign in as a user")?;
        }
        let config = self.config();
        let (organization_id, role, actor) = match caller {
            Some(p) if p.role() == Role::OrgAdmin => {
                (p.organization_id(), new.role.unwrap_or_default(), Some(p))
            }
            _ if config.allow_registration => {
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
                    return Err(ServiceError::forbidden("self-registered users are members"));
                }
                (self.default_organization().await?.id, Role::Member, None)
            }
            Some(_) => {
                return Err(ServiceError::forbidden(
                    "only an org_admin may create users",
                ));
            }
            None => return Err(authentication_required()),
        };
        let email = EmailAddress::parse(&new.email)?;
        let username = Username::parse(&new.username)?;
        let full_name = text::optional("full_name", new.full_name, text::NAME_MAX)?;
        config.password_policy.check(&new.password)?;
        let password_hash = config.hasher.hash(&new.password).await?;
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(organization_id);
        let user = tenant
            .users()
            .create(NewUser {
                organization_id,
                email,
                username,
                password_hash,
                full_name,
                role,
                is_verified: false,
            })
            .await?;
        let user = match temporary_until {
            Some(until) => {
                tenant
                    .users()
                    .require_password_change(user.id, until)
                    .await?
            }
            None => user,
        };
        let entry = match actor {
            Some(p) => Entry::about(
                "user",
                user.id.as_uuid(),
                json!({"username": user.username.as_str(), "role": role.as_str()}),
            )
            .by(
                AuditEvent::Register,
                &RequestContext {
                    principal: p.clone(),
                    client: client.clone(),
                },
            ),
            None => Entry::about(
                "user",
                user.id.as_uuid(),
                json!({"username": user.username.as_str(), "self_registered": true}),
            )
            .by_user(Some(organization_id), Some(user.id))
            .done_from(AuditEvent::Register, client),
        };
        tenant.audit_logs().record(entry).await?;
        tx.commit().await?;
        Ok(user)
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
    pub async fn change_password(
        &self,
        ctx: &RequestContext,
        current: &Secret,
        new: &Secret,
    ) -> Result<()> {
        ctx.principal
            .refuse_api_key("API keys cannot change passwords; sign in as a user")?;
        let (Some(user_id), Some(session)) = (ctx.principal.user_id(), ctx.principal.session_id())
        else {
            return Err(ServiceError::forbidden(
                "only a signed-in user can change a password",
            ));
        };
        let org = ctx.organization_id();
        let user = self
            .database()
            .tenant(org)
            .users()
            .get(user_id)
            .await?
            .ok_or_else(|| ServiceError::forbidden("the user no longer exists"))?;
        let limiter = self.limiter();
        let reservation = match limiter.reserve_ip(ctx.client.ip).await {
            Ok(reserved) => reserved,
            Err(refused) => return Err(self.refused_login(&ctx.client, Some(org), refused).await),
        };
        let attempt = match limiter
            .reserve_account(reservation, Account::User(user.id))
            .await
        {
            Ok(reserved) => reserved,
            Err(refused) => return Err(self.refused_login(&ctx.client, Some(org), refused).await),
        };
        let hasher = &self.config().hasher;
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
            return Err(ServiceError::new(
                ErrorCode::WeakPassword,
                "the new password must differ from the current one",
            ));
        }
        self.config().password_policy.check(new)?;
        let hash = hasher.hash(new).await?;
        let tx = self.database().begin().await?;
        let tenant = tx.tenant(org);
        tenant.users().replace_password(user.id, &hash).await?;
        let revoked = tx
            .system()
            .refresh_tokens()
            .revoke_all_for_user_except(user.id, session)
            .await?;
        tenant
            .audit_logs()
            .record(
                Entry::about(
                    "user",
                    user.id.as_uuid(),
                    json!({"revoked_tokens": revoked}),
                )
                .by(AuditEvent::ChangePassword, ctx),
            )
            .await?;
        tx.commit().await?;
        self.forget(Forget::User(user.id)).await;
        Ok(())
    }
}
