//! Names of the metrics the use cases record (see `docs/metrics.md`).

/// Counter, by `outcome`: `success`, `failure` (401 `invalid_credentials`),
/// `locked_out` (429 `too_many_attempts`), `error` (anything else: 400, 503).
pub const LOGINS: &str = "curatore_logins_total";
/// Counter: rotated refresh tokens presented again outside the grace
/// interval (the whole session is ended).
pub const REFRESH_REUSE: &str = "curatore_refresh_token_reuse_detected_total";
