use super::{Handle, now, read, write};
use crate::entities::organization::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use curatore_domain::{NewOrganization, Organization, OrganizationId, Slug, UserId};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Organizations (tenants).
pub struct Organizations<'a> {
    pub(crate) h: Handle<'a>,
}

impl TryFrom<organization::Model> for Organization {
    type Error = PersistenceError;
    fn try_from(m: organization::Model) -> Result<Self> {
        Ok(Self {
            id: m.id.into(),
            name: m.name,
            display_name: m.display_name,
            slug: Slug::parse(&m.slug)?,
            is_active: m.is_active,
            settings: m.settings,
            created_at: m.created_at,
            updated_at: m.updated_at,
            created_by: m.created_by.map(UserId::from),
        })
    }
}

fn one(m: Option<organization::Model>) -> Result<Option<Organization>> {
    m.map(Organization::try_from).transpose()
}

impl Organizations<'_> {
    /// Creates an organization.
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`] with field `name` or `slug` when taken.
    pub async fn create(&self, new: NewOrganization) -> Result<Organization> {
        let at = now();
        let model = ActiveModel {
            id: Set(OrganizationId::new().into()),
            name: Set(new.name),
            display_name: Set(new.display_name),
            slug: Set(new.slug.into_inner()),
            is_active: Set(true),
            settings: Set(new.settings),
            created_at: Set(at),
            updated_at: Set(at),
            created_by: Set(new.created_by.map(Into::into)),
        };
        write!(self.h, |c| model.insert(c).await?.try_into())
    }

    /// The organization with this id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: OrganizationId) -> Result<Option<Organization>> {
        one(read!(self.h, |c| Entity::find_by_id(id.as_uuid())
            .one(c)
            .await?))
    }

    /// The organization with this slug.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_by_slug(&self, slug: &str) -> Result<Option<Organization>> {
        one(read!(self.h, |c| Entity::find()
            .filter(Column::Slug.eq(slug))
            .one(c)
            .await?))
    }

    /// The oldest organization: the default when nothing else names one.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn first(&self) -> Result<Option<Organization>> {
        one(read!(self.h, |c| Entity::find()
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .one(c)
            .await?))
    }

    /// Whether any organization exists.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn any_exist(&self) -> Result<bool> {
        let found = read!(self.h, |c| Entity::find()
            .select_only()
            .column(Column::Id)
            .limit(1)
            .into_tuple::<uuid::Uuid>()
            .one(c)
            .await?);
        Ok(found.is_some())
    }

    /// How many organizations exist.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count(&self) -> Result<u64> {
        Ok(read!(self.h, |c| Entity::find().count(c).await?))
    }

    /// Organizations ordered by creation, a page at a time.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, limit: u64, offset: u64) -> Result<Vec<Organization>> {
        let rows = read!(self.h, |c| Entity::find()
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .limit(limit)
            .offset(offset)
            .all(c)
            .await?);
        rows.into_iter().map(Organization::try_from).collect()
    }

    /// Organizations ordered by creation, strictly after `(created_at, id)`
    /// when given, at most `limit`: a keyset page (no count). `search`
    /// keeps those whose name, display name or slug contains it.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn page_after(
        &self,
        search: Option<&str>,
        after: Option<(chrono::DateTime<chrono::Utc>, OrganizationId)>,
        limit: u64,
    ) -> Result<Vec<Organization>> {
        let mut filter = sea_orm::Condition::all();
        if let Some(search) = search {
            filter = filter.add(
                sea_orm::Condition::any()
                    .add(Column::Name.contains(search))
                    .add(Column::DisplayName.contains(search))
                    .add(Column::Slug.contains(search.to_lowercase())),
            );
        }
        if let Some((at, id)) = after {
            filter = filter.add(Column::CreatedAt.gte(at)).add(
                sea_orm::Condition::any()
                    .add(Column::CreatedAt.gt(at))
                    .add(Column::Id.gt(id.as_uuid())),
            );
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(filter.clone())
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .limit(limit)
            .all(c)
            .await?);
        rows.into_iter().map(Organization::try_from).collect()
    }

    /// Organizations ordered by creation, a page at a time, and how many
    /// exist ([`crate::Total`]).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn page(&self, limit: u64, offset: u64) -> Result<(Vec<Organization>, crate::Total)> {
        let items = self.list(limit, offset).await?;
        let total = super::list_total(self.h, "organizations", Entity::find()).await?;
        Ok((items, total))
    }

    /// Activates or deactivates an organization.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when it does not exist.
    pub async fn set_active(&self, id: OrganizationId, active: bool) -> Result<Organization> {
        let model = ActiveModel {
            id: Set(id.as_uuid()),
            is_active: Set(active),
            updated_at: Set(now()),
            ..Default::default()
        };
        write!(self.h, |c| model.update(c).await?.try_into())
    }

    /// Changes what people see of an organization: its display name and
    /// settings. `None` keeps the current value.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when it does not exist.
    pub async fn update_profile(
        &self,
        id: OrganizationId,
        display_name: Option<String>,
        settings: Option<serde_json::Value>,
    ) -> Result<Organization> {
        let model = ActiveModel {
            id: Set(id.as_uuid()),
            display_name: display_name.map_or(NotSet, Set),
            settings: settings.map_or(NotSet, Set),
            updated_at: Set(now()),
            ..Default::default()
        };
        write!(self.h, |c| model.update(c).await?.try_into())
    }

    /// Records who created the organization.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when it does not exist;
    /// [`PersistenceError::MissingReference`] when the user does not.
    pub async fn set_created_by(&self, id: OrganizationId, user: UserId) -> Result<Organization> {
        let model = ActiveModel {
            id: Set(id.as_uuid()),
            created_by: Set(Some(user.as_uuid())),
            updated_at: Set(now()),
            ..Default::default()
        };
        write!(self.h, |c| model.update(c).await?.try_into())
    }

    /// Deletes an organization and, by cascade, its users, keys and connections.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when it does not exist.
    pub async fn delete(&self, id: OrganizationId) -> Result<()> {
        let res = write!(self.h, |c| Entity::delete_by_id(id.as_uuid())
            .exec(c)
            .await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        Ok(())
    }
}

/// A tenant's own organization: read it, change its profile, (de)activate it.
pub struct TenantOrganization<'a> {
    pub(crate) h: Handle<'a>,
    pub(crate) org: OrganizationId,
}

impl TenantOrganization<'_> {
    fn all(&self) -> Organizations<'_> {
        Organizations { h: self.h }
    }

    /// The organization; `None` when it no longer exists.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self) -> Result<Option<Organization>> {
        self.all().get(self.org).await
    }

    /// The organization, locked until the transaction ends, for a
    /// read-modify-write (a settings merge) that must not lose a concurrent
    /// change. PostgreSQL takes a row lock (`FOR UPDATE`); SQLite's writers
    /// already take turns for the whole transaction.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get_for_update(&self) -> Result<Option<Organization>> {
        let id = self.org.as_uuid();
        one(read!(self.h, |c| {
            let query = Entity::find_by_id(id);
            if sea_orm::ConnectionTrait::get_database_backend(c) == sea_orm::DbBackend::Postgres {
                sea_orm::QuerySelect::lock_exclusive(query).one(c).await?
            } else {
                query.one(c).await?
            }
        }))
    }

    /// Changes what people see of the organization: its display name and
    /// settings. `None` keeps the current value.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when it does not exist.
    pub async fn update_profile(
        &self,
        display_name: Option<String>,
        settings: Option<serde_json::Value>,
    ) -> Result<Organization> {
        self.all()
            .update_profile(self.org, display_name, settings)
            .await
    }

    /// Activates or deactivates the organization.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when it does not exist.
    pub async fn set_active(&self, active: bool) -> Result<Organization> {
        self.all().set_active(self.org, active).await
    }
}
