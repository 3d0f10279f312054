use super::{Handle, now, read, write};
use crate::entities::audit_log::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use chrono::{DateTime, Utc};
use curatore_domain::{
    AuditAction, AuditLogEntry, AuditLogId, AuditStatus, NewAuditLogEntry, OrganizationId, UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// Which audit entries a read wants; every field left empty matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Any of these actions (none: every action).
    pub actions: Vec<AuditAction>,
    /// Entries of this actor.
    pub user_id: Option<UserId>,
    /// Entries about this kind of entity (`user`, `api_key`, …).
    pub entity_type: Option<String>,
    /// Entries about this entity.
    pub entity_id: Option<Uuid>,
    /// Only successes or only failures.
    pub status: Option<AuditStatus>,
    /// Entries created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Entries created strictly before this instant.
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if !self.actions.is_empty() {
            c = c.add(Column::Action.is_in(self.actions.iter().map(AuditAction::as_str)));
        }
        if let Some(user) = self.user_id {
            c = c.add(Column::UserId.eq(user.as_uuid()));
        }
        if let Some(kind) = &self.entity_type {
            c = c.add(Column::EntityType.eq(kind.as_str()));
        }
        if let Some(id) = self.entity_id {
            c = c.add(Column::EntityId.eq(id));
        }
        if let Some(status) = self.status {
            c = c.add(Column::Status.eq(status.as_str()));
        }
        if let Some(since) = self.since {
            c = c.add(Column::CreatedAt.gte(since));
        }
        if let Some(until) = self.until {
            c = c.add(Column::CreatedAt.lt(until));
        }
        c
    }
}

/// One organization's audit trail: append and read, never change.
pub struct TenantAuditLogs<'a> {
    pub(crate) h: Handle<'a>,
    pub(crate) org: OrganizationId,
}

/// The audit trail across organizations: entries that belong to none or to
/// any (a failed login names no organization), and operators' reads.
pub struct SystemAuditLogs<'a> {
    pub(crate) h: Handle<'a>,
}

/// User agents are attacker-controlled: keep them bounded.
const MAX_USER_AGENT: usize = 512;

impl TryFrom<audit_log::Model> for AuditLogEntry {
    type Error = PersistenceError;
    fn try_from(m: audit_log::Model) -> Result<Self> {
        Ok(Self {
            id: m.id.into(),
            organization_id: m.organization_id.map(OrganizationId::from),
            user_id: m.user_id.map(UserId::from),
            action: AuditAction::parse(&m.action)?,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            details: m.details,
            ip_address: m.ip_address,
            user_agent: m.user_agent,
            status: m.status.parse::<AuditStatus>()?,
            error_message: m.error_message,
            created_at: m.created_at,
        })
    }
}

fn bounded(s: Option<String>, max: usize) -> Option<String> {
    s.map(|s| {
        if s.len() <= max {
            return s;
        }
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    })
}

async fn insert(h: Handle<'_>, new: NewAuditLogEntry) -> Result<AuditLogEntry> {
    let model = ActiveModel {
        id: Set(AuditLogId::new().into()),
        organization_id: Set(new.organization_id.map(Into::into)),
        user_id: Set(new.user_id.map(Into::into)),
        action: Set(new.action.as_str().to_owned()),
        entity_type: Set(new.entity_type),
        entity_id: Set(new.entity_id),
        details: Set(new.details),
        ip_address: Set(bounded(new.ip_address, 45)),
        user_agent: Set(bounded(new.user_agent, MAX_USER_AGENT)),
        status: Set(new.status.as_str().to_owned()),
        error_message: Set(new.error_message),
        created_at: Set(now()),
    };
    let status = new.status.as_str();
    let entry = write!(h, |c| model.insert(c).await?.try_into())?;
    metrics::counter!(crate::metrics::AUDIT_ENTRIES, "status" => status).increment(1);
    Ok(entry)
}

impl TenantAuditLogs<'_> {
    /// Appends an entry to this organization's trail (its `organization_id`
    /// is set to this organization, whatever the caller put there).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn record(&self, new: NewAuditLogEntry) -> Result<AuditLogEntry> {
        insert(
            self.h,
            NewAuditLogEntry {
                organization_id: Some(self.org),
                ..new
            },
        )
        .await
    }

    /// The organization's newest entries first, optionally of one action.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, action: Option<&str>, limit: u64) -> Result<Vec<AuditLogEntry>> {
        let mut q = Entity::find().filter(Column::OrganizationId.eq(self.org.as_uuid()));
        if let Some(action) = action {
            q = q.filter(Column::Action.eq(action));
        }
        let rows = read!(self.h, |c| q
            .clone()
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(limit)
            .all(c)
            .await?);
        rows.into_iter().map(AuditLogEntry::try_from).collect()
    }

    /// One page of the organization's entries matching `filter`, newest
    /// first by `(created_at, id)`, starting strictly after the entry keyed
    /// `after` (the last one of the previous page), at most `limit` entries.
    /// Keyset paging: any depth costs the same (index
    /// `ix_audit_logs_org_created_id`), and entries written meanwhile neither
    /// shift nor repeat the pages.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn page(
        &self,
        filter: &AuditFilter,
        after: Option<(DateTime<Utc>, AuditLogId)>,
        limit: u64,
    ) -> Result<Vec<AuditLogEntry>> {
        let mut cond = Condition::all()
            .add(Column::OrganizationId.eq(self.org.as_uuid()))
            .add(filter.condition());
        if let Some((at, id)) = after {
            // `created_at <= at` bounds the index range on both engines; an
            // OR alone would make them walk the index from the newest row.
            cond = cond.add(Column::CreatedAt.lte(at)).add(
                Condition::any()
                    .add(Column::CreatedAt.lt(at))
                    .add(Column::Id.lt(id.as_uuid())),
            );
        }
        let q = Entity::find().filter(cond);
        let rows = read!(self.h, |c| q
            .clone()
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(limit)
            .all(c)
            .await?);
        rows.into_iter().map(AuditLogEntry::try_from).collect()
    }
}

impl SystemAuditLogs<'_> {
    /// Appends an entry as given: of no organization (a failed login) or of any.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn record(&self, new: NewAuditLogEntry) -> Result<AuditLogEntry> {
        insert(self.h, new).await
    }

    /// Entries with this action across all organizations (for operators), newest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list_by_action(&self, action: &str, limit: u64) -> Result<Vec<AuditLogEntry>> {
        let rows = read!(self.h, |c| Entity::find()
            .filter(Column::Action.eq(action))
            .order_by_desc(Column::CreatedAt)
            .limit(limit)
            .all(c)
            .await?);
        rows.into_iter().map(AuditLogEntry::try_from).collect()
    }

    /// Deletes at most `batch` entries created before `cutoff`, oldest
    /// first, in one short statement; returns how many. Retention calls it
    /// until it returns less than `batch`, so other writers get their turn
    /// between batches.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn purge_batch(&self, cutoff: DateTime<Utc>, batch: u64) -> Result<u64> {
        let oldest = sea_orm::sea_query::Query::select()
            .column(Column::Id)
            .from(Entity)
            .and_where(Column::CreatedAt.lt(cutoff))
            .order_by(Column::CreatedAt, sea_orm::Order::Asc)
            .limit(batch)
            .to_owned();
        let res = write!(self.h, |c| Entity::delete_many()
            .filter(Column::Id.in_subquery(oldest))
            .exec(c)
            .await?);
        Ok(res.rows_affected)
    }
}
