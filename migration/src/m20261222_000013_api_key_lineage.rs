//! `api_keys.created_by_key_id`: the key that minted a key (a key whose
//! scopes include `api_keys:write` may mint narrower ones), so revoking a
//! key revokes every key minted from it, transitively. Null for keys made
//! by a signed-in user, the system or an import. No foreign key: keys are
//! never deleted one by one (only with their user or organization), and
//! SQLite cannot drop a column that a foreign key uses; the index serves
//! the walk from a key to its descendants.

use crate::columns::{create_indexes, index, uuid_null};
use sea_orm_migration::prelude::*;

/// Adds the column and `ix_api_keys_created_by_key_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    CreatedByKeyId,
}

const LINEAGE: &str = "ix_api_keys_created_by_key_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(uuid_null(ApiKeys::CreatedByKeyId))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![index(LINEAGE, ApiKeys::Table, [ApiKeys::CreatedByKeyId])],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(LINEAGE).table(ApiKeys::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::CreatedByKeyId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
