//! `system_settings` (global configuration) and `audit_logs` (who did what).

use crate::columns::{
    boolean, create_indexes, foreign_key, index, json, json_null, text_null, timestamp_now,
    unique_index, uuid_null, uuid_pk, varchar, varchar_null,
};
use sea_orm_migration::prelude::*;

/// Creates `system_settings` and `audit_logs` with their indexes and foreign keys.
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
enum SystemSettings {
    Table,
    Id,
    Key,
    Value,
    Description,
    IsPublic,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    Id,
    OrganizationId,
    UserId,
    Action,
    EntityType,
    EntityId,
    Details,
    IpAddress,
    UserAgent,
    Status,
    ErrorMessage,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(SystemSettings::Table)
                    .col(uuid_pk(SystemSettings::Id))
                    .col(varchar(SystemSettings::Key, 255))
                    .col(json(SystemSettings::Value))
                    .col(text_null(SystemSettings::Description))
                    .col(boolean(SystemSettings::IsPublic, false))
                    .col(timestamp_now(SystemSettings::CreatedAt, backend))
                    .col(timestamp_now(SystemSettings::UpdatedAt, backend))
                    .take(),
            )
            .await?;
        create_indexes(
            manager,
            vec![unique_index(
                "ix_system_settings_key",
                SystemSettings::Table,
                [SystemSettings::Key],
            )],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLogs::Table)
                    .col(uuid_pk(AuditLogs::Id))
                    .col(uuid_null(AuditLogs::OrganizationId))
                    .col(uuid_null(AuditLogs::UserId))
                    .col(varchar(AuditLogs::Action, 100))
                    .col(varchar_null(AuditLogs::EntityType, 50))
                    .col(uuid_null(AuditLogs::EntityId))
                    .col(json_null(AuditLogs::Details))
                    .col(varchar_null(AuditLogs::IpAddress, 45))
                    .col(text_null(AuditLogs::UserAgent))
                    .col(varchar(AuditLogs::Status, 20))
                    .col(text_null(AuditLogs::ErrorMessage))
                    .col(timestamp_now(AuditLogs::CreatedAt, backend))
                    .foreign_key(&mut foreign_key(
                        "fk_audit_logs_organization_id",
                        (AuditLogs::Table, AuditLogs::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_audit_logs_user_id",
                        (AuditLogs::Table, AuditLogs::UserId),
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
                    "ix_audit_logs_organization_id",
                    AuditLogs::Table,
                    [AuditLogs::OrganizationId],
                ),
                index(
                    "ix_audit_logs_user_id",
                    AuditLogs::Table,
                    [AuditLogs::UserId],
                ),
                index(
                    "ix_audit_logs_action",
                    AuditLogs::Table,
                    [AuditLogs::Action],
                ),
                index(
                    "ix_audit_logs_entity_type",
                    AuditLogs::Table,
                    [AuditLogs::EntityType],
                ),
                index(
                    "ix_audit_logs_created_at",
                    AuditLogs::Table,
                    [AuditLogs::CreatedAt],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLogs::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(SystemSettings::Table).take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
