use super::{Handle, now, read, write};
use crate::entities::refresh_token::{self, ActiveModel, Column, Entity};
use crate::error::Result;
use chrono::{DateTime, Utc};
use curatore_domain::{NewRefreshToken, RefreshTokenId, RefreshTokenRecord, UserId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    SelectExt, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

/// Refresh tokens: only their SHA-256 is stored. Tokens issued from one login
/// share a family; rotation revokes the presented token and issues its
/// successor in the same family, and presenting a rotated token again is
/// reported as reuse so the caller can revoke the family (unless it comes
/// back within the reuse grace, see [`RefreshTokens::rotate_with_grace`]).
pub struct RefreshTokens<'a> {
    pub(crate) h: Handle<'a>,
}

/// What [`RefreshTokens::rotate`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per refresh and matched at once; Rotated is the common case, so boxing it would only add an allocation"
)]
pub enum RotateOutcome {
    /// The presented token was live: it is now revoked and replaced by `current`.
    Rotated {
        /// The presented token, as revoked by this rotation.
        previous: RefreshTokenRecord,
        /// Its successor: same user and family, same absolute expiry.
        current: RefreshTokenRecord,
    },
    /// The token was rotated moments ago (within the reuse grace) into
    /// `current`, which is still live and is the successor the caller expected:
    /// a parallel or retried refresh, not a replay. Nothing was written.
    WithinGrace {
        /// The presented token, as revoked by its rotation.
        previous: RefreshTokenRecord,
        /// Its direct successor, unchanged.
        current: RefreshTokenRecord,
    },
    /// The token exists but was already rotated or revoked: a replay. The
    /// caller should revoke the whole family.
    Reused {
        /// The family the token belongs to.
        family_id: Uuid,
        /// The user the token belongs to.
        user_id: UserId,
    },
    /// The token exists, is not revoked, but has expired.
    Expired {
        /// The family the token belongs to.
        family_id: Uuid,
        /// The user the token belongs to.
        user_id: UserId,
    },
    /// No token has this hash.
    Unknown,
}

impl From<refresh_token::Model> for RefreshTokenRecord {
    fn from(m: refresh_token::Model) -> Self {
        Self {
            id: m.id.into(),
            user_id: m.user_id.into(),
            family_id: m.family_id,
            token_hash: m.token_hash,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            replaced_by: m.replaced_by.map(RefreshTokenId::from),
            created_at: m.created_at,
            ip_address: m.ip_address,
            user_agent: m.user_agent,
        }
    }
}

/// The live tokens of a family (or user): not revoked, not expired at `at`.
fn live(at: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::RevokedAt.is_null())
        .add(Column::ExpiresAt.gt(at))
}

async fn find_by_hash_on<C: ConnectionTrait>(
    c: &C,
    token_hash: &str,
) -> Result<Option<refresh_token::Model>> {
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .one(c)
        .await?)
}

struct Successor<'s> {
    token_hash: &'s str,
    ip_address: Option<String>,
    user_agent: Option<String>,
}

/// The rotation itself, on a connection that is already inside a transaction
/// (or savepoint) the caller commits only on success.
/// The direct successor of `m` when `m` was rotated less than `grace` before
/// `at` and the successor is still live and has the expected hash.
async fn successor_within_grace<C: ConnectionTrait>(
    c: &C,
    m: &refresh_token::Model,
    expected_hash: &str,
    grace: chrono::Duration,
    at: DateTime<Utc>,
) -> Result<Option<refresh_token::Model>> {
    let (Some(rotated_at), Some(successor_id)) = (m.revoked_at, m.replaced_by) else {
        return Ok(None);
    };
    if grace <= chrono::Duration::zero() || at - rotated_at >= grace {
        return Ok(None);
    }
    Ok(Entity::find_by_id(successor_id)
        .one(c)
        .await?
        .filter(|s| s.revoked_at.is_none() && s.expires_at > at && s.token_hash == expected_hash))
}

async fn rotate_on<C: ConnectionTrait>(
    c: &C,
    presented_hash: &str,
    successor: Successor<'_>,
    grace: chrono::Duration,
) -> Result<RotateOutcome> {
    let at = now();
    let successor_id = RefreshTokenId::new();
    // The one conditional UPDATE: of any number of concurrent rotations of
    // the same token, exactly one matches the row.
    let res = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Some(at)))
        .col_expr(
            Column::ReplacedBy,
            Expr::value(Some(successor_id.as_uuid())),
        )
        .filter(Column::TokenHash.eq(presented_hash))
        .filter(live(at))
        .exec(c)
        .await?;

    if res.rows_affected != 1 {
        let found = find_by_hash_on(c, presented_hash).await?;
        if let Some(m) = &found
            && let Some(current) =
                successor_within_grace(c, m, successor.token_hash, grace, at).await?
        {
            return Ok(RotateOutcome::WithinGrace {
                previous: m.clone().into(),
                current: current.into(),
            });
        }
        return Ok(match found {
            None => RotateOutcome::Unknown,
            Some(m) if m.revoked_at.is_none() && m.expires_at <= at => RotateOutcome::Expired {
                family_id: m.family_id,
                user_id: m.user_id.into(),
            },
            // Revoked or rotated, or (fail closed) changed under us.
            Some(m) => RotateOutcome::Reused {
                family_id: m.family_id,
                user_id: m.user_id.into(),
            },
        });
    }

    // The row is ours now (revoked by us, inside this transaction).
    let previous = find_by_hash_on(c, presented_hash)
        .await?
        .ok_or(crate::PersistenceError::NotFound)?;
    let current = ActiveModel {
        id: Set(successor_id.as_uuid()),
        user_id: Set(previous.user_id),
        family_id: Set(previous.family_id),
        token_hash: Set(successor.token_hash.to_owned()),
        // Absolute family expiry: rotation never extends it.
        expires_at: Set(previous.expires_at),
        revoked_at: Set(None),
        replaced_by: Set(None),
        created_at: Set(at),
        ip_address: Set(successor.ip_address),
        user_agent: Set(successor.user_agent),
    }
    .insert(c)
    .await?;
    Ok(RotateOutcome::Rotated {
        previous: previous.into(),
        current: current.into(),
    })
}

impl RefreshTokens<'_> {
    /// Stores a newly issued token's hash (a login starts a new family).
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`](crate::PersistenceError::Conflict)
    /// (`token_hash`) for a repeated hash;
    /// [`PersistenceError::MissingReference`](crate::PersistenceError::MissingReference)
    /// when the user does not exist.
    pub async fn create(&self, new: NewRefreshToken) -> Result<RefreshTokenRecord> {
        let model = ActiveModel {
            id: Set(RefreshTokenId::new().into()),
            user_id: Set(new.user_id.into()),
            family_id: Set(new.family_id),
            token_hash: Set(new.token_hash),
            expires_at: Set(new.expires_at),
            revoked_at: Set(None),
            replaced_by: Set(None),
            created_at: Set(now()),
            ip_address: Set(new.ip_address),
            user_agent: Set(new.user_agent),
        };
        write!(self.h, |c| Ok(model.insert(c).await?.into()))
    }

    /// The token whose SHA-256 is `token_hash`, revoked or not: an indexed lookup.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_by_hash(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        Ok(read!(self.h, |c| find_by_hash_on(c, token_hash).await?).map(Into::into))
    }

    /// Rotates the token whose SHA-256 is `presented_hash`: one conditional
    /// `UPDATE … SET revoked_at = now, replaced_by = <new id> WHERE token_hash
    /// = ? AND revoked_at IS NULL AND expires_at > now` that must affect
    /// exactly one row, and only then the insert of the successor with
    /// `successor_hash` (same user and family, the old token's absolute
    /// expiry). Of many concurrent rotations of one token exactly one gets
    /// [`RotateOutcome::Rotated`].
    ///
    /// On `tx.refresh_tokens()` it runs inside the caller's transaction
    /// (within a savepoint, so a failure undoes the rotation even there); on
    /// `db.refresh_tokens()` in a transaction of its own. When no row matches
    /// nothing is written and the token is looked up to classify the outcome.
    ///
    /// # Errors
    /// [`PersistenceError::Conflict`](crate::PersistenceError::Conflict)
    /// (`token_hash`) when `successor_hash` is already stored; the rotation is
    /// undone then. Otherwise when the database fails.
    pub async fn rotate(
        &self,
        presented_hash: &str,
        successor_hash: &str,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> Result<RotateOutcome> {
        self.rotate_with_grace(
            presented_hash,
            successor_hash,
            std::time::Duration::ZERO,
            ip_address,
            user_agent,
        )
        .await
    }

    /// [`rotate`](Self::rotate) with a reuse grace: when the presented token
    /// was already rotated less than `grace` ago, and its direct successor is
    /// still live (not revoked, not expired) and its hash is `successor_hash`,
    /// the outcome is [`RotateOutcome::WithinGrace`] with that successor and
    /// nothing is written. This serves callers that derive the successor
    /// deterministically from the presented token, so parallel or retried
    /// refreshes of one token all get the same successor. A successor that
    /// was itself rotated (or revoked) since, a different `successor_hash`,
    /// or a rotation `grace` or longer ago is [`RotateOutcome::Reused`]. A
    /// zero `grace` is exactly `rotate`.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub async fn rotate_with_grace(
        &self,
        presented_hash: &str,
        successor_hash: &str,
        grace: std::time::Duration,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> Result<RotateOutcome> {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let successor = Successor {
            token_hash: successor_hash,
            ip_address,
            user_agent,
        };
        match self.h {
            Handle::Pool(db) => {
                let tx = db.begin().await?;
                let outcome = rotate_on(&tx.tx, presented_hash, successor, grace).await?;
                if matches!(outcome, RotateOutcome::Rotated { .. }) {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Ok(outcome)
            }
            Handle::Tx(tx) => {
                let savepoint = tx.begin().await?;
                match rotate_on(&savepoint, presented_hash, successor, grace).await {
                    Ok(outcome) => {
                        savepoint.commit().await?;
                        Ok(outcome)
                    }
                    Err(e) => {
                        // Dropping would roll back too; say so explicitly.
                        let _ = savepoint.rollback().await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Revokes every still-unrevoked token of a family (logout, reuse
    /// detected). Returns how many it revoked.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn revoke_family(&self, family_id: Uuid) -> Result<u64> {
        let at = now();
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(Some(at)))
            .filter(Column::FamilyId.eq(family_id))
            .filter(Column::RevokedAt.is_null())
            .exec(c)
            .await?);
        Ok(res.rows_affected)
    }

    /// Revokes every still-unrevoked token of a user, in all families
    /// (deactivation, password change). Returns how many it revoked.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn revoke_all_for_user(&self, user: UserId) -> Result<u64> {
        let at = now();
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(Some(at)))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(Column::RevokedAt.is_null())
            .exec(c)
            .await?);
        Ok(res.rows_affected)
    }

    /// Revokes every session of `user` except the family `keep` (the one
    /// the user is acting from, after they changed their password). Returns
    /// how many tokens it revoked.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn revoke_all_for_user_except(&self, user: UserId, keep: Uuid) -> Result<u64> {
        let at = now();
        let res = write!(self.h, |c| Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(Some(at)))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(Column::FamilyId.ne(keep))
            .filter(Column::RevokedAt.is_null())
            .exec(c)
            .await?);
        Ok(res.rows_affected)
    }

    /// Whether the family (the login session) still has a live token: one
    /// that is neither revoked nor expired. An indexed `EXISTS` query.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn family_active(&self, family_id: Uuid) -> Result<bool> {
        let at = now();
        Ok(read!(self.h, |c| Entity::find()
            .filter(Column::FamilyId.eq(family_id))
            .filter(live(at))
            .exists(c)
            .await?))
    }
}
