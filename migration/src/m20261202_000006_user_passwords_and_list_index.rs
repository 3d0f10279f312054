//! `users`: what temporary passwords and one-time reset tokens need, and a
//! composite index on `(organization_id, created_at, id)` so one
//! organization's users list newest first without sorting.
//!
//! - `password_change_required`: the password was generated for an
//!   invitation; a session signed in with it may only change it.
//! - `password_expires_at`: when such a password stops working unused.
//! - `password_reset_token_hash` / `password_reset_expires_at`: the SHA-256
//!   of the one-time reset token an org_admin issued, and its expiry.

use crate::columns::{boolean, create_indexes, index, timestamp_null, unique_index, varchar_null};
use sea_orm_migration::prelude::*;

/// Adds the four columns and two indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrganizationId,
    CreatedAt,
    PasswordChangeRequired,
    PasswordExpiresAt,
    PasswordResetTokenHash,
    PasswordResetExpiresAt,
}

const LIST: &str = "ix_users_org_created_id";
const RESET: &str = "ix_users_password_reset_token_hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            boolean(Users::PasswordChangeRequired, false),
            timestamp_null(Users::PasswordExpiresAt),
            varchar_null(Users::PasswordResetTokenHash, 64),
            timestamp_null(Users::PasswordResetExpiresAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        create_indexes(
            manager,
            vec![
                index(
                    LIST,
                    Users::Table,
                    [Users::OrganizationId, Users::CreatedAt, Users::Id],
                ),
                unique_index(RESET, Users::Table, [Users::PasswordResetTokenHash]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [LIST, RESET] {
            manager
                .drop_index(Index::drop().name(name).table(Users::Table).to_owned())
                .await?;
        }
        for column in [
            Users::PasswordResetExpiresAt,
            Users::PasswordResetTokenHash,
            Users::PasswordExpiresAt,
            Users::PasswordChangeRequired,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
