//! `cache_invalidations`: what one process tells the others on the same
//! SQLite file to forget (a revoked key, an ended session), as PostgreSQL's
//! `NOTIFY` does between servers. Each row is one message, numbered in
//! commit order; readers watch `PRAGMA data_version` and read only the rows
//! after the last they saw. Old rows are pruned by the writers. Created on
//! both engines (one schema); PostgreSQL leaves it empty.

use sea_orm_migration::prelude::*;

/// Creates `cache_invalidations`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CacheInvalidations {
    Table,
    Id,
    Payload,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CacheInvalidations::Table)
                    .col(
                        ColumnDef::new(CacheInvalidations::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CacheInvalidations::Payload)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CacheInvalidations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CacheInvalidations::Table).to_owned())
            .await
    }
}
