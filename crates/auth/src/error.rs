/// Why a password or token operation failed, sorted by what the caller should
/// answer: a policy message to show, a 503 to retry, or an internal error.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password breaks the policy; the message is safe to show the user.
    #[error("{0}")]
    PasswordPolicy(String),
    /// Too many hashes are already waiting; answer 503 and let the client retry
    /// rather than queueing without bound.
    #[error("password hashing is busy; try again shortly")]
    Busy,
    /// Something on the server's side failed: password hashing (bad argon2
    /// parameters, a stopped hashing pool), token signing, or the system
    /// clock. Log it and answer 500; the text is for the log, not the client.
    #[error("internal authentication failure: {0}")]
    Internal(String),
}
