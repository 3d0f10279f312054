//! Composite indexes for the lists that page by `(created_at, id)`: one
//! organization's API keys and connections, and the organizations
//! themselves, so a page is an index range read, not a sort of every row.

use crate::columns::{create_indexes, index};
use sea_orm_migration::prelude::*;

/// Adds `ix_api_keys_org_created_id`, `ix_connections_org_created_id` and
/// `ix_organizations_created_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    OrganizationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    OrganizationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    CreatedAt,
}

const KEYS: &str = "ix_api_keys_org_created_id";
const CONNECTIONS: &str = "ix_connections_org_created_id";
const ORGANIZATIONS: &str = "ix_organizations_created_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(
            manager,
            vec![
                index(
                    KEYS,
                    ApiKeys::Table,
                    [ApiKeys::OrganizationId, ApiKeys::CreatedAt, ApiKeys::Id],
                ),
                index(
                    CONNECTIONS,
                    Connections::Table,
                    [
                        Connections::OrganizationId,
                        Connections::CreatedAt,
                        Connections::Id,
                    ],
                ),
                index(
                    ORGANIZATIONS,
                    Organizations::Table,
                    [Organizations::CreatedAt, Organizations::Id],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(KEYS).table(ApiKeys::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(CONNECTIONS)
                    .table(Connections::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(ORGANIZATIONS)
                    .table(Organizations::Table)
                    .to_owned(),
            )
            .await
    }
}
