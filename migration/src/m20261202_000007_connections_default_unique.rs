//! `connections`: at most one default per organization and type, enforced by
//! the database (a partial unique index, on PostgreSQL and SQLite alike), and
//! the columns of managed connections (`is_managed`, `managed_by`): those
//! created from environment variables at start-up.
//!
//! Rows that already break the rule (the Python system set defaults without a
//! transaction) are repaired first: the most recently updated default of each
//! organization and type stays the default.

use crate::columns::{boolean, varchar_null};
use sea_orm_migration::prelude::*;

/// Adds `ux_connections_org_type_default`, `is_managed` and `managed_by`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connections {
    Table,
    IsManaged,
    ManagedBy,
}

const NAME: &str = "ux_connections_org_type_default";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Connections::Table)
                    .add_column(boolean(Connections::IsManaged, false))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Connections::Table)
                    .add_column(varchar_null(Connections::ManagedBy, 255))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE connections SET is_default = FALSE \
             WHERE is_default AND EXISTS (SELECT 1 FROM connections AS newer \
               WHERE newer.organization_id = connections.organization_id \
                 AND newer.connection_type = connections.connection_type \
                 AND newer.is_default \
                 AND (newer.updated_at > connections.updated_at \
                      OR (newer.updated_at = connections.updated_at AND newer.id > connections.id)))",
        )
        .await?;
        // Partial indexes are written out: both engines take the same text.
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX {NAME} ON connections (organization_id, connection_type) \
             WHERE is_default"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Connections::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Connections::ManagedBy, Connections::IsManaged] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Connections::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
