use super::{Handle, now, read, write};
use crate::entities::api_key::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use chrono::{DateTime, Duration, Utc};
use curatore_domain::{ApiKey, ApiKeyId, NewApiKey, OrganizationId, UserId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};

/// One organization's API keys; every statement filters by that
/// organization, so one tenant can never reach another's keys.
pub struct TenantApiKeys<'a> {
    pub(crate) h: Handle<'a>,
    pub(crate) org: OrganizationId,
}

/// API keys looked up before their organization is known: by hash, when a
/// request presents one.
pub struct SystemApiKeys<'a> {
    pub(crate) h: Handle<'a>,
}

impl TryFrom<api_key::Model> for ApiKey {
    type Error = PersistenceError;
    fn try_from(m: api_key::Model) -> Result<Self> {
        let scopes = serde_json::from_value(m.scopes).map_err(|_| {
            curatore_domain::DomainError::Invalid {
                field: "scopes",
                reason: "stored scopes are not a list of strings".into(),
            }
        })?;
        Ok(Self {
            id: m.id.into(),
            organization_id: m.organization_id.into(),
            user_id: m.user_id.map(UserId::from),
            name: m.name,
            key_hash: m.key_hash,
            prefix: m.prefix,
            scopes,
            is_active: m.is_active,
            last_used_at: m.last_used_at,
            expires_at: m.expires_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            created_by_key_id: m.created_by_key_id.map(ApiKeyId::from),
        })
    }
}

fn one(m: Option<api_key::Model>) -> Result<Option<ApiKey>> {
    m.map(ApiKey::try_from).transpose()
}

fn scoped(org: OrganizationId, id: ApiKeyId) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id.as_uuid()))
        .add(Column::OrganizationId.eq(org.as_uuid()))
}

impl TenantApiKeys<'_> {
    /// Stores a new key's hash and metadata, in this organization (whatever
    /// `new.organization_id` says).
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`] (`key_hash`) in the astronomically
    /// unlikely case of a repeated key; [`PersistenceError::MissingReference`]
    /// when the organization or user does not exist.
    pub async fn create(&self, new: NewApiKey) -> Result<ApiKey> {
        let at = now();
        let model = ActiveModel {
            id: Set(ApiKeyId::new().into()),
            organization_id: Set(self.org.into()),
            user_id: Set(new.user_id.map(Into::into)),
            name: Set(new.name),
            key_hash: Set(new.key_hash),
            prefix: Set(new.prefix),
            scopes: Set(serde_json::json!(new.scopes)),
            is_active: Set(true),
            last_used_at: Set(None),
            expires_at: Set(new.expires_at),
            created_at: Set(at),
            updated_at: Set(at),
            created_by_key_id: Set(new.created_by_key_id.map(Into::into)),
        };
        write!(self.h, |c| model.insert(c).await?.try_into())
    }

    /// The organization's key with this id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: ApiKeyId) -> Result<Option<ApiKey>> {
        one(read!(self.h, |c| Entity::find()
            .filter(scoped(self.org, id))
            .one(c)
            .await?))
    }

    /// Keys of the organization, or of one of its users, newest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, user: Option<UserId>) -> Result<Vec<ApiKey>> {
        let mut cond = Condition::all().add(Column::OrganizationId.eq(self.org.as_uuid()));
        if let Some(user) = user {
            cond = cond.add(Column::UserId.eq(user.as_uuid()));
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(cond.clone())
            .order_by_desc(Column::CreatedAt)
            .all(c)
            .await?);
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    /// One page of the organization's keys (or one user's), newest first,
    /// optionally only active or inactive ones, from `skip` on, at most
    /// `limit`; and how many match in all ([`crate::Total`]).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn page(
        &self,
        user: Option<UserId>,
        is_active: Option<bool>,
        skip: u64,
        limit: u64,
    ) -> Result<(Vec<ApiKey>, crate::Total)> {
        let mut cond = Condition::all().add(Column::OrganizationId.eq(self.org.as_uuid()));
        if let Some(user) = user {
            cond = cond.add(Column::UserId.eq(user.as_uuid()));
        }
        if let Some(active) = is_active {
            cond = cond.add(Column::IsActive.eq(active));
        }
        let rows = read!(self.h, |c| Entity::find()
            .filter(cond.clone())
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(limit)
            .offset(skip)
            .all(c)
            .await?);
        let key = format!(
            "api_keys:{}:{:?}:{is_active:?}",
            self.org.as_uuid(),
            user.map(|u| u.as_uuid())
        );
        let total = super::list_total(self.h, &key, Entity::find().filter(cond)).await?;
        let keys = rows
            .into_iter()
            .map(ApiKey::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok((keys, total))
    }

    async fn update_scoped(&self, id: ApiKeyId, model: ActiveModel) -> Result<ApiKey> {
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

    /// Renames a key.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the organization has no such key.
    pub async fn rename(&self, id: ApiKeyId, name: &str) -> Result<ApiKey> {
        let model = ActiveModel {
            name: Set(name.to_owned()),
            updated_at: Set(now()),
            ..Default::default()
        };
        self.update_scoped(id, model).await
    }

    /// Revokes a key for good. Returns `false`, changing nothing, when it
    /// was revoked already, so that a repeated revocation records nothing.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn revoke(&self, id: ApiKeyId) -> Result<bool> {
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::IsActive, Expr::value(false))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(scoped(self.org, id))
            .filter(Column::IsActive.eq(true))
            .exec(c)
            .await?);
        Ok(res.rows_affected > 0)
    }

    /// Every key minted by `id`, by a key it minted, and so on (revoked or
    /// not), in this organization, nearest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn descendants(&self, id: ApiKeyId) -> Result<Vec<ApiKey>> {
        let mut found: Vec<ApiKey> = Vec::new();
        let mut seen = std::collections::HashSet::from([id]);
        let mut frontier = vec![id.as_uuid()];
        while !frontier.is_empty() {
            let parents = frontier.clone();
            let children = read!(self.h, |c| Entity::find()
                .filter(Column::OrganizationId.eq(self.org.as_uuid()))
                .filter(Column::CreatedByKeyId.is_in(parents.clone()))
                .order_by_asc(Column::CreatedAt)
                .order_by_asc(Column::Id)
                .all(c)
                .await?);
            frontier.clear();
            for m in children {
                let key = ApiKey::try_from(m)?;
                if seen.insert(key.id) {
                    frontier.push(key.id.as_uuid());
                    found.push(key);
                }
            }
        }
        Ok(found)
    }
}

impl SystemApiKeys<'_> {
    /// The key whose SHA-256 is `key_hash`: an indexed lookup.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        one(read!(self.h, |c| Entity::find()
            .filter(Column::KeyHash.eq(key_hash))
            .one(c)
            .await?))
    }

    /// Records use of a key, at most once a minute: the condition makes the
    /// write a no-op when the stored time is recent. Returns whether it wrote.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn touch_last_used(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<bool> {
        let threshold = at - Duration::minutes(1);
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(at))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(
                Condition::any()
                    .add(Column::LastUsedAt.is_null())
                    .add(Column::LastUsedAt.lt(threshold)),
            )
            .exec(c)
            .await?);
        Ok(res.rows_affected == 1)
    }

    /// Keys stored by the original Python server (a bcrypt hash of the whole
    /// key) whose 12-character display prefix is `prefix`: `(id, bcrypt
    /// hash)` pairs to verify one by one. Usually one, at most a handful.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn bcrypt_candidates(&self, prefix: &str) -> Result<Vec<(ApiKeyId, String)>> {
        let rows = read!(self.h, |c| Entity::find()
            .filter(Column::Prefix.eq(prefix))
            .filter(Column::KeyHash.like("$2%"))
            .all(c)
            .await?);
        Ok(rows
            .into_iter()
            .map(|m| (ApiKeyId::from_uuid(m.id), m.key_hash))
            .collect())
    }

    /// Replaces a key's stored bcrypt hash by our SHA-256 digest once the key
    /// has been verified, so its next use costs one indexed lookup. The
    /// condition on the old hash makes two instances doing it at once
    /// harmless. Returns whether it wrote.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn replace_bcrypt_hash(&self, id: ApiKeyId, old: &str, digest: &str) -> Result<bool> {
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::KeyHash, Expr::value(digest))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::KeyHash.eq(old))
            .exec(c)
            .await?);
        Ok(res.rows_affected == 1)
    }
}
