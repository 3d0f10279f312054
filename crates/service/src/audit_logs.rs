//! The organization's audit trail (read-only: it is append-only).

use crate::context::{Access, RequestContext, Scope};
use crate::error::{Invalid, Result, ServiceError};
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

/// A read of the audit trail: typed values (the web layer parses the query
/// string and names a bad parameter; a worker builds one directly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditLogQuery {
    /// Any of these actions (none: all).
    pub actions: Vec<AuditAction>,
    /// The actor's user id.
    pub user_id: Option<UserId>,
    /// The kind of entity (`user`, `api_key`, …; 1 to 50 characters).
    pub entity_type: Option<String>,
    /// The entity's id.
    pub entity_id: Option<Uuid>,
    /// Successes or failures only.
    pub status: Option<AuditStatus>,
    /// Entries at or after.
    pub since: Option<DateTime<Utc>>,
    /// Entries strictly before.
    pub until: Option<DateTime<Utc>>,
    /// 1 to [`MAX_AUDIT_LIMIT`]; `None`: [`DEFAULT_AUDIT_LIMIT`].
    pub limit: Option<u64>,
    /// Where the page starts: the `next_cursor` of the previous page.
    pub cursor: Option<AuditCursor>,
}

/// A position in the trail, newest first: the page after the entry it
/// names. Opaque to clients (48 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor(DateTime<Utc>, AuditLogId);

impl AuditCursor {
    /// The cursor a client sent back; `None` for anything this API did not
    /// issue.
    pub fn parse(raw: &str) -> Option<Self> {
        cursor::decode(raw).map(|(at, id)| Self(at, AuditLogId::from(id)))
    }

    fn after(entry: &AuditLogEntry) -> Self {
        Self(entry.created_at, entry.id)
    }
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&cursor::encode(self.0, self.1.as_uuid()))
    }
}

/// One page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLogPage {
    /// The entries on this page.
    pub items: Vec<AuditLogEntry>,
    /// The most this page could hold.
    pub limit: u64,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<AuditCursor>,
}

/// A page size: 1 to [`MAX_AUDIT_LIMIT`], [`DEFAULT_AUDIT_LIMIT`] when absent.
pub(crate) fn page_size(limit: Option<u64>) -> Result<u64> {
    match limit {
        None => Ok(DEFAULT_AUDIT_LIMIT),
        Some(l) if (1..=MAX_AUDIT_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(Invalid::PageSize {
            max: MAX_AUDIT_LIMIT,
        }
        .into()),
    }
}

/// The longest entity type a filter or an entry may name.
pub const ENTITY_TYPE_MAX: usize = 50;

impl AuditLogQuery {
    fn filter(&self) -> Result<(AuditFilter, u64)> {
        let entity_type = match &self.entity_type {
            Some(t) => Some(crate::text::required("entity_type", t, ENTITY_TYPE_MAX)?),
            None => None,
        };
        let filter = AuditFilter {
            actions: self.actions.clone(),
            user_id: self.user_id,
            entity_type,
            entity_id: self.entity_id,
            status: self.status,
            since: self.since,
            until: self.until,
        };
        Ok((filter, page_size(self.limit)?))
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
    /// [`Denied`] for non-admins and keys without `audit_logs:read`;
    /// [`Invalid`] for a limit out of range or a bad entity type;
    /// [`ServiceError::Unavailable`] when the database is unavailable.
    pub async fn list(&self, query: &AuditLogQuery) -> Result<AuditLogPage> {
        self.0.admin("list_audit_log", READ).await?;
        let (filter, limit) = query.filter()?;
        let after = query.cursor.map(|c| (c.0, c.1));
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
            items.last().map(AuditCursor::after)
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
        assert_eq!(AuditCursor::parse(&cursor), Some(AuditCursor(at, id)));
        assert_eq!(AuditCursor(at, id).to_string(), cursor);
        for bad in [
            "",
            "zz",
            &cursor[..46],
            &format!("{cursor}00"),
            &cursor.replace(&cursor[28..29], "g"),
            // the id's version nibble changed from 7 to 4
            &format!("{}4{}", &cursor[..28], &cursor[29..]),
        ] {
            assert_eq!(AuditCursor::parse(bad), None, "{bad}");
        }
    }
}
