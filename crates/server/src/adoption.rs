//! A database of the original Python server, at start-up: checked before
//! anything opens it for writing, adopted (values checked, secrets sealed,
//! in one transaction) when `AUTO_MIGRATE` allows; and at every start, any
//! connection secret still in clear is sealed and counted.

use crate::error::StartError as Failure;
use curatore_auth::SecretBox;
use curatore_config::Settings;
use curatore_migration::adopt::{self, AdoptError, Adoption, Finding, Report};
use curatore_persistence::Database;
use curatore_service::Operator;

/// SQLite only, before the pool opens the file (which turns on WAL, a change
/// to the file): an original database that would be refused is refused
/// here, on a read-only connection, so a refused adoption leaves every byte
/// as it was. (On PostgreSQL nothing is written before the check.)
///
/// # Errors
/// [`Failure::Runtime`] with what was found; nothing was changed.
pub(crate) async fn check_before_opening(
    settings: &Settings,
    secrets: Option<&SecretBox>,
) -> Result<(), Failure> {
    if settings.database_url.sqlite_path().is_none() {
        return Ok(());
    }
    let db = curatore_migration::connect::connect_for_adoption(&settings.database_url, true)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot open the database to inspect it: {e}")))?;
    let Some(db) = db else {
        return Ok(());
    };
    let plan = adopt::adopt(
        &db,
        Adoption {
            dry_run: true,
            secrets,
        },
    )
    .await;
    let _ = db.close().await;
    let plan = plan.map_err(refused)?;
    if plan.adopted && !settings.auto_migrate {
        return Err(auto_migrate_off());
    }
    Ok(())
}

/// Adopts a database made by the original server (its tables, none of our
/// history) when `AUTO_MIGRATE` allows, sealing its clear connection
/// secrets with `secrets` in the same transaction. Returns whether it did.
///
/// # Errors
/// [`Failure::Runtime`]: the schema or a value is not what the original
/// writes, there is no key for its secrets, `AUTO_MIGRATE=false`, or the
/// adoption failed (rolled back).
pub(crate) async fn adopt_original(
    settings: &Settings,
    db: &Database,
    secrets: Option<&SecretBox>,
) -> Result<bool, Failure> {
    let conn = db.connection();
    let finding = adopt::inspect(conn)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot inspect the database schema: {e}")))?;
    match finding {
        Finding::NothingToAdopt => return Ok(false),
        Finding::Unexpected(problems) => return Err(refused(AdoptError::Unexpected(problems))),
        Finding::Original if !settings.auto_migrate => return Err(auto_migrate_off()),
        Finding::Original => {}
    }
    tracing::info!("Database made by the original server: adopting it");
    let report = adopt::adopt(
        conn,
        Adoption {
            dry_run: false,
            secrets,
        },
    )
    .await
    .map_err(refused)?;
    log_report(&report);
    Ok(true)
}

fn log_report(report: &Report) {
    for line in &report.mapped {
        tracing::warn!("Adoption stored a value of the original differently: {line}");
    }
    tracing::info!(
        secrets_sealed = report.secrets_sealed,
        values_mapped = report.mapped.len(),
        "Original database adopted ({} connection secrets sealed)",
        report.secrets_sealed
    );
}

fn refused(e: AdoptError) -> Failure {
    Failure::Runtime(match e {
        AdoptError::Unexpected(problems) => format!(
            "the database holds tables of the original server, but not as expected; \
             nothing was changed:\n  {}",
            problems.join("\n  ")
        ),
        other => other.to_string(),
    })
}

fn auto_migrate_off() -> Failure {
    Failure::Runtime(
        "the database was made by the original server and AUTO_MIGRATE=false; \
         back it up and run `curatore-migrate adopt` first"
            .to_owned(),
    )
}

/// At every start: seals the connection secrets found in clear (however
/// they got there) and logs how many; then scrubs the storage so the clear
/// values are gone from the files too. Without a key, warns with the count.
///
/// # Errors
/// When the database fails.
pub(crate) async fn seal_clear_secrets(operator: &Operator, db: &Database) -> Result<(), Failure> {
    let found = operator.seal_clear_secrets().await.map_err(|e| {
        Failure::Runtime(format!(
            "sealing connection secrets stored in clear failed: {e}"
        ))
    })?;
    if found.left_in_clear > 0 {
        tracing::warn!(
            connections = found.left_in_clear,
            "{} connections hold secrets in clear and SECRETS_ENCRYPTION_KEY is not set: \
             set it and restart to seal them",
            found.left_in_clear
        );
    }
    if found.sealed > 0 {
        crate::curatore::scrub(db).await?;
    }
    tracing::info!(
        connections = found.sealed,
        "Connection secrets found in clear at start: {} connections sealed",
        found.sealed
    );
    check_secrets_open(operator).await
}

/// How many stored connections the start-up check tries its keys on.
const SECRETS_CHECK_SAMPLE: u64 = 100;

/// Tries the keys on a sample of the stored secrets, so a wrong
/// `SECRETS_ENCRYPTION_KEY` is said at start (a warning with the count and
/// the connections, never a secret), not found by the first request.
async fn check_secrets_open(operator: &Operator) -> Result<(), Failure> {
    let check = operator
        .check_secrets_open(SECRETS_CHECK_SAMPLE)
        .await
        .map_err(|e| Failure::Runtime(format!("checking the stored secrets failed: {e}")))?;
    if !check.unopenable.is_empty() {
        let ids: Vec<String> = check
            .unopenable
            .iter()
            .map(|id| id.as_uuid().to_string())
            .collect();
        tracing::warn!(
            unopenable = check.unopenable.len(),
            checked = check.checked,
            connections = %ids.join(","),
            "{} of {} connections checked hold secrets that do not open with SECRETS_ENCRYPTION_KEY \
             (a wrong or missing key?): restore the key that sealed them, or send each secret again \
             with PUT /api/v1/connections/{{id}}",
            check.unopenable.len(),
            check.checked
        );
    } else if check.checked > 0 && !check.no_key {
        tracing::info!(
            checked = check.checked,
            "Connection secrets checked at start: every sampled secret opens"
        );
    }
    Ok(())
}
