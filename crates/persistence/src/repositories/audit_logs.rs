use super::{Handle, now, read, write};
use crate::entities::audit_log::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use curatore_domain::{
    AuditAction, AuditLogEntry, AuditLogId, AuditStatus, NewAuditLogEntry, OrganizationId, UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

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
    write!(h, |c| model.insert(c).await?.try_into())
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
}
