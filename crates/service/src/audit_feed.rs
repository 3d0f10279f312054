//! The audit trail in commit order, for clients that pull it incrementally
//! (a SIEM, an archiver): resume from the position the last read handed out
//! and nothing is missed or repeated, however late a writer commits. Why the
//! position holds that promise is told in
//! `curatore_persistence`'s `audit_feed` module.

use crate::audit_logs::AuditLog;
use crate::audit_logs::{READ, invalid, parse_limit};
use crate::error::Result;
use curatore_domain::AuditLogEntry;
use curatore_persistence::AuditFeedPosition;

/// A read of the feed as a client asks for it, every value still the text
/// it sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFeedQuery {
    /// The `position` of the previous read (absent: from the first entry).
    pub after: Option<String>,
    /// 1 to [`crate::MAX_AUDIT_LIMIT`], default [`crate::DEFAULT_AUDIT_LIMIT`].
    pub limit: Option<String>,
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
    /// 403 for non-admins and keys without `audit_logs:read`; 400
    /// `invalid_query_parameter` for a bad limit or a position this server
    /// did not hand out; 503 when the database is unavailable.
    pub async fn feed(&self, query: &AuditFeedQuery) -> Result<AuditFeedPage> {
        self.0.admin("audit_log_feed", READ).await?;
        let limit = parse_limit(query.limit.as_deref())?;
        let kind = self.0.services.database().kind();
        let after = match query.after.as_deref() {
            None => AuditFeedPosition::Start,
            Some(raw) => AuditFeedPosition::decode(raw, kind)
                .ok_or_else(|| invalid("after", "is not a position this API handed out"))?,
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
