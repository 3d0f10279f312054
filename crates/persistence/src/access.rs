//! What authentication needs on every request, each in one indexed query:
//! the user with their organization and whether their session (refresh-token
//! family) is still live, or an API key with its organization and user.
//!
//! The caller caches these briefly; each lookup is a single statement (joins
//! and an `EXISTS` subquery, bound parameters only), so a cache miss costs one
//! round trip.

use crate::entities::{api_key, organization, refresh_token, user};
use crate::error::Result;
use crate::repositories::{Handle, System, now, read};
use chrono::{DateTime, Utc};
use curatore_domain::{ApiKey, Organization, User, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Iterable, JoinType,
    QueryFilter, QueryResult, QuerySelect, QueryTrait, RelationTrait, Select,
};
use uuid::Uuid;

/// A user, their organization and whether a session of theirs is live.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessSnapshot {
    /// The user (check `is_active` before trusting them).
    pub user: User,
    /// The user's organization (check `is_active` too).
    pub organization: Organization,
    /// Whether the session's refresh-token family belongs to this user and
    /// still holds a token that is neither revoked nor expired.
    pub session_active: bool,
}

/// An API key with the organization it acts in and the user it acts as.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeySnapshot {
    /// The key (check `is_active` and `expires_at`).
    pub key: ApiKey,
    /// The user the key acts as; `None` for an organization-wide key.
    pub user: Option<User>,
    /// The organization the key acts in.
    pub organization: Organization,
}

const USER: &str = "u_";
const ORGANIZATION: &str = "o_";
const KEY: &str = "k_";
const SESSION_ACTIVE: &str = "session_active";

/// Adds every column of `E` to `q`, aliased `<prefix><column>`, so models of
/// several joined tables can be read back from one row.
fn with_columns<E: EntityTrait, F: EntityTrait>(mut q: Select<F>, prefix: &str) -> Select<F> {
    for col in E::Column::iter() {
        q = q.column_as(col, format!("{prefix}{}", col.as_str()));
    }
    q
}

fn model<M: FromQueryResult>(row: &QueryResult, prefix: &str) -> Result<M> {
    Ok(M::from_query_result(row, prefix)?)
}

/// `users` by primary key, joined to `organizations`, with an `EXISTS` over
/// `refresh_tokens` by `family_id` (indexed): one statement.
fn access_query(user_id: UserId, session: Uuid, at: DateTime<Utc>) -> SelectStatement {
    let live_session = Query::select()
        .expr(Expr::cust("1"))
        .from(refresh_token::Entity)
        .and_where(refresh_token::Column::FamilyId.eq(session))
        .and_where(
            Expr::col((refresh_token::Entity, refresh_token::Column::UserId))
                .equals((user::Entity, user::Column::Id)),
        )
        .and_where(refresh_token::Column::RevokedAt.is_null())
        .and_where(refresh_token::Column::ExpiresAt.gt(at))
        .to_owned();
    let q = user::Entity::find().select_only();
    let q = with_columns::<user::Entity, _>(q, USER);
    let q = with_columns::<organization::Entity, _>(q, ORGANIZATION);
    q.expr_as(Expr::exists(live_session), SESSION_ACTIVE)
        .join(JoinType::InnerJoin, user::Relation::Organization.def())
        .filter(user::Column::Id.eq(user_id.as_uuid()))
        .into_query()
}

async fn access_snapshot(
    h: Handle<'_>,
    user_id: UserId,
    session: Uuid,
) -> Result<Option<AccessSnapshot>> {
    let stmt = access_query(user_id, session, now());
    let Some(row) = read!(h, |c| c.query_one(&stmt).await?) else {
        return Ok(None);
    };
    Ok(Some(AccessSnapshot {
        user: User::try_from(model::<user::Model>(&row, USER)?)?,
        organization: Organization::try_from(model::<organization::Model>(&row, ORGANIZATION)?)?,
        session_active: row.try_get::<bool>("", SESSION_ACTIVE)?,
    }))
}

/// `api_keys` by its unique hash, joined to `organizations` and left-joined
/// to `users`: one statement.
fn api_key_query(key_hash: &str) -> SelectStatement {
    let q = api_key::Entity::find().select_only();
    let q = with_columns::<api_key::Entity, _>(q, KEY);
    let q = with_columns::<organization::Entity, _>(q, ORGANIZATION);
    let q = with_columns::<user::Entity, _>(q, USER);
    q.join(JoinType::InnerJoin, api_key::Relation::Organization.def())
        .join(JoinType::LeftJoin, api_key::Relation::User.def())
        .filter(api_key::Column::KeyHash.eq(key_hash))
        .into_query()
}

async fn api_key_snapshot(h: Handle<'_>, key_hash: &str) -> Result<Option<ApiKeySnapshot>> {
    let stmt = api_key_query(key_hash);
    let Some(row) = read!(h, |c| c.query_one(&stmt).await?) else {
        return Ok(None);
    };
    // A NULL user id means the LEFT JOIN found no user: an organization-wide key.
    let user = match row.try_get::<Option<Uuid>>("", &format!("{USER}id"))? {
        Some(_) => Some(User::try_from(model::<user::Model>(&row, USER)?)?),
        None => None,
    };
    Ok(Some(ApiKeySnapshot {
        key: ApiKey::try_from(model::<api_key::Model>(&row, KEY)?)?,
        user,
        organization: Organization::try_from(model::<organization::Model>(&row, ORGANIZATION)?)?,
    }))
}

// Not `async fn`: the futures borrow the database or transaction, not the
// handle, so `db.system().access_snapshot(..)` can be awaited later or joined.
impl<'a> System<'a> {
    /// The user, their organization and whether the session (the refresh-token
    /// family `session`, which must belong to the user) is live, in one query:
    /// `users` by primary key joined to `organizations`, with an `EXISTS` over
    /// `refresh_tokens` by `family_id`. `None` when the user does not exist.
    ///
    /// # Errors
    /// When the database fails, or a stored value breaks a domain rule.
    pub fn access_snapshot(
        &self,
        user: UserId,
        session: Uuid,
    ) -> impl Future<Output = Result<Option<AccessSnapshot>>> + use<'a> {
        access_snapshot(self.h, user, session)
    }

    /// The API key whose SHA-256 is `key_hash`, with its organization and (for
    /// a user's key) its user, in one query: `api_keys` by its unique hash
    /// joined to `organizations` and left-joined to `users`. `None` when no
    /// key has this hash.
    ///
    /// # Errors
    /// When the database fails, or a stored value breaks a domain rule.
    pub fn api_key_snapshot<'k>(
        &self,
        key_hash: &'k str,
    ) -> impl Future<Output = Result<Option<ApiKeySnapshot>>> + use<'a, 'k> {
        api_key_snapshot(self.h, key_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn each_snapshot_is_one_parameterised_select() {
        let secret = "f".repeat(64);
        for (sql, values) in [
            access_query(UserId::new(), Uuid::new_v4(), now()).build(PostgresQueryBuilder),
            access_query(UserId::new(), Uuid::new_v4(), now()).build(SqliteQueryBuilder),
            api_key_query(&secret).build(PostgresQueryBuilder),
            api_key_query(&secret).build(SqliteQueryBuilder),
        ] {
            assert!(sql.starts_with("SELECT "), "{sql}");
            assert!(!sql.contains(';'), "{sql}");
            assert!(
                !sql.contains(&secret),
                "values are bound, not inlined: {sql}"
            );
            assert!(!values.0.is_empty(), "{sql}");
        }
        let (sql, values) =
            access_query(UserId::new(), Uuid::new_v4(), now()).build(PostgresQueryBuilder);
        assert!(sql.contains(r#"INNER JOIN "organizations""#), "{sql}");
        assert!(
            sql.contains(r#"EXISTS(SELECT 1 FROM "refresh_tokens""#),
            "{sql}"
        );
        assert!(
            sql.contains(r#""refresh_tokens"."family_id" = $1"#),
            "{sql}"
        );
        assert!(sql.contains(r#""users"."id" = $3"#), "{sql}");
        assert_eq!(values.0.len(), 3, "{sql}");
        let (sql, _) = api_key_query("x").build(PostgresQueryBuilder);
        assert!(sql.contains(r#"INNER JOIN "organizations""#), "{sql}");
        assert!(sql.contains(r#"LEFT JOIN "users""#), "{sql}");
        assert!(sql.contains(r#""api_keys"."key_hash" = $1"#), "{sql}");
    }
}
