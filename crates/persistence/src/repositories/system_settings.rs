use super::{Handle, now, read, write};
use crate::entities::system_setting::{self, ActiveModel, Column, Entity};
use crate::error::{PersistenceError, Result};
use curatore_domain::{NewSystemSetting, SystemSetting, SystemSettingId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

/// System-wide settings, by unique key.
pub struct SystemSettings<'a> {
    pub(crate) h: Handle<'a>,
}

impl From<system_setting::Model> for SystemSetting {
    fn from(m: system_setting::Model) -> Self {
        Self {
            id: m.id.into(),
            key: m.key,
            value: m.value,
            description: m.description,
            is_public: m.is_public,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl SystemSettings<'_> {
    /// Creates a setting.
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`] (`key`) when the key exists.
    pub async fn create(&self, new: NewSystemSetting) -> Result<SystemSetting> {
        let at = now();
        let model = ActiveModel {
            id: Set(SystemSettingId::new().into()),
            key: Set(new.key),
            value: Set(new.value),
            description: Set(new.description),
            is_public: Set(new.is_public),
            created_at: Set(at),
            updated_at: Set(at),
        };
        Ok(write!(self.h, |c| model.insert(c).await?).into())
    }

    /// The setting with this key.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, key: &str) -> Result<Option<SystemSetting>> {
        Ok(read!(self.h, |c| Entity::find()
            .filter(Column::Key.eq(key))
            .one(c)
            .await?)
        .map(Into::into))
    }

    /// Every setting, by key; only public ones when `public_only`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, public_only: bool) -> Result<Vec<SystemSetting>> {
        let mut q = Entity::find().order_by_asc(Column::Key);
        if public_only {
            q = q.filter(Column::IsPublic.eq(true));
        }
        Ok(read!(self.h, |c| q.clone().all(c).await?)
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Changes a setting's value.
    ///
    /// # Errors
    /// [`PersistenceError::NotFound`] when the key does not exist.
    pub async fn set_value(&self, key: &str, value: serde_json::Value) -> Result<SystemSetting> {
        let existing = self.get(key).await?.ok_or(PersistenceError::NotFound)?;
        let model = ActiveModel {
            id: Set(existing.id.as_uuid()),
            value: Set(value),
            updated_at: Set(now()),
            ..Default::default()
        };
        Ok(write!(self.h, |c| model.update(c).await?).into())
    }

    /// Sets a setting's value, creating the row when the key is new (with
    /// `description` and `is_public`; an existing row keeps its own).
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`] (`key`) when a concurrent writer
    /// created the same key first.
    pub async fn upsert(
        &self,
        key: &str,
        value: serde_json::Value,
        description: Option<String>,
        is_public: bool,
    ) -> Result<SystemSetting> {
        if self.get(key).await?.is_some() {
            return self.set_value(key, value).await;
        }
        self.create(NewSystemSetting {
            key: key.to_owned(),
            value,
            description,
            is_public,
        })
        .await
    }

    /// Deletes the setting with this key; `false` when there was none.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let res = write!(self.h, |c| Entity::delete_many()
            .filter(Column::Key.eq(key))
            .exec(c)
            .await?);
        Ok(res.rows_affected > 0)
    }
}
