//! `organizations` and `users`, which reference each other.
//!
//! `organizations.created_by` points at `users` and `users.organization_id`
//! at `organizations`. SQLite cannot add a foreign key to an existing table
//! but accepts a reference to a table that does not exist yet, so there the
//! key is declared inline; PostgreSQL checks references at creation, so
//! there the key is added once `users` exists.

use crate::columns::{
    boolean, create_indexes, foreign_key, index, json_object, timestamp_now, timestamp_null,
    unique_index, uuid, uuid_null, uuid_pk, varchar, varchar_default, varchar_null,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `organizations` and `users` with their indexes and both foreign keys.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    DisplayName,
    Slug,
    IsActive,
    Settings,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrganizationId,
    Email,
    Username,
    PasswordHash,
    FullName,
    IsActive,
    IsVerified,
    Role,
    Settings,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

const FK_ORGANIZATIONS_CREATED_BY: &str = "fk_organizations_created_by";

fn fk_organizations_created_by() -> ForeignKeyCreateStatement {
    foreign_key(
        FK_ORGANIZATIONS_CREATED_BY,
        (Organizations::Table, Organizations::CreatedBy),
        (Users::Table, Users::Id),
        ForeignKeyAction::SetNull,
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        let mut organizations = Table::create();
        organizations
            .table(Organizations::Table)
            .col(uuid_pk(Organizations::Id))
            .col(varchar(Organizations::Name, 255))
            .col(varchar(Organizations::DisplayName, 255))
            .col(varchar(Organizations::Slug, 100))
            .col(boolean(Organizations::IsActive, true))
            .col(json_object(Organizations::Settings))
            .col(timestamp_now(Organizations::CreatedAt, backend))
            .col(timestamp_now(Organizations::UpdatedAt, backend))
            .col(uuid_null(Organizations::CreatedBy));
        if backend == DbBackend::Sqlite {
            organizations.foreign_key(&mut fk_organizations_created_by());
        }
        manager.create_table(organizations).await?;
        create_indexes(
            manager,
            vec![
                unique_index(
                    "ix_organizations_name",
                    Organizations::Table,
                    [Organizations::Name],
                ),
                unique_index(
                    "ix_organizations_slug",
                    Organizations::Table,
                    [Organizations::Slug],
                ),
                index(
                    "ix_organizations_is_active",
                    Organizations::Table,
                    [Organizations::IsActive],
                ),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid_pk(Users::Id))
                    .col(uuid(Users::OrganizationId))
                    .col(varchar(Users::Email, 255))
                    .col(varchar(Users::Username, 100))
                    .col(varchar(Users::PasswordHash, 255))
                    .col(varchar_null(Users::FullName, 255))
                    .col(boolean(Users::IsActive, true))
                    .col(boolean(Users::IsVerified, false))
                    .col(varchar_default(Users::Role, 50, "member"))
                    .col(json_object(Users::Settings))
                    .col(timestamp_now(Users::CreatedAt, backend))
                    .col(timestamp_now(Users::UpdatedAt, backend))
                    .col(timestamp_null(Users::LastLoginAt))
                    .foreign_key(&mut foreign_key(
                        "fk_users_organization_id",
                        (Users::Table, Users::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index(
                    "ix_users_organization_id",
                    Users::Table,
                    [Users::OrganizationId],
                ),
                unique_index("ix_users_email", Users::Table, [Users::Email]),
                unique_index("ix_users_username", Users::Table, [Users::Username]),
                index("ix_users_is_active", Users::Table, [Users::IsActive]),
                index("ix_users_role", Users::Table, [Users::Role]),
            ],
        )
        .await?;

        if backend != DbBackend::Sqlite {
            manager
                .create_foreign_key(fk_organizations_created_by())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            let mut drop_fk = ForeignKey::drop();
            drop_fk
                .name(FK_ORGANIZATIONS_CREATED_BY)
                .table(Organizations::Table);
            manager.drop_foreign_key(drop_fk).await?;
        }
        // Dropping a table drops its indexes and its own foreign keys.
        manager
            .drop_table(Table::drop().table(Users::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Organizations::Table).take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
