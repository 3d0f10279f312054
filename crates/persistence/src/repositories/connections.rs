use super::{Handle, now, read, write};
use crate::entities::connection::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use curatore_domain::{
    Connection, ConnectionId, ConnectionScope, ConnectionTestStatus, ConnectionType, NewConnection,
    OrganizationId, UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};

/// One organization's connections to outside services; every statement
/// filters by that organization.
pub struct TenantConnections<'a> {
    pub(crate) h: Handle<'a>,
    pub(crate) org: OrganizationId,
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
        })
    }
}

impl TenantConnections<'_> {
    /// Creates a connection in this organization (whatever
    /// `new.organization_id` says).
    ///
    /// # Errors
    /// [`PersistenceError::MissingReference`] when the organization or a user does not exist.
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
        let mut cond = Condition::all().add(Column::OrganizationId.eq(self.org.as_uuid()));
        if let Some(t) = connection_type {
            cond = cond.add(Column::ConnectionType.eq(t.as_str()));
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(cond.clone())
            .order_by_asc(Column::CreatedAt)
            .all(c)
            .await?);
        rows.into_iter().map(Connection::try_from).collect()
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
