//! `api_keys` and `connections`: per-organisation credentials and links to
//! outside services.

use crate::columns::{
    boolean, create_indexes, foreign_key, index, json_list, json_null, json_object, text_null,
    timestamp_now, timestamp_null, unique_index, uuid, uuid_null, uuid_pk, varchar,
    varchar_default, varchar_null,
};
use sea_orm_migration::prelude::*;

/// Creates `api_keys` and `connections` with their indexes and foreign keys.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    OrganizationId,
    UserId,
    Name,
    KeyHash,
    Prefix,
    Scopes,
    IsActive,
    LastUsedAt,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    ConnectionType,
    Config,
    IsActive,
    IsDefault,
    LastTestedAt,
    TestStatus,
    TestResult,
    Scope,
    OwnerUserId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(uuid_pk(ApiKeys::Id))
                    .col(uuid(ApiKeys::OrganizationId))
                    .col(uuid_null(ApiKeys::UserId))
                    .col(varchar(ApiKeys::Name, 255))
                    .col(varchar(ApiKeys::KeyHash, 255))
                    .col(varchar(ApiKeys::Prefix, 20))
                    .col(json_list(ApiKeys::Scopes))
                    .col(boolean(ApiKeys::IsActive, true))
                    .col(timestamp_null(ApiKeys::LastUsedAt))
                    .col(timestamp_null(ApiKeys::ExpiresAt))
                    .col(timestamp_now(ApiKeys::CreatedAt, backend))
                    .col(timestamp_now(ApiKeys::UpdatedAt, backend))
                    .foreign_key(&mut foreign_key(
                        "fk_api_keys_organization_id",
                        (ApiKeys::Table, ApiKeys::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_api_keys_user_id",
                        (ApiKeys::Table, ApiKeys::UserId),
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
                    "ix_api_keys_organization_id",
                    ApiKeys::Table,
                    [ApiKeys::OrganizationId],
                ),
                index("ix_api_keys_user_id", ApiKeys::Table, [ApiKeys::UserId]),
                unique_index("ix_api_keys_key_hash", ApiKeys::Table, [ApiKeys::KeyHash]),
                index("ix_api_keys_prefix", ApiKeys::Table, [ApiKeys::Prefix]),
                index("ix_api_keys_is_active", ApiKeys::Table, [ApiKeys::IsActive]),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Connections::Table)
                    .col(uuid_pk(Connections::Id))
                    .col(uuid(Connections::OrganizationId))
                    .col(varchar(Connections::Name, 255))
                    .col(text_null(Connections::Description))
                    .col(varchar(Connections::ConnectionType, 50))
                    .col(json_object(Connections::Config))
                    .col(boolean(Connections::IsActive, true))
                    .col(boolean(Connections::IsDefault, false))
                    .col(timestamp_null(Connections::LastTestedAt))
                    .col(varchar_null(Connections::TestStatus, 20))
                    .col(json_null(Connections::TestResult))
                    .col(varchar_default(Connections::Scope, 20, "organization"))
                    .col(uuid_null(Connections::OwnerUserId))
                    .col(uuid_null(Connections::CreatedBy))
                    .col(timestamp_now(Connections::CreatedAt, backend))
                    .col(timestamp_now(Connections::UpdatedAt, backend))
                    .foreign_key(&mut foreign_key(
                        "fk_connections_organization_id",
                        (Connections::Table, Connections::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_connections_owner_user_id",
                        (Connections::Table, Connections::OwnerUserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_connections_created_by",
                        (Connections::Table, Connections::CreatedBy),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index(
                    "ix_connections_organization_id",
                    Connections::Table,
                    [Connections::OrganizationId],
                ),
                index(
                    "ix_connections_connection_type",
                    Connections::Table,
                    [Connections::ConnectionType],
                ),
                index(
                    "ix_connections_is_active",
                    Connections::Table,
                    [Connections::IsActive],
                ),
                index(
                    "ix_connections_org_type",
                    Connections::Table,
                    [Connections::OrganizationId, Connections::ConnectionType],
                ),
                index(
                    "ix_connections_org_type_default",
                    Connections::Table,
                    [
                        Connections::OrganizationId,
                        Connections::ConnectionType,
                        Connections::IsDefault,
                    ],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Connections::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
