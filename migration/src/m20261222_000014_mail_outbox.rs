//! `mail_outbox`: mail waiting to be delivered, written in the same
//! transaction as the invitation or password reset it belongs to, so a
//! request never waits for an SMTP server and nothing is lost by a restart.
//! A worker claims due rows (`claimed_until`), sends them, and marks them
//! `sent`, or after a failure schedules the next attempt (`next_attempt_at`,
//! exponential backoff) until it gives up (`failed`). The one-time token a
//! mail carries lives in `payload` only until the mail is sent or given up.
//!
//! `users` gains `invitation_sent_at` (when the invitation mail was
//! accepted by the SMTP server) and `last_mail_error` (why the last mail to
//! the user could not be delivered; cleared by a delivery).

use crate::columns::{
    create_indexes, foreign_key, index, json, text_null, timestamp, timestamp_now, timestamp_null,
    uuid, uuid_null, uuid_pk, varchar, varchar_default,
};
use sea_orm_migration::prelude::*;

/// Creates `mail_outbox` and adds the two user columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    OrganizationId,
    UserId,
    Kind,
    Recipient,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    InvitationSentAt,
    LastMailError,
}

const DUE: &str = "ix_mail_outbox_status_next_attempt_at";
const USER: &str = "ix_mail_outbox_user_id";
const ORGANIZATION: &str = "ix_mail_outbox_organization_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(uuid_pk(MailOutbox::Id))
                    .col(uuid(MailOutbox::OrganizationId))
                    .col(uuid_null(MailOutbox::UserId))
                    .col(varchar(MailOutbox::Kind, 30))
                    .col(varchar(MailOutbox::Recipient, 255))
                    .col(json(MailOutbox::Payload))
                    .col(varchar_default(MailOutbox::Status, 20, "queued"))
                    .col(
                        ColumnDef::new(MailOutbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0)
                            .take(),
                    )
                    .col(timestamp(MailOutbox::NextAttemptAt))
                    .col(timestamp_null(MailOutbox::ClaimedUntil))
                    .col(text_null(MailOutbox::LastError))
                    .col(timestamp_now(MailOutbox::CreatedAt, backend))
                    .col(timestamp_null(MailOutbox::SentAt))
                    .foreign_key(&mut foreign_key(
                        "fk_mail_outbox_organization_id",
                        (MailOutbox::Table, MailOutbox::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_mail_outbox_user_id",
                        (MailOutbox::Table, MailOutbox::UserId),
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
                    DUE,
                    MailOutbox::Table,
                    [MailOutbox::Status, MailOutbox::NextAttemptAt],
                ),
                index(USER, MailOutbox::Table, [MailOutbox::UserId]),
                index(
                    ORGANIZATION,
                    MailOutbox::Table,
                    [MailOutbox::OrganizationId],
                ),
            ],
        )
        .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            timestamp_null(Users::InvitationSentAt),
            text_null(Users::LastMailError),
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Users::LastMailError, Users::InvitationSentAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await
    }
}
