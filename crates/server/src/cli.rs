use crate::{logging, startup};
use clap::{Parser, Subcommand};
use curatore_config::{ConfigError, LoadedSettings, Settings};
use std::fmt;

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

/// Why the server stopped early.
#[derive(Debug)]
pub enum Failure {
    /// Bad configuration: exit code 2.
    Config(String),
    /// Anything at run time (database unreachable, migration failed, …): exit code 1.
    Runtime(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::Runtime(m) => f.write_str(m),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(err: ConfigError) -> Self {
        Self::Config(err.to_string())
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let loaded = Settings::load()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => {
            print_config(&loaded);
            Ok(())
        }
        Command::Seed => {
            let settings = prepare(&loaded)?;
            startup::seed_only(&settings).await
        }
        Command::Audit {
            action: AuditCommand::Purge { older_than },
        } => {
            let settings = prepare(&loaded)?;
            let days = older_than
                .or(settings.audit_retention_days)
                .ok_or_else(|| {
                    Failure::Config(
                        "--older-than DAYS or AUDIT_RETENTION_DAYS: say how many days to keep"
                            .into(),
                    )
                })?;
            startup::purge_audit(&settings, days).await
        }
        Command::Connections {
            action: ConnectionsCommand::ImportEnv,
        } => {
            let settings = prepare(&loaded)?;
            startup::import_env(&settings).await
        }
        Command::Secrets {
            action:
                SecretsCommand::Rotate {
                    batch_size,
                    resume_after,
                },
        } => {
            let settings = prepare(&loaded)?;
            startup::rotate_secrets(&settings, batch_size, resume_after).await
        }
        Command::Export {
            org,
            include_secrets,
            include_password_hashes,
            output,
        } => {
            // Standard output carries the document; logs go to standard error.
            logging::init_to(&loaded.settings, true)?;
            let settings = prepare(&loaded)?;
            crate::transfer::export(
                &settings,
                crate::transfer::ExportRequest {
                    slug: org,
                    include_secrets,
                    include_password_hashes,
                    output,
                },
            )
            .await
        }
        Command::Import { file } => {
            let settings = prepare(&loaded)?;
            crate::transfer::import(&settings, &file).await
        }
        // Standard output carries the archive's path or the summary.
        Command::Backup { action, output } => {
            logging::init_to(&loaded.settings, true)?;
            let settings = prepare(&loaded)?;
            match action {
                None => crate::backup::backup(&settings, output).await,
                Some(BackupCommand::Verify { file }) => {
                    crate::backup::verify(&settings, &file).await
                }
            }
        }
        Command::Restore {
            file,
            allow_unreadable_secrets,
        } => {
            logging::init_to(&loaded.settings, true)?;
            let settings = prepare(&loaded)?;
            crate::backup::restore(&settings, &file, allow_unreadable_secrets).await
        }
        Command::Serve => {
            let settings = prepare(&loaded)?;
            startup::serve(settings).await
        }
    }
}

/// Sets up logging and reports configuration warnings through it.
fn prepare(loaded: &LoadedSettings) -> Result<Settings, Failure> {
    logging::init(&loaded.settings)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.settings.clone())
}

fn print_config(loaded: &LoadedSettings) {
    let rows = loaded.describe();
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|r| r.value.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for row in rows {
        println!(
            "{:name_width$}  {:value_width$}  ({})",
            row.name, row.value, row.source
        );
    }
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
}
