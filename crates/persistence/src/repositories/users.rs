use super::{Handle, now, read, write};
use crate::entities::user::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use chrono::{DateTime, Utc};
use curatore_domain::{
    EmailAddress, NewUser, OrganizationId, PasswordHash, Role, User, UserId, Username,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

/// One organization's users; every statement filters by that organization.
pub struct TenantUsers<'a> {
    pub(crate) h: Handle<'a>,
    pub(crate) org: OrganizationId,
}

/// Users looked up across organizations: by login name, e-mail, username, or
/// by id when only a token names them.
pub struct SystemUsers<'a> {
    pub(crate) h: Handle<'a>,
}

impl TryFrom<user::Model> for User {
    type Error = PersistenceError;
    fn try_from(m: user::Model) -> Result<Self> {
        Ok(Self {
            id: m.id.into(),
            organization_id: m.organization_id.into(),
            email: EmailAddress::parse(&m.email)?,
            username: Username::parse(&m.username)?,
            password_hash: PasswordHash::new(m.password_hash),
            full_name: m.full_name,
            is_active: m.is_active,
            is_verified: m.is_verified,
            role: m.role.parse::<Role>()?,
            settings: m.settings,
            created_at: m.created_at,
            updated_at: m.updated_at,
            last_login_at: m.last_login_at,
            password_change_required: m.password_change_required,
            password_expires_at: m.password_expires_at,
            invitation_sent_at: m.invitation_sent_at,
            last_mail_error: m.last_mail_error,
        })
    }
}

fn one(m: Option<user::Model>) -> Result<Option<User>> {
    m.map(User::try_from).transpose()
}

fn scoped(org: OrganizationId, id: UserId) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id.as_uuid()))
        .add(Column::OrganizationId.eq(org.as_uuid()))
}

impl TenantUsers<'_> {
    /// Creates a user in this organization (whatever `new.organization_id` says).
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`] with field `email` or `username` when taken;
    /// [`PersistenceError::MissingReference`] when the organization does not exist.
    pub async fn create(&self, new: NewUser) -> Result<User> {
        let at = now();
        let model = ActiveModel {
            id: Set(UserId::new().into()),
            organization_id: Set(self.org.into()),
            email: Set(new.email.into_inner()),
            username: Set(new.username.into_inner()),
            password_hash: Set(new.password_hash.as_str().to_owned()),
            full_name: Set(new.full_name),
            is_active: Set(true),
            is_verified: Set(new.is_verified),
            role: Set(new.role.as_str().to_owned()),
            settings: Set(serde_json::json!({})),
            created_at: Set(at),
            updated_at: Set(at),
            last_login_at: Set(None),
            password_change_required: Set(false),
            password_expires_at: Set(None),
            password_reset_token_hash: Set(None),
            password_reset_expires_at: Set(None),
            invitation_sent_at: Set(None),
            last_mail_error: Set(None),
        };
        write!(self.h, |c| model.insert(c).await?.try_into())
    }

    /// The organization's user with this id; `None` for a user of another organization.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: UserId) -> Result<Option<User>> {
        one(read!(self.h, |c| Entity::find()
            .filter(scoped(self.org, id))
            .one(c)
            .await?))
    }

    /// The organization's users, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, limit: u64, offset: u64) -> Result<Vec<User>> {
        let rows = read!(self.h, |c| Entity::find()
            .filter(Column::OrganizationId.eq(self.org.as_uuid()))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .limit(limit)
            .offset(offset)
            .all(c)
            .await?);
        rows.into_iter().map(User::try_from).collect()
    }

    /// How many users the organization has.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count(&self) -> Result<u64> {
        Ok(read!(self.h, |c| Entity::find()
            .filter(Column::OrganizationId.eq(self.org.as_uuid()))
            .count(c)
            .await?))
    }

    /// The organization's users matching the filters, newest first, from
    /// `skip` on, at most `limit`; and how many match in all (exact, or for
    /// a long list a recent full count: [`crate::Total`]).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn page(
        &self,
        is_active: Option<bool>,
        role: Option<Role>,
        skip: u64,
        limit: u64,
    ) -> Result<(Vec<User>, crate::Total)> {
        let mut filter = Condition::all().add(Column::OrganizationId.eq(self.org.as_uuid()));
        if let Some(active) = is_active {
            filter = filter.add(Column::IsActive.eq(active));
        }
        if let Some(role) = role {
            filter = filter.add(Column::Role.eq(role.as_str()));
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(filter.clone())
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(limit)
            .offset(skip)
            .all(c)
            .await?);
        let key = format!(
            "users:{}:{is_active:?}:{}",
            self.org.as_uuid(),
            role.map_or("", |r| r.as_str())
        );
        let total = super::list_total(self.h, &key, Entity::find().filter(filter)).await?;
        let users = rows
            .into_iter()
            .map(User::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok((users, total))
    }

    /// The organization's users matching the filters, newest first, strictly
    /// after the user `(created_at, id)` when given, at most `limit`: a
    /// keyset page that costs the same at any depth (no count). `search`
    /// keeps the users whose e-mail address or username starts with it.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn page_after(
        &self,
        is_active: Option<bool>,
        role: Option<Role>,
        search: Option<&str>,
        after: Option<(DateTime<Utc>, UserId)>,
        limit: u64,
    ) -> Result<Vec<User>> {
        let mut filter = Condition::all().add(Column::OrganizationId.eq(self.org.as_uuid()));
        if let Some(search) = search {
            filter = filter.add(
                Condition::any()
                    .add(Column::Email.starts_with(search.to_lowercase()))
                    .add(Column::Username.starts_with(search)),
            );
        }
        if let Some(active) = is_active {
            filter = filter.add(Column::IsActive.eq(active));
        }
        if let Some(role) = role {
            filter = filter.add(Column::Role.eq(role.as_str()));
        }
        if let Some((at, id)) = after {
            // `created_at <= at` bounds the index range on both engines; an
            // OR alone would make them walk the index from the newest row.
            filter = filter.add(Column::CreatedAt.lte(at)).add(
                Condition::any()
                    .add(Column::CreatedAt.lt(at))
                    .add(Column::Id.lt(id.as_uuid())),
            );
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(filter.clone())
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(limit)
            .all(c)
            .await?);
        rows.into_iter().map(User::try_from).collect()
    }

    /// How many active org_admins the organization has. Inside a transaction
    /// that holds the organization row (`organization().get_for_update()`),
    /// the answer stays true until the commit.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count_active_admins(&self) -> Result<u64> {
        Ok(read!(self.h, |c| Entity::find()
            .filter(Column::OrganizationId.eq(self.org.as_uuid()))
            .filter(Column::IsActive.eq(true))
            .filter(Column::Role.eq(Role::OrgAdmin.as_str()))
            .count(c)
            .await?))
    }

    /// The organization's user with this id, locked until the transaction
    /// ends, for a read-modify-write of their settings. PostgreSQL takes a
    /// row lock (`FOR UPDATE`); SQLite's writers already take turns for the
    /// whole transaction.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get_for_update(&self, id: UserId) -> Result<Option<User>> {
        one(read!(self.h, |c| {
            let query = Entity::find().filter(scoped(self.org, id));
            if sea_orm::ConnectionTrait::get_database_backend(c) == sea_orm::DbBackend::Postgres {
                query.lock_exclusive().one(c).await?
            } else {
                query.one(c).await?
            }
        }))
    }

    /// Replaces a user's settings (a JSON object).
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn set_settings(&self, id: UserId, settings: serde_json::Value) -> Result<User> {
        let model = ActiveModel {
            settings: Set(settings),
            updated_at: Set(now()),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Replaces a user's full name (`None` clears it).
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn set_full_name(&self, id: UserId, full_name: Option<String>) -> Result<User> {
        let model = ActiveModel {
            full_name: Set(full_name),
            updated_at: Set(now()),
            ..Default::default()
        };
        self.update(id, model).await
    }

    async fn update(&self, id: UserId, model: ActiveModel) -> Result<User> {
        let res = write!(self.h, |c| Entity::update_many()
            .set(model)
            .filter(scoped(self.org, id))
            .exec(c)
            .await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        self.get(id).await?.ok_or(PersistenceError::NotFound)
    }

    /// Changes a user's e-mail address and/or username (`None` keeps it).
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`] with field `email` or `username` when
    /// taken by any user; [`PersistenceError::NotFound`] when the
    /// organization has no such user.
    pub async fn set_login_names(
        &self,
        id: UserId,
        email: Option<EmailAddress>,
        username: Option<Username>,
    ) -> Result<User> {
        let mut model = ActiveModel {
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(email) = email {
            model.email = Set(email.into_inner());
        }
        if let Some(username) = username {
            model.username = Set(username.into_inner());
        }
        self.update(id, model).await
    }

    /// Activates or deactivates a user.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn set_active(&self, id: UserId, active: bool) -> Result<User> {
        let model = ActiveModel {
            is_active: Set(active),
            updated_at: Set(now()),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Changes a user's role.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn set_role(&self, id: UserId, role: Role) -> Result<User> {
        let model = ActiveModel {
            role: Set(role.as_str().to_owned()),
            updated_at: Set(now()),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Replaces a user's password hash (after a password change or a re-hash
    /// with stronger parameters).
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<User> {
        let model = ActiveModel {
            password_hash: Set(hash.as_str().to_owned()),
            updated_at: Set(now()),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Replaces the password: a chosen one, so any requirement to change it,
    /// its expiry and any pending reset token go.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn replace_password(&self, id: UserId, hash: &PasswordHash) -> Result<User> {
        let model = ActiveModel {
            password_hash: Set(hash.as_str().to_owned()),
            password_change_required: Set(false),
            password_expires_at: Set(None),
            password_reset_token_hash: Set(None),
            password_reset_expires_at: Set(None),
            updated_at: Set(now()),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Uses up the one-time reset token with digest `token_hash` and sets the
    /// password it was issued for; `false` when the token is no longer there
    /// (already used, or replaced), so two redemptions cannot both succeed.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn redeem_reset_token(
        &self,
        id: UserId,
        token_hash: &str,
        hash: &PasswordHash,
    ) -> Result<bool> {
        let model = ActiveModel {
            password_hash: Set(hash.as_str().to_owned()),
            password_change_required: Set(false),
            password_expires_at: Set(None),
            password_reset_token_hash: Set(None),
            password_reset_expires_at: Set(None),
            updated_at: Set(now()),
            ..Default::default()
        };
        let res = write!(self.h, |c| Entity::update_many()
            .set(model.clone())
            .filter(scoped(self.org, id))
            .filter(Column::PasswordResetTokenHash.eq(token_hash))
            .exec(c)
            .await?);
        Ok(res.rows_affected == 1)
    }

    /// Marks the password as generated: it must be changed at first login
    /// and stops working at `expires_at`.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn require_password_change(
        &self,
        id: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<User> {
        let model = ActiveModel {
            password_change_required: Set(true),
            password_expires_at: Set(Some(expires_at)),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Stores the digest of a one-time reset token (replacing any earlier one).
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn set_reset_token(
        &self,
        id: UserId,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<User> {
        let model = ActiveModel {
            password_reset_token_hash: Set(Some(token_hash.to_owned())),
            password_reset_expires_at: Set(Some(expires_at)),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Records a successful login.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<User> {
        let model = ActiveModel {
            last_login_at: Set(Some(at)),
            ..Default::default()
        };
        self.update(id, model).await
    }

    /// Deletes a user; their keys and private connections go with them.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such user.
    pub async fn delete(&self, id: UserId) -> Result<()> {
        let res = write!(self.h, |c| Entity::delete_many()
            .filter(scoped(self.org, id))
            .exec(c)
            .await?);
        if res.rows_affected == 0 {
            return Err(PersistenceError::NotFound);
        }
        Ok(())
    }
}

impl SystemUsers<'_> {
    /// The user with this id, in whichever organization (for refresh-token
    /// reuse detection and logout, where only the token names the user).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: UserId) -> Result<Option<User>> {
        one(read!(self.h, |c| Entity::find_by_id(id.as_uuid())
            .one(c)
            .await?))
    }

    /// The user a one-time reset token was issued for, with the token's
    /// expiry; `None` for a token never issued or already used.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_by_reset_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(User, Option<DateTime<Utc>>)>> {
        let row = read!(self.h, |c| Entity::find()
            .filter(Column::PasswordResetTokenHash.eq(token_hash))
            .one(c)
            .await?);
        row.map(|m| {
            let expires = m.password_reset_expires_at;
            User::try_from(m).map(|u| (u, expires))
        })
        .transpose()
    }

    /// The user with this e-mail address (compared case-insensitively).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = email.trim().to_lowercase();
        one(read!(self.h, |c| Entity::find()
            .filter(Column::Email.eq(email.as_str()))
            .one(c)
            .await?))
    }

    /// The user with this username.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_by_username(&self, username: &str) -> Result<Option<User>> {
        one(read!(self.h, |c| Entity::find()
            .filter(Column::Username.eq(username))
            .one(c)
            .await?))
    }

    /// The user a login name refers to: an e-mail address when it holds `@`,
    /// else a username.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_by_login(&self, email_or_username: &str) -> Result<Option<User>> {
        if email_or_username.contains('@') {
            self.find_by_email(email_or_username).await
        } else {
            self.find_by_username(email_or_username).await
        }
    }
}
