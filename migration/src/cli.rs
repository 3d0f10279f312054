//! The `curatore-migrate` command line: parse arguments with [`Cli`], then
//! hand them to [`run`].
//!
//! Without `--database-url` the database is the one the server would use:
//! `DATABASE_URL` resolved by `curatore-config` (environment, `.env` and
//! configuration files, with the same defaults). Output never shows a
//! password: URLs are printed redacted.

use crate::adopt::{Adoption, Report};
use clap::{Parser, Subcommand};
use curatore_auth::SecretBox;
use curatore_config::{
    KeyFileMode, ResolvedSecretKeys, SecretKeys, SecretKeysError, SecretKeysOrigin,
    resolve_secret_keys,
};
use curatore_domain::{DatabaseUrl, DomainError};
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{DatabaseConnection, DbErr, RuntimeErr};
use std::io::Write;

use crate::connect::{connect, connect_for_adoption};
use crate::{MigrationStatus, Migrator, latest_migration_name};

/// Command-line arguments of `curatore-migrate`.
#[derive(Debug, Parser)]
#[command(
    name = "curatore-migrate",
    version,
    about = "Apply and roll back Curatore's database migrations",
    after_help = "Without --database-url the database is DATABASE_URL as the server resolves it \
                  (environment, .env, configuration files)."
)]
pub struct Cli {
    /// The database to migrate (sqlite://path or postgres://…), instead of the configured DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; the aliases are the Alembic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply pending migrations: all of them, or the next N (Alembic: `upgrade head`).
    #[command(visible_alias = "upgrade")]
    Up {
        /// Apply only the next N pending migrations.
        #[arg(short = 'n', long = "num", value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..))]
        num: Option<u32>,
    },
    /// Roll back the newest applied migration, or the newest N (Alembic: `downgrade -1`).
    #[command(visible_alias = "downgrade")]
    Down {
        /// How many applied migrations to roll back.
        #[arg(short = 'n', long = "num", value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..))]
        num: u32,
    },
    /// List every migration as applied or pending, with the head and the current version
    /// (Alembic: `current`, `history`).
    #[command(visible_aliases = ["current", "history"])]
    Status,
    /// Drop every table in the database, then apply all migrations.
    Fresh,
    /// Roll back every applied migration, then apply all migrations.
    Refresh,
    /// Roll back every applied migration (Alembic: `downgrade base`).
    Reset,
    /// Take over a database made by the original Python server: check its
    /// schema and every value, convert it to ours, seal its connection
    /// secrets (with SECRETS_ENCRYPTION_KEY, or SQLite's key file, as the
    /// server does) and record our migrations, in one transaction. Does
    /// nothing on a database that already has our history.
    Adopt {
        /// Check the schema and every value and print the plan; open the
        /// database read-only and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Why a command failed. `Display` is one line, fit for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `--database-url` was given but is not a database URL Curatore accepts.
    #[error("{0} (given with --database-url)")]
    InvalidUrl(#[source] DomainError),
    /// The configuration (and with it `DATABASE_URL`) could not be loaded.
    #[error("cannot load the configuration: {0}")]
    Config(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the database at {url} (DATABASE_URL): {source}")]
    Connect {
        /// The redacted URL.
        url: String,
        /// What the driver said.
        #[source]
        source: DbErr,
    },
    /// A migration, or reading the migration history, failed.
    #[error("{action} failed on {url}: {source}")]
    Migration {
        /// What was being done (`up`, `status`, …).
        action: &'static str,
        /// The redacted URL.
        url: String,
        /// What the database said.
        #[source]
        source: DbErr,
    },
    /// Adoption refused (schema not the original's) or failed (rolled back).
    #[error("adopt on {url}: {source}")]
    Adopt {
        /// The redacted URL.
        url: String,
        /// What went wrong.
        #[source]
        source: crate::adopt::AdoptError,
    },
    /// The keys that seal connection secrets could not be had.
    #[error("{0}")]
    SecretKeys(#[from] SecretKeysError),
    /// Writing the report failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs one command and writes a short report to `out`.
///
/// # Errors
/// [`CliError`] when the URL or configuration is invalid, the database cannot
/// be reached, a migration fails, or `out` cannot be written.
pub async fn run<W: Write>(cli: Cli, out: &mut W) -> Result<(), CliError> {
    let url = resolve_database_url(cli.database_url.as_deref())?;
    if let Command::Adopt { dry_run } = cli.command {
        return adopt(&url, dry_run, out).await;
    }
    let db = connect(&url).await.map_err(|source| CliError::Connect {
        url: url.redacted(),
        source,
    })?;
    let result = execute(cli.command, &db, &url, out).await;
    let _ = db.close().await;
    result
}

/// The database to migrate: `flag` when given (the `--database-url` option),
/// otherwise `DATABASE_URL` as the server resolves it through `curatore-config`.
///
/// # Errors
/// [`CliError::InvalidUrl`] when `flag` is not an accepted URL;
/// [`CliError::Config`] when the configuration cannot be loaded.
pub fn resolve_database_url(flag: Option<&str>) -> Result<DatabaseUrl, CliError> {
    match flag {
        Some(raw) => DatabaseUrl::parse(raw).map_err(CliError::InvalidUrl),
        None => configured_database_url(),
    }
}

fn configured_database_url() -> Result<DatabaseUrl, CliError> {
    Ok(configured_settings()?.database_url)
}

fn configured_settings() -> Result<curatore_config::Settings, CliError> {
    let loaded = curatore_config::Settings::load().map_err(|e| CliError::Config(e.to_string()))?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(loaded.settings)
}

/// The keys that would seal secrets, looked at without making anything,
/// and a description of where they come from. With SQLite and no key file
/// yet, a key that exists only in memory stands for the file adoption will
/// make: a dry run seals nothing with it.
fn keys_for_check(
    configured: Option<&SecretKeys>,
    url: &DatabaseUrl,
) -> Result<(Option<SecretBox>, String), CliError> {
    match resolve_secret_keys(configured, url, KeyFileMode::ReadOnly)? {
        Some(resolved) => Ok((Some(secret_box(&resolved)?), resolved.origin.to_string())),
        None => match url.sqlite_path() {
            Some(path) => {
                let stand_in = SecretBox::new([("k1", SecretBox::generate_key())])
                    .map_err(|e| CliError::Config(e.to_string()))?;
                let file = curatore_config::key_file_for(path);
                Ok((
                    Some(stand_in),
                    format!("a new key file {} (made when adopting)", file.display()),
                ))
            }
            None => Ok((None, "no key".to_owned())),
        },
    }
}

/// One adoption on its own connection: `check_only` opens the database
/// read-only and changes nothing. `None` when there is no database file.
async fn adopt_once(
    url: &DatabaseUrl,
    check_only: bool,
    secrets: Option<&SecretBox>,
) -> Result<Option<Report>, CliError> {
    let db = connect_for_adoption(url, check_only)
        .await
        .map_err(|source| CliError::Connect {
            url: url.redacted(),
            source,
        })?;
    let Some(db) = db else {
        return Ok(None);
    };
    let done = crate::adopt::adopt(
        &db,
        Adoption {
            dry_run: check_only,
            secrets,
        },
    )
    .await;
    let _ = db.close().await;
    done.map(Some).map_err(|source| CliError::Adopt {
        url: url.redacted(),
        source,
    })
}

fn secret_box(resolved: &ResolvedSecretKeys) -> Result<SecretBox, CliError> {
    SecretBox::new(
        resolved
            .keys
            .keys()
            .iter()
            .map(|(id, key)| (id.clone(), *key)),
    )
    .map_err(|e| CliError::Config(format!("SECRETS_ENCRYPTION_KEY: {e}")))
}

/// `adopt`: first every check on a read-only connection (a refusal changes
/// nothing, not even the journal mode); then, unless a dry run, the key
/// (made beside a SQLite database when needed, as the server would) and
/// the adoption itself, in one transaction.
async fn adopt<W: Write>(url: &DatabaseUrl, dry_run: bool, out: &mut W) -> Result<(), CliError> {
    writeln!(out, "database {} ({})", url.redacted(), url.kind())?;
    let configured = configured_settings()?.secrets_encryption_key;
    let (stand_in, origin) = keys_for_check(configured.as_ref(), url)?;
    let Some(plan) = adopt_once(url, true, stand_in.as_ref()).await? else {
        writeln!(out, "nothing to adopt: there is no database file")?;
        return Ok(());
    };
    if dry_run || !plan.adopted {
        return print_adoption(&plan, dry_run, &origin, out);
    }
    let resolved = if plan.secrets_sealed > 0 {
        resolve_secret_keys(configured.as_ref(), url, KeyFileMode::CreateIfMissing)?
    } else {
        None
    };
    let secrets = resolved.as_ref().map(secret_box).transpose()?;
    let origin = resolved
        .as_ref()
        .map_or_else(|| "no key".to_owned(), |r| r.origin.to_string());
    let report = adopt_once(url, false, secrets.as_ref())
        .await?
        .ok_or_else(|| CliError::Connect {
            url: url.redacted(),
            source: DbErr::Conn(RuntimeErr::Internal(
                "the database file went away".to_owned(),
            )),
        })?;
    if let Some(ResolvedSecretKeys {
        origin: SecretKeysOrigin::KeyFile { created: true, .. },
        ..
    }) = &resolved
    {
        eprintln!("warning: made {origin}; without it the sealed secrets cannot be opened");
    }
    print_adoption(&report, false, &origin, out)
}

/// Names of the applied migrations, oldest first; never creates the history table.
async fn applied(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_migration_with_status_read_only(db)
        .await?
        .iter()
        .filter(|m| m.status() == MigrationStatus::Applied)
        .map(|m| m.name().to_owned())
        .collect())
}

async fn execute<W: Write>(
    command: Command,
    db: &DatabaseConnection,
    url: &DatabaseUrl,
    out: &mut W,
) -> Result<(), CliError> {
    let action = match command {
        Command::Up { .. } => "up",
        Command::Down { .. } => "down",
        Command::Status => "status",
        Command::Fresh => "fresh",
        Command::Refresh => "refresh",
        Command::Reset => "reset",
        Command::Adopt { .. } => "adopt",
    };
    let failed = |source: DbErr| CliError::Migration {
        action,
        url: url.redacted(),
        source,
    };
    writeln!(out, "database {} ({})", url.redacted(), url.kind())?;

    if command == Command::Status {
        return print_status(db, out).await.map_err(|e| match e {
            StatusError::Db(e) => failed(e),
            StatusError::Io(e) => CliError::Output(e),
        });
    }

    let before = applied(db).await.map_err(failed)?;
    match command {
        Command::Up { num } => Migrator::up(db, num).await,
        Command::Down { num } => Migrator::down(db, Some(num)).await,
        Command::Fresh => Migrator::fresh(db).await,
        Command::Refresh => Migrator::refresh(db).await,
        Command::Reset => Migrator::reset(db).await,
        Command::Status | Command::Adopt { .. } => unreachable!("handled before"),
    }
    .map_err(failed)?;
    let after = applied(db).await.map_err(failed)?;

    match command {
        // Fresh drops tables rather than rolling back; refresh rolls back
        // and reapplies: report the whole of both sides.
        Command::Fresh => {
            writeln!(out, "dropped every table")?;
            report_applied(out, &[], &after)?;
        }
        Command::Refresh => {
            report_rolled_back(out, &before, &[])?;
            report_applied(out, &[], &after)?;
        }
        _ => {
            report_rolled_back(out, &before, &after)?;
            report_applied(out, &before, &after)?;
            if before == after {
                writeln!(out, "nothing to do")?;
            }
        }
    }
    write_current(out, &after)?;
    Ok(())
}

fn print_adoption<W: Write>(
    report: &Report,
    dry_run: bool,
    keys: &str,
    out: &mut W,
) -> Result<(), CliError> {
    if !report.adopted {
        for step in &report.steps {
            writeln!(out, "{step}")?;
        }
        return Ok(());
    }
    let label = if dry_run { "plan" } else { "done" };
    for step in &report.steps {
        writeln!(out, "{label:<12} {step}")?;
    }
    for line in &report.mapped {
        writeln!(out, "mapped       {line}")?;
    }
    let n = report.secrets_sealed;
    if dry_run {
        if n > 0 {
            writeln!(out, "would seal   {n} connection secret(s) with {keys}")?;
        }
        writeln!(out, "dry run: nothing was changed")?;
    } else {
        writeln!(out, "sealed       {n} connection secret(s) with {keys}")?;
        writeln!(out, "adopted: no connection secret is stored in clear")?;
    }
    Ok(())
}

fn report_applied<W: Write>(
    out: &mut W,
    before: &[String],
    after: &[String],
) -> std::io::Result<()> {
    for name in after.iter().filter(|n| !before.contains(n)) {
        writeln!(out, "applied      {name}")?;
    }
    Ok(())
}

fn report_rolled_back<W: Write>(
    out: &mut W,
    before: &[String],
    after: &[String],
) -> std::io::Result<()> {
    for name in before.iter().rev().filter(|n| !after.contains(n)) {
        writeln!(out, "rolled back  {name}")?;
    }
    Ok(())
}

fn write_current<W: Write>(out: &mut W, applied: &[String]) -> std::io::Result<()> {
    let total = Migrator::migrations().len();
    let pending = total - applied.len();
    let state = if pending == 0 {
        "up to date".to_owned()
    } else {
        format!("{pending} of {total} pending")
    };
    match applied.last() {
        Some(name) => writeln!(out, "current      {name} ({state})"),
        None => writeln!(out, "current      none ({state})"),
    }
}

enum StatusError {
    Db(DbErr),
    Io(std::io::Error),
}

async fn print_status<W: Write>(db: &DatabaseConnection, out: &mut W) -> Result<(), StatusError> {
    let migrations = Migrator::get_migration_with_status_read_only(db)
        .await
        .map_err(StatusError::Db)?;
    let mut applied = Vec::new();
    for m in &migrations {
        let label = match m.status() {
            MigrationStatus::Applied => {
                applied.push(m.name().to_owned());
                "applied"
            }
            MigrationStatus::Pending => "pending",
        };
        writeln!(out, "{label:<12} {}", m.name()).map_err(StatusError::Io)?;
    }
    writeln!(out, "head         {}", latest_migration_name()).map_err(StatusError::Io)?;
    write_current(out, &applied).map_err(StatusError::Io)
}
