//! The organization's audit trail (read-only: it is append-only).

use crate::context::{Access, RequestContext, Scope};
use crate::error::{ErrorCode, Result, ServiceError};
use crate::handle::Bound;
use crate::operator::Operator;
use crate::page::cursor;
use crate::services::Services;
use chrono::{DateTime, Utc};
use curatore_domain::{AuditAction, AuditLogEntry, AuditLogId, AuditStatus, UserId};
use curatore_persistence::AuditFilter;
use uuid::Uuid;

/// How many entries a page holds unless asked otherwise.
pub const DEFAULT_AUDIT_LIMIT: u64 = 50;
/// The most entries one page may hold.
pub const MAX_AUDIT_LIMIT: u64 = 1000;

pub(crate) const READ: Scope = Scope::new("audit_logs", Access::Read);

/// A read of the audit trail as a client asks for it: every value still the
/// text it sent, so that each bad one is refused naming its parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditLogQuery {
    /// Any of these actions (none: all).
    pub actions: Vec<String>,
    /// The actor's user id.
    pub user_id: Option<String>,
    /// The kind of entity (`user`, `api_key`, …).
    pub entity_type: Option<String>,
    /// The entity's id.
    pub entity_id: Option<String>,
    /// `success` or `failure`.
    pub status: Option<String>,
    /// RFC 3339: entries at or after.
    pub since: Option<String>,
    /// RFC 3339: entries strictly before.
    pub until: Option<String>,
    /// 1 to [`MAX_AUDIT_LIMIT`], default [`DEFAULT_AUDIT_LIMIT`].
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLogPage {
    /// The entries on this page.
    pub items: Vec<AuditLogEntry>,
    /// The most this page could hold.
    pub limit: u64,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) fn invalid(param: &str, why: &str) -> ServiceError {
    ServiceError::new(
        ErrorCode::InvalidQueryParameter,
        format!("query parameter `{param}` {why}"),
    )
}

fn uuid(param: &str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw).map_err(|_| invalid(param, "must be a UUID"))
}

fn instant(param: &str, raw: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(param, "must be an RFC 3339 timestamp"))
}

/// A page size: 1 to [`MAX_AUDIT_LIMIT`], [`DEFAULT_AUDIT_LIMIT`] when absent.
pub(crate) fn parse_limit(raw: Option<&str>) -> Result<u64> {
    match raw {
        None => Ok(DEFAULT_AUDIT_LIMIT),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_AUDIT_LIMIT).contains(l))
            .ok_or_else(|| invalid("limit", &format!("must be between 1 and {MAX_AUDIT_LIMIT}"))),
    }
}

fn encode_cursor(entry: &AuditLogEntry) -> String {
    cursor::encode(entry.created_at, entry.id.as_uuid())
}

/// Where a page starts: strictly after the entry with this key.
type Position = (DateTime<Utc>, AuditLogId);

fn decode_cursor(raw: &str) -> Result<Position> {
    cursor::decode(raw)
        .map(|(at, id)| (at, AuditLogId::from(id)))
        .ok_or_else(|| invalid("cursor", "is not a cursor this API issued"))
}

impl AuditLogQuery {
    fn parse(&self) -> Result<(AuditFilter, Option<Position>, u64)> {
        let actions = self
            .actions
            .iter()
            .map(|a| {
                // Control characters get the answer they get everywhere else.
                curatore_domain::text::check_line("action", a)?;
                AuditAction::parse(a).map_err(|_| {
                    invalid(
                        "action",
                        "must be 1-100 characters of lowercase letters, digits, `_` and `.`",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let entity_type = match &self.entity_type {
            Some(t) if t.is_empty() || t.len() > 50 => {
                return Err(invalid("entity_type", "must be 1-50 characters"));
            }
            Some(t) => {
                curatore_domain::text::check_line("entity_type", t)?;
                Some(t.clone())
            }
            None => None,
        };
        let status = self
            .status
            .as_deref()
            .map(|s| {
                s.parse::<AuditStatus>()
                    .map_err(|_| invalid("status", "must be `success` or `failure`"))
            })
            .transpose()?;
        let filter = AuditFilter {
            actions,
            user_id: self
                .user_id
                .as_deref()
                .map(|u| uuid("user_id", u).map(UserId::from))
                .transpose()?,
            entity_type,
            entity_id: self
                .entity_id
                .as_deref()
                .map(|e| uuid("entity_id", e))
                .transpose()?,
            status,
            since: self
                .since
                .as_deref()
                .map(|s| instant("since", s))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| instant("until", s))
                .transpose()?,
        };
        let limit = parse_limit(self.limit.as_deref())?;
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok((filter, after, limit))
    }
}

/// The caller's organization's audit trail, for its org_admins
/// (`services.audit_log(&ctx)`).
#[derive(Clone, Copy)]
pub struct AuditLog<'a>(pub(crate) Bound<'a>);

impl Services {
    /// The caller's organization's audit trail.
    pub fn audit_log<'a>(&'a self, ctx: &'a RequestContext) -> AuditLog<'a> {
        AuditLog(Bound::new(self, ctx))
    }
}

impl AuditLog<'_> {
    /// One page of the trail, newest first by `(created_at, id)`, filtered
    /// as `query` says; pass the page's `next_cursor` back as `cursor` for
    /// the next one.
    ///
    /// # Errors
    /// 403 for non-admins and keys without `audit_logs:read`; 400
    /// `invalid_query_parameter` naming the parameter for a bad limit,
    /// filter or cursor; 503 when the database is unavailable.
    pub async fn list(&self, query: &AuditLogQuery) -> Result<AuditLogPage> {
        self.0.admin("list_audit_log", READ).await?;
        let (filter, after, limit) = query.parse()?;
        // One more than asked: whether it comes back says if a next page exists.
        let mut items = self
            .0
            .tenant()
            .audit_logs()
            .page(&filter, after, limit + 1)
            .await?;
        let more = items.len() as u64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            items.last().map(encode_cursor)
        } else {
            None
        };
        Ok(AuditLogPage {
            items,
            limit,
            next_cursor,
        })
    }
}

/// An entry of an embedding service's own action, recorded by
/// [`AuditLog::record`] in the caller's organization with the caller's
/// request id, address, user agent and key, as ours are.
#[derive(Debug, Clone)]
pub struct ActionEntry {
    /// A registered action ([`crate::AuditActions`]), `summarize_document`.
    pub action: String,
    /// What it was about: a type of your choosing (`document`, at most 50
    /// characters) and an id.
    pub entity: Option<(String, Uuid)>,
    /// Why it failed; `None` for a success.
    pub failure: Option<String>,
    /// Free details (a JSON object; never a secret).
    pub details: serde_json::Value,
}

impl ActionEntry {
    /// A successful `action` with no entity and no details.
    pub fn new(action: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            entity: None,
            failure: None,
            details: serde_json::json!({}),
        }
    }

    /// About `entity_type` `id`.
    #[must_use]
    pub fn about(mut self, entity_type: impl Into<String>, id: Uuid) -> Self {
        self.entity = Some((entity_type.into(), id));
        self
    }

    /// With these details (a JSON object).
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Recorded as a failure, for `why`.
    #[must_use]
    pub fn failed(mut self, why: impl Into<String>) -> Self {
        self.failure = Some(why.into());
        self
    }
}

/// The longest entity type an entry may name.
const ENTITY_TYPE_MAX: usize = 50;

impl AuditLog<'_> {
    /// Records an embedding service's own action (registered with
    /// [`crate::AuditActions::register`]) for the caller, in the caller's
    /// organization; `GET /audit-logs` lists and filters it like ours. Any
    /// authenticated caller: the service's route decides who may act.
    ///
    /// # Errors
    /// 400 for an unregistered action, an entity type that is empty, too
    /// long or holds control characters, or details that are not a JSON
    /// object within the settings' bounds; 503 when the database is
    /// unavailable.
    pub async fn record(&self, entry: ActionEntry) -> Result<AuditLogEntry> {
        self.0.principal().refuse_pending_password_change()?;
        let services = self.0.services;
        if !services.audit_actions().contains(&entry.action) {
            let known: Vec<&str> = services.audit_actions().names().collect();
            return Err(ServiceError::validation(format!(
                "action: `{}` is not a registered audit action (registered: {})",
                entry.action,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        let action = AuditAction::parse(&entry.action)?;
        let mut built = match entry.entity {
            Some((kind, id)) => {
                let kind = crate::text::required("entity_type", &kind, ENTITY_TYPE_MAX)?;
                crate::audit::Entry::about(kind, id, entry.details)
            }
            None => crate::audit::Entry::anonymous(entry.details),
        };
        curatore_domain::settings::check_settings(&built.details)?;
        if let Some(why) = entry.failure {
            built = built.failed(why);
        }
        let new = built.by_as(action, self.0.ctx);
        Ok(self.0.tenant().audit_logs().record(new).await?)
    }
}

/// How many entries one purge statement deletes at most.
const PURGE_BATCH: u64 = 5_000;

impl Operator {
    /// Retention: deletes audit entries older than `days` days, in batches
    /// of at most 5,000 so other writers are never held up for long, and
    /// records one `purge_audit_log` entry saying how many went. Not an
    /// operation of any organization: the server runs it on a timer
    /// (`AUDIT_RETENTION_DAYS`) and `curatore-server audit purge` on demand.
    ///
    /// # Errors
    /// 400 for zero days; 503 when the database is unavailable (entries
    /// deleted by earlier batches stay deleted).
    pub async fn purge_audit_log(&self, days: u32) -> Result<u64> {
        if days == 0 {
            return Err(ServiceError::validation(
                "keep audit entries at least 1 day",
            ));
        }
        let db = self.services.database();
        // Several servers on one PostgreSQL database purge one at a time;
        // whoever comes second finds little left to delete.
        let lock = db.lock_instances("audit-retention").await?;
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        let audit = db.system().audit_logs();
        let mut deleted = 0;
        loop {
            let batch = audit.purge_batch(cutoff, PURGE_BATCH).await?;
            deleted += batch;
            if batch < PURGE_BATCH {
                break;
            }
        }
        if deleted > 0 {
            audit
                .record(
                    crate::audit::Entry::anonymous(serde_json::json!({
                        "deleted": deleted,
                        "older_than_days": days,
                        "cutoff": cutoff.to_rfc3339(),
                    }))
                    .done_from(crate::AuditEvent::PurgeAuditLog, &crate::Client::local()),
                )
                .await?;
        }
        lock.release().await?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_tampered_one_is_refused() {
        let id = AuditLogId::new();
        let at = DateTime::from_timestamp_micros(1_767_225_600_123_456).unwrap_or_default();
        let mut raw = at.timestamp_micros().to_be_bytes().to_vec();
        raw.extend_from_slice(id.as_uuid().as_bytes());
        let cursor: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(decode_cursor(&cursor).ok(), Some((at, id)));
        for bad in [
            "",
            "zz",
            &cursor[..46],
            &format!("{cursor}00"),
            &cursor.replace(&cursor[28..29], "g"),
            // the id's version nibble changed from 7 to 4
            &format!("{}4{}", &cursor[..28], &cursor[29..]),
        ] {
            let err = decode_cursor(bad).err().map(|e| e.code());
            assert_eq!(err, Some(ErrorCode::InvalidQueryParameter), "{bad}");
        }
    }
}
