use super::{Handle, System, now, read, write};
use crate::entities::connection::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use curatore_domain::{
    Connection, ConnectionId, ConnectionScope, ConnectionTestStatus, ConnectionType, NewConnection,
    OrganizationId, UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};

/// One organization's connections to outside services; every statement
/// filters by that organization.
pub struct TenantConnections<'a> {
    pub(crate) h: Handle<'a>,
    pub(crate) org: OrganizationId,
}

/// Which connections to list.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    /// Only this type.
    pub connection_type: Option<ConnectionType>,
    /// Only active (`true`) or inactive (`false`) ones.
    pub is_active: Option<bool>,
    /// Only the defaults (`true`) or the others (`false`).
    pub is_default: Option<bool>,
    /// `Some(user)`: organization-scoped connections and this user's own;
    /// `None`: every connection (admins).
    pub visible_to: Option<Option<UserId>>,
}

/// What an update changes; `None` keeps the stored value.
#[derive(Clone, Default)]
pub struct ConnectionChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New configuration (already validated and sealed).
    pub config: Option<serde_json::Value>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// New managed-by text (environment import).
    pub managed_by: Option<Option<String>>,
}

impl std::fmt::Debug for ConnectionChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionChanges")
            .field("name", &self.name)
            .field("config", &self.config.as_ref().map(|_| "[REDACTED]"))
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

impl TryFrom<connection::Model> for Connection {
    type Error = PersistenceError;
    fn try_from(m: connection::Model) -> Result<Self> {
        Ok(Self {
            id: m.id.into(),
            organization_id: m.organization_id.into(),
            name: m.name,
            description: m.description,
            connection_type: ConnectionType::parse(&m.connection_type)?,
            config: m.config,
            is_active: m.is_active,
            is_default: m.is_default,
            last_tested_at: m.last_tested_at,
            test_status: m
                .test_status
                .as_deref()
                .map(str::parse::<ConnectionTestStatus>)
                .transpose()?,
            test_result: m.test_result,
            scope: m.scope.parse::<ConnectionScope>()?,
            owner_user_id: m.owner_user_id.map(UserId::from),
            created_by: m.created_by.map(UserId::from),
            created_at: m.created_at,
            updated_at: m.updated_at,
            is_managed: m.is_managed,
            managed_by: m.managed_by,
        })
    }
}

impl TenantConnections<'_> {
    fn own(&self) -> Condition {
        Condition::all().add(Column::OrganizationId.eq(self.org.as_uuid()))
    }

    /// Creates a connection in this organization (whatever
    /// `new.organization_id` says). A default must be made room for first
    /// ([`TenantConnections::clear_default`]), in the same transaction.
    ///
    /// # Errors
    /// [`PersistenceError::MissingReference`] when the organization or a
    /// user does not exist; [`PersistenceError::Conflict`] (`is_default`)
    /// when the type already has a default.
    pub async fn create(&self, new: NewConnection) -> Result<Connection> {
        let at = now();
        let model = ActiveModel {
            id: Set(ConnectionId::new().into()),
            organization_id: Set(self.org.into()),
            name: Set(new.name),
            description: Set(new.description),
            connection_type: Set(new.connection_type.as_str().to_owned()),
            config: Set(new.config),
            is_active: Set(true),
            is_default: Set(new.is_default),
            last_tested_at: Set(None),
            test_status: Set(Some(ConnectionTestStatus::NotTested.as_str().to_owned())),
            test_result: Set(None),
            scope: Set(new.scope.as_str().to_owned()),
            owner_user_id: Set(new.owner_user_id.map(Into::into)),
            created_by: Set(new.created_by.map(Into::into)),
            created_at: Set(at),
            updated_at: Set(at),
            is_managed: Set(new.managed_by.is_some()),
            managed_by: Set(new.managed_by),
        };
        write!(self.h, |c| model.insert(c).await?.try_into())
    }

    /// The organization's connection with this id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: ConnectionId) -> Result<Option<Connection>> {
        let row = read!(self.h, |c| Entity::find()
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::OrganizationId.eq(self.org.as_uuid()))
            .one(c)
            .await?);
        row.map(Connection::try_from).transpose()
    }

    /// The organization's connections, optionally of one type, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, connection_type: Option<&ConnectionType>) -> Result<Vec<Connection>> {
        let mut cond = self.own();
        if let Some(t) = connection_type {
            cond = cond.add(Column::ConnectionType.eq(t.as_str()));
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(cond.clone())
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .all(c)
            .await?);
        rows.into_iter().map(Connection::try_from).collect()
    }

    /// One page of the connections `filter` selects, oldest first, with the
    /// number selected in all ([`crate::Total`]).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn page(
        &self,
        filter: &ConnectionFilter,
        skip: u64,
        limit: u64,
    ) -> Result<(Vec<Connection>, crate::Total)> {
        let mut cond = self.own();
        if let Some(t) = &filter.connection_type {
            cond = cond.add(Column::ConnectionType.eq(t.as_str()));
        }
        if let Some(active) = filter.is_active {
            cond = cond.add(Column::IsActive.eq(active));
        }
        if let Some(default) = filter.is_default {
            cond = cond.add(Column::IsDefault.eq(default));
        }
        if let Some(user) = filter.visible_to {
            let mut visible =
                Condition::any().add(Column::Scope.eq(ConnectionScope::Organization.as_str()));
            if let Some(user) = user {
                visible = visible.add(Column::OwnerUserId.eq(user.as_uuid()));
            }
            cond = cond.add(visible);
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(cond.clone())
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .offset(skip)
            .limit(limit)
            .all(c)
            .await?);
        let key = format!(
            "connections:{}:{:?}:{:?}:{:?}:{:?}",
            self.org.as_uuid(),
            filter.connection_type.as_ref().map(|t| t.as_str()),
            filter.is_active,
            filter.is_default,
            filter.visible_to.map(|u| u.map(|u| u.as_uuid())),
        );
        let total = super::list_total(self.h, &key, Entity::find().filter(cond)).await?;
        let rows = rows
            .into_iter()
            .map(Connection::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok((rows, total))
    }

    /// The active, organization-scoped default of a type, if any.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn active_default(
        &self,
        connection_type: &ConnectionType,
    ) -> Result<Option<Connection>> {
        let row = read!(self.h, |c| Entity::find()
            .filter(self.own())
            .filter(Column::ConnectionType.eq(connection_type.as_str()))
            .filter(Column::IsDefault.eq(true))
            .filter(Column::IsActive.eq(true))
            .filter(Column::Scope.eq(ConnectionScope::Organization.as_str()))
            .one(c)
            .await?);
        row.map(Connection::try_from).transpose()
    }

    /// The managed connection (from environment variables) of a type, if any.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn managed(&self, connection_type: &ConnectionType) -> Result<Option<Connection>> {
        let row = read!(self.h, |c| Entity::find()
            .filter(self.own())
            .filter(Column::ConnectionType.eq(connection_type.as_str()))
            .filter(Column::IsManaged.eq(true))
            .order_by_asc(Column::CreatedAt)
            .one(c)
            .await?);
        row.map(Connection::try_from).transpose()
    }

    /// Changes what `changes` names; deactivating a connection also ends
    /// its being the default.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such connection.
    pub async fn update(&self, id: ConnectionId, changes: ConnectionChanges) -> Result<Connection> {
        let mut q = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(self.own());
        if let Some(name) = changes.name {
            q = q.col_expr(Column::Name, Expr::value(name));
        }
        if let Some(description) = changes.description {
            q = q.col_expr(Column::Description, Expr::value(description));
        }
        if let Some(config) = changes.config {
            q = q.col_expr(Column::Config, Expr::value(config));
        }
        if let Some(active) = changes.is_active {
            q = q.col_expr(Column::IsActive, Expr::value(active));
            if !active {
                // An inactive connection is never the default.
                q = q.col_expr(Column::IsDefault, Expr::value(false));
            }
        }
        if let Some(managed_by) = changes.managed_by {
            q = q.col_expr(Column::IsManaged, Expr::value(managed_by.is_some()));
            q = q.col_expr(Column::ManagedBy, Expr::value(managed_by));
        }
        let res = write!(self.h, |c| q.exec(c).await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        self.get(id).await?.ok_or(PersistenceError::NotFound)
    }

    /// Clears the default of a type, except for `keep`; returns how many
    /// connections stopped being the default.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn clear_default(
        &self,
        connection_type: &ConnectionType,
        keep: Option<ConnectionId>,
    ) -> Result<u64> {
        let mut q = Entity::update_many()
            .col_expr(Column::IsDefault, Expr::value(false))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(self.own())
            .filter(Column::ConnectionType.eq(connection_type.as_str()))
            .filter(Column::IsDefault.eq(true));
        if let Some(keep) = keep {
            q = q.filter(Column::Id.ne(keep.as_uuid()));
        }
        let res = write!(self.h, |c| q.exec(c).await?);
        Ok(res.rows_affected)
    }

    /// Makes a connection the default of its type or not. Clear the other
    /// default first ([`TenantConnections::clear_default`]) in the same
    /// transaction; the database refuses two.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`]; [`PersistenceError::Conflict`]
    /// (`is_default`) while another default of the type exists.
    pub async fn set_default_flag(&self, id: ConnectionId, is_default: bool) -> Result<Connection> {
        let q = Entity::update_many()
            .col_expr(Column::IsDefault, Expr::value(is_default))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(self.own());
        let res = write!(self.h, |c| q.exec(c).await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        self.get(id).await?.ok_or(PersistenceError::NotFound)
    }

    /// Records the outcome of testing a connection.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such connection.
    pub async fn record_test(
        &self,
        id: ConnectionId,
        status: ConnectionTestStatus,
        result: Option<serde_json::Value>,
    ) -> Result<Connection> {
        let at = now();
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::TestStatus, Expr::value(status.as_str()))
            .col_expr(Column::TestResult, Expr::value(result.clone()))
            .col_expr(Column::LastTestedAt, Expr::value(at))
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::OrganizationId.eq(self.org.as_uuid()))
            .exec(c)
            .await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        self.get(id).await?.ok_or(PersistenceError::NotFound)
    }

    /// Deletes the organization's connection.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such connection.
    pub async fn delete(&self, id: ConnectionId) -> Result<()> {
        let res = write!(self.h, |c| Entity::delete_many()
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::OrganizationId.eq(self.org.as_uuid()))
            .exec(c)
            .await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        Ok(())
    }
}

/// Every organization's connections, for re-encrypting secrets under a new
/// key (`curatore-server secrets rotate`).
pub struct SystemConnections<'a> {
    pub(crate) h: Handle<'a>,
}

impl SystemConnections<'_> {
    /// Up to `limit` connections with an id above `after`, by id: a batch of
    /// a resumable walk over every connection.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn batch_after(
        &self,
        after: Option<ConnectionId>,
        limit: u64,
    ) -> Result<Vec<Connection>> {
        let mut q = Entity::find().order_by_asc(Column::Id).limit(limit);
        if let Some(after) = after {
            q = q.filter(Column::Id.gt(after.as_uuid()));
        }
        let rows = read!(self.h, |c| q.clone().all(c).await?);
        rows.into_iter().map(Connection::try_from).collect()
    }

    /// Replaces a connection's stored configuration (same secrets, sealed
    /// under another key); `updated_at` is left alone.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`].
    pub async fn replace_config(&self, id: ConnectionId, config: serde_json::Value) -> Result<()> {
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::Config, Expr::value(config.clone()))
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(c)
            .await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        Ok(())
    }
}

impl<'a> System<'a> {
    /// Connections across organizations (secret rotation only).
    pub fn connections(&self) -> SystemConnections<'a> {
        SystemConnections { h: self.h }
    }
}
