//! The audit trail in commit order, for clients that pull it incrementally
//! (a SIEM, an archiver): resume from the position the last read handed out
//! and nothing is missed or repeated, however late a writer commits. Why the
//! position holds that promise is told in
//! `curatore_persistence`'s `audit_feed` module.

use crate::audit_logs::AuditLog;
use crate::audit_logs::{READ, page_size};
use crate::error::{Invalid, Result};
use curatore_domain::AuditLogEntry;
use curatore_persistence::AuditFeedPosition;

/// A read of the feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFeedQuery {
    /// The `position` of the previous read, as handed out (absent: from the
    /// first entry). Its form depends on the engine, so it is checked here.
    pub after: Option<String>,
    /// 1 to [`crate::MAX_AUDIT_LIMIT`]; `None`: [`crate::DEFAULT_AUDIT_LIMIT`].
    pub limit: Option<u64>,
}

/// Entries in commit order and where to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFeedPage {
    /// The entries after `after`, oldest commit first.
    pub items: Vec<AuditLogEntry>,
    /// The most this read could hold.
    pub limit: u64,
    /// Pass back as `after`: the last entry's position, or `after` again
    /// when nothing new was committed.
    pub position: String,
}

impl AuditLog<'_> {
    /// The caller's organization's audit entries committed after
    /// `query.after`, in commit order. Fewer than `limit` entries means the
    /// read caught up; an entry of a transaction still open (on PostgreSQL:
    /// of any transaction older than it) comes in a later read, never
    /// behind a position already handed out.
    ///
    /// # Errors
    /// [`crate::Denied`] for non-admins and keys without `audit_logs:read`;
    /// [`Invalid::PageSize`] and [`Invalid::UnknownPosition`]; unavailable
    /// when the database is.
    pub async fn feed(&self, query: &AuditFeedQuery) -> Result<AuditFeedPage> {
        self.0.admin("audit_log_feed", READ).await?;
        let limit = page_size(query.limit)?;
        let kind = self.0.services.database().kind();
        let after = match query.after.as_deref() {
            None => AuditFeedPosition::Start,
            Some(raw) => AuditFeedPosition::decode(raw, kind).ok_or(Invalid::UnknownPosition)?,
        };
        let rows = self.0.tenant().audit_logs().feed(after, limit).await?;
        let position = rows.last().map_or(after, |(p, _)| *p).encode();
        Ok(AuditFeedPage {
            items: rows.into_iter().map(|(_, entry)| entry).collect(),
            limit,
            position,
        })
    }
}
