//! Names of the metrics the use cases record (see `docs/metrics.md`).

/// Counter, by `outcome`: `success`, `failure` (401 `invalid_credentials`),
/// `locked_out` (429 `too_many_attempts`), `error` (anything else: 400, 503).
pub const LOGINS: &str = "curatore_logins_total";
/// Counter: rotated refresh tokens presented again outside the grace
/// interval (the whole session is ended).
pub const REFRESH_REUSE: &str = "curatore_refresh_token_reuse_detected_total";
/// Gauge, seconds since the Unix epoch: when the last backup succeeded.
pub const BACKUP_LAST_SUCCESS: &str = "curatore_backup_last_success_timestamp_seconds";
/// Gauge, seconds: how long the last successful backup took.
pub const BACKUP_LAST_DURATION: &str = "curatore_backup_last_duration_seconds";
/// Gauge, bytes: the size of the last successful backup's archive.
pub const BACKUP_LAST_SIZE: &str = "curatore_backup_last_size_bytes";
/// Counter, by `reason` (`disk_full`, `permission`, `error`): backups that failed.
pub const BACKUP_FAILURES: &str = "curatore_backup_failures_total";
/// Counter, by `kind` (`invitation`, `password_reset`, `password_changed`):
/// mail the SMTP server accepted.
pub const MAIL_SENT: &str = "curatore_mail_sent_total";
/// Counter, by `kind` and `outcome` (`retry`, `given_up`): failed delivery attempts.
pub const MAIL_FAILURES: &str = "curatore_mail_failures_total";
/// Gauge: mail in the outbox waiting to be sent (all instances), as of this
/// instance's last pass.
pub const MAIL_QUEUED: &str = "curatore_mail_outbox_queued";
/// Gauge: mail in the outbox given up (all instances).
pub const MAIL_GIVEN_UP: &str = "curatore_mail_outbox_given_up";
