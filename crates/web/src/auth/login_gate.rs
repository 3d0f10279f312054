//! The order of checks for one login attempt, so that the limits hold however
//! many attempts arrive at once and from however many addresses.

use super::limiter::{Account, LoginAttempt, Refused};
use crate::error::ApiError;
use crate::state::AppState;
use curatore_auth::PasswordCheck;
use curatore_domain::{Secret, User};
use std::net::IpAddr;

/// Longest login name looked up; longer ones cannot name a user.
const LOGIN_MAX: usize = 255;

/// A login attempt whose password has been checked. The caller settles the
/// attempt with [`LoginAttempt::succeeded`] or [`LoginAttempt::failed`]
/// (dropped unsettled, it counts as a failure).
#[derive(Debug)]
pub(crate) struct CheckedLogin {
    /// The user the login names, if any.
    pub(crate) user: Option<User>,
    /// The password's verdict (always `Invalid` for an unknown user).
    pub(crate) check: PasswordCheck,
    /// The reservation in the limiter.
    pub(crate) attempt: LoginAttempt,
}

fn too_many_logins(refused: Refused) -> ApiError {
    ApiError::too_many_attempts(refused.retry_after, "failed logins")
}

/// Normalise → reserve against the client address → look the user up →
/// reserve against the (account, address) pair → wait if the account is
/// under attack from several addresses → verify. Unknown logins take the
/// same path and are verified against the dummy hash, so they cost the same
/// time and give the same answers as a wrong password.
///
/// # Errors
/// 429 `too_many_attempts` when the address, or the address for this
/// account, has used its budget (or attempts in flight kept it full for
/// too long); 503 when the database or the hasher cannot serve (the
/// attempt is then not counted).
pub(crate) async fn check_login(
    state: &AppState,
    login: &str,
    password: &Secret,
    ip: IpAddr,
) -> Result<CheckedLogin, ApiError> {
    let auth = state.auth();
    let limiter = &auth.limiter;
    let login = login.trim();
    // No account's name holds such characters; PostgreSQL cannot even look them up.
    curatore_domain::text::check_line("email_or_username", login)?;
    let reservation = limiter.reserve_ip(ip).await.map_err(too_many_logins)?;
    // On error the reservation is dropped, which gives it back.
    let user = if login.is_empty() || login.len() > LOGIN_MAX {
        None
    } else {
        state.database().users().find_by_login(login).await?
    };
    let account = user
        .as_ref()
        .map_or_else(|| Account::unknown(login), |u| Account::User(u.id));
    let attempt = limiter
        .reserve_account(reservation, account)
        .await
        .map_err(too_many_logins)?;
    if !attempt.delay.is_zero() {
        tokio::time::sleep(attempt.delay).await;
    }
    let verified = match &user {
        Some(user) => {
            auth.config
                .hasher
                .verify(password, &user.password_hash)
                .await
        }
        None => auth
            .config
            .hasher
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
