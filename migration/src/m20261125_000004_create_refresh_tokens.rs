//! `refresh_tokens`: the stored half of rotating refresh tokens. Only the
//! token's SHA-256 is kept; tokens issued from one login share a family, so a
//! reused (already rotated) token can revoke the whole family at once.

use crate::columns::{
    create_indexes, foreign_key, index, text_null, timestamp, timestamp_now, timestamp_null,
    unique_index, uuid, uuid_null, uuid_pk, varchar, varchar_null,
};
use sea_orm_migration::prelude::*;

/// Creates `refresh_tokens` with its indexes and its foreign key to `users`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    ExpiresAt,
    RevokedAt,
    ReplacedBy,
    CreatedAt,
    IpAddress,
    UserAgent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(uuid_pk(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::UserId))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(varchar(RefreshTokens::TokenHash, 64))
                    .col(timestamp(RefreshTokens::ExpiresAt))
                    .col(timestamp_null(RefreshTokens::RevokedAt))
                    .col(uuid_null(RefreshTokens::ReplacedBy))
                    .col(timestamp_now(RefreshTokens::CreatedAt, backend))
                    .col(varchar_null(RefreshTokens::IpAddress, 45))
                    .col(text_null(RefreshTokens::UserAgent))
                    .foreign_key(&mut foreign_key(
                        "fk_refresh_tokens_user_id",
                        (RefreshTokens::Table, RefreshTokens::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index(
                    "ix_refresh_tokens_user_id",
                    RefreshTokens::Table,
                    [RefreshTokens::UserId],
                ),
                index(
                    "ix_refresh_tokens_family_id",
                    RefreshTokens::Table,
                    [RefreshTokens::FamilyId],
                ),
                unique_index(
                    "ix_refresh_tokens_token_hash",
                    RefreshTokens::Table,
                    [RefreshTokens::TokenHash],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
