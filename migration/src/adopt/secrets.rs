//! The original's connection secrets, sealed inside the adoption's
//! transaction so no clear secret outlives it.
//!
//! The original's connection types and their secret fields are frozen
//! history (the original is not developed further), so they are listed here
//! rather than read from the service's registry, which this crate must not
//! depend on. A sealed secret is stored exactly as the service stores one:
//! `{"$enc": "<SecretBox::seal>"}` in place of the text
//! (`curatore_service::connections::config`); a test opens what adoption
//! sealed through the service.

use super::stmt;
use curatore_auth::SecretBox;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value as Sql};
use serde_json::Value;

/// `(connection type, its secret fields)` of the original.
pub(crate) const ORIGINAL_SECRET_FIELDS: &[(&str, &[&str])] = &[
    ("llm", &["api_key"]),
    ("extraction", &["api_key"]),
    ("sharepoint", &["client_secret"]),
];

/// The key of the envelope a sealed secret is stored in (the service's).
const ENVELOPE_KEY: &str = "$enc";

/// The secret fields of one of the original's types (none for another).
pub(crate) fn secret_fields_of(connection_type: &str) -> &'static [&'static str] {
    ORIGINAL_SECRET_FIELDS
        .iter()
        .find(|(t, _)| *t == connection_type)
        .map_or(&[], |(_, fields)| fields)
}

/// Seals every clear secret of the copied connections (in our table, inside
/// the adoption's transaction); returns how many were sealed.
///
/// # Errors
/// When the database fails, or a copied configuration is not JSON.
pub(crate) async fn seal_copied<C: ConnectionTrait>(
    tx: &C,
    secrets: &SecretBox,
) -> Result<usize, DbErr> {
    let backend = tx.get_database_backend();
    let rows = tx
        .query_all_raw(stmt(
            backend,
            "SELECT id, connection_type, CAST(config AS TEXT) FROM connections",
        ))
        .await?;
    let update = match backend {
        DbBackend::Sqlite => "UPDATE connections SET config = ? WHERE id = ?",
        _ => "UPDATE connections SET config = $1 WHERE id = $2",
    };
    let mut sealed = 0;
    for row in rows {
        let id: uuid::Uuid = row.try_get_by_index(0)?;
        let kind: String = row.try_get_by_index(1)?;
        let text: String = row.try_get_by_index(2)?;
        let mut config: Value = serde_json::from_str(&text)
            .map_err(|e| DbErr::Custom(format!("connection {id}: config is not JSON: {e}")))?;
        let mut changed = 0;
        for field in secret_fields_of(&kind) {
            if let Some(slot) = config.get_mut(*field)
                && let Some(plain) = slot.as_str()
            {
                *slot = serde_json::json!({ ENVELOPE_KEY: secrets.seal(plain) });
                changed += 1;
            }
        }
        if changed > 0 {
            tx.execute_raw(Statement::from_sql_and_values(
                backend,
                update,
                [Sql::Json(Some(Box::new(config))), Sql::Uuid(Some(id))],
            ))
            .await?;
            sealed += changed;
        }
    }
    Ok(sealed)
}
