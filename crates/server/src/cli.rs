//! The command line: which command, with which arguments. Each command is
//! one call into the library.

use clap::{Parser, Subcommand};
use curatore_config::Settings;
#[cfg(feature = "sqlite")]
use curatore_server::backup;
use curatore_server::{Curatore, StartError as Failure, commands, logging};

/// Curatore's API server: multi-tenant organizations, users, API keys,
/// connections, settings and an audit trail over SQLite or PostgreSQL.
///
/// Configuration comes from built-in defaults, `config/default.toml`,
/// `config/<CURATORE_ENV>.toml`, a `.env` file and the environment, in that
/// order (see docs/configuration.md). `curatore-server config` shows the result.
#[derive(Debug, Parser)]
#[command(name = "curatore-server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connect, migrate, seed and serve HTTP until SIGINT or SIGTERM (the default).
    Serve,
    /// Create the default organization and its admin if no organization exists, then exit.
    Seed,
    /// Print the effective configuration, where each value came from, secrets redacted.
    Config,
    /// Audit-trail maintenance.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Connections to outside services.
    Connections {
        #[command(subcommand)]
        action: ConnectionsCommand,
    },
    /// Write one organization (users, API key metadata, connections) as JSON, then exit.
    Export {
        /// The organization's slug.
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// Seal connection secrets under CURATORE_EXPORT_PASSPHRASE instead of redacting them.
        #[arg(long)]
        include_secrets: bool,
        /// Include users' password hashes and API keys' hashes.
        #[arg(long)]
        include_password_hashes: bool,
        /// Write to this file (mode 0600) instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Restore an organization from an `export` file (idempotent), then exit.
    Import {
        /// The export file.
        file: std::path::PathBuf,
    },
    /// Back the SQLite database up into one archive while the server runs
    /// (`backup verify FILE` checks an archive), then exit.
    #[cfg(feature = "sqlite")]
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        action: Option<BackupCommand>,
        /// Write the archive to this file, or into this folder, instead of BACKUP_DIR.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Replace the SQLite database with the one in a backup archive (the
    /// server must be stopped; the previous database is kept beside it), then exit.
    #[cfg(feature = "sqlite")]
    Restore {
        /// The archive.
        file: std::path::PathBuf,
        /// Restore even if the connection secrets do not open with the key
        /// the server will use (they must then be set again).
        #[arg(long)]
        allow_unreadable_secrets: bool,
    },
    /// The keys that encrypt connection secrets.
    Secrets {
        #[command(subcommand)]
        action: SecretsCommand,
    },
}

#[cfg(feature = "sqlite")]
#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Check an archive (checksums, integrity, secrets against its key)
    /// without touching the database, then exit.
    Verify {
        /// The archive.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConnectionsCommand {
    /// Create, update or deactivate the default organization's managed
    /// connections from OPENAI_*, EXTRACTION_SERVICE_* and MS_*, then exit.
    ImportEnv,
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Re-encrypt every stored secret under the first SECRETS_ENCRYPTION_KEY key, then exit.
    Rotate {
        /// Connections per transaction.
        #[arg(long, default_value_t = 100)]
        batch_size: u64,
        /// Continue after this connection id (printed by an interrupted run).
        #[arg(long, value_name = "ID")]
        resume_after: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Delete audit entries older than a number of days (in batches), then exit.
    Purge {
        /// Days to keep; defaults to AUDIT_RETENTION_DAYS.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u32>,
    },
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let loaded = Settings::load()?;
    let command = cli.command.unwrap_or(Command::Serve);
    // Standard output carries `export`'s document, a backup's path or a
    // restore's summary: their logs go to standard error.
    let to_stderr = match command {
        Command::Export { .. } => true,
        #[cfg(feature = "sqlite")]
        Command::Backup { .. } | Command::Restore { .. } => true,
        _ => false,
    };
    let settings = &match command {
        Command::Config => {
            commands::print_config(&loaded);
            return Ok(());
        }
        _ => logging::init_loaded(&loaded, to_stderr)?,
    };
    match command {
        Command::Config | Command::Serve => Curatore::build(settings).await?.serve().await,
        Command::Seed => commands::seed(settings).await,
        Command::Audit {
            action: AuditCommand::Purge { older_than },
        } => commands::purge_audit(settings, older_than).await,
        Command::Connections {
            action: ConnectionsCommand::ImportEnv,
        } => commands::import_env(settings).await,
        Command::Secrets {
            action:
                SecretsCommand::Rotate {
                    batch_size,
                    resume_after,
                },
        } => commands::rotate_secrets(settings, batch_size, resume_after).await,
        Command::Export {
            org,
            include_secrets,
            include_password_hashes,
            output,
        } => {
            let request = commands::ExportRequest {
                slug: org,
                include_secrets,
                include_password_hashes,
                output,
            };
            commands::export(settings, request).await
        }
        Command::Import { file } => commands::import(settings, &file).await,
        #[cfg(feature = "sqlite")]
        Command::Backup { action, output } => match action {
            None => backup::backup(settings, output).await,
            Some(BackupCommand::Verify { file }) => backup::verify(settings, &file).await,
        },
        #[cfg(feature = "sqlite")]
        Command::Restore {
            file,
            allow_unreadable_secrets,
        } => backup::restore(settings, &file, allow_unreadable_secrets).await,
    }
}
