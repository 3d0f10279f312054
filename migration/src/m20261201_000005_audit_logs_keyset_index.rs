//! `audit_logs`: a composite index on `(organization_id, created_at, id)`, so
//! one organization's trail can be paged newest first by keyset at any depth.

use crate::columns::{create_indexes, index};
use sea_orm_migration::prelude::*;

/// Adds `ix_audit_logs_org_created_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    Id,
    OrganizationId,
    CreatedAt,
}

const NAME: &str = "ix_audit_logs_org_created_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(
            manager,
            vec![index(
                NAME,
                AuditLogs::Table,
                [
                    AuditLogs::OrganizationId,
                    AuditLogs::CreatedAt,
                    AuditLogs::Id,
                ],
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(AuditLogs::Table).to_owned())
            .await
    }
}
