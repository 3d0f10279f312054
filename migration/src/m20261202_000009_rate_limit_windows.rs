//! `rate_limit_windows`: attempt counts per limit key and fixed window, so
//! several servers on one PostgreSQL database share one login and
//! registration budget. Each row is one key's window, named by a digest of
//! the limit, what it counts and the window's start (never a login in
//! clear): `attempts` reserved (in flight or failed), `failures` of them
//! known to have failed. Rows are upserted atomically and deleted, a bounded
//! batch at a time, once `expires_at` (seconds since the Unix epoch) is past.
//! SQLite (one process) keeps its counts in memory and leaves the table empty.

use sea_orm_migration::prelude::*;

/// Creates `rate_limit_windows`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateLimitWindows {
    Table,
    Id,
    Attempts,
    Failures,
    ExpiresAt,
}

const EXPIRY_INDEX: &str = "ix_rate_limit_windows_expires_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimitWindows::Table)
                    .col(
                        ColumnDef::new(RateLimitWindows::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RateLimitWindows::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RateLimitWindows::Failures)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RateLimitWindows::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(EXPIRY_INDEX)
                    .table(RateLimitWindows::Table)
                    .col(RateLimitWindows::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimitWindows::Table).to_owned())
            .await
    }
}
