//! `BACKUP_SCHEDULE` inside the server: a background task that backs the
//! database up when due, keeps `BACKUP_KEEP` archives in `BACKUP_DIR`, and
//! records every run (audit entry, metrics). A failed run is logged,
//! counted and tried again when next due; it never holds a request up (the
//! copy is a read on one pooled connection, the file work runs on blocking
//! threads).

use crate::dir::{BackupDir, archives_in, prepare};
use crate::error::BackupError;
use crate::{BackupSource, Created, create};
use chrono::{DateTime, Utc};
use curatore_config::Settings;
use curatore_domain::Schedule;
use curatore_service::{BackupFailure, BackupRun, BackupTrigger, Operator};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// When, where, and how many: `BACKUP_SCHEDULE`, `BACKUP_DIR`, `BACKUP_KEEP`.
#[derive(Debug, Clone)]
pub struct SchedulePlan {
    /// When backups are due.
    pub schedule: Schedule,
    /// Where archives go.
    pub dir: PathBuf,
    /// How many archives to keep.
    pub keep: u32,
}

impl SchedulePlan {
    /// The plan the settings describe; `None` without `BACKUP_SCHEDULE`
    /// (or with PostgreSQL, which the settings refuse anyway).
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        Some(Self {
            schedule: settings.backup_schedule.clone()?,
            dir: settings.backup_dir()?,
            keep: settings.backup_keep.max(1),
        })
    }
}

/// The scheduled backups, running in the background; they stop when this
/// is dropped (a backup under way is abandoned and its leftovers removed by
/// the next one).
#[derive(Debug)]
pub struct ScheduledBackups {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScheduledBackups {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The longest single sleep: the clock is looked at again at least this
/// often, so a cron time is met even if the wall clock jumps.
const TICK: Duration = Duration::from_secs(30);

/// Starts backing `source` up as `plan` says, recording each run through
/// `operator`. `plan.dir` is created (mode 0700) and checked now, so a
/// folder that cannot be used stops the start rather than the first backup.
/// Must be called inside a Tokio runtime.
///
/// When due: an interval runs one interval after the newest archive in the
/// folder (right away when there is none, or it is overdue) and then one
/// interval after each attempt; a cron expression runs at its next time
/// after the newest archive, so a time missed while the server was down is
/// made up at once, then at each next time.
///
/// # Errors
/// When the folder cannot be created or written to.
pub fn schedule(
    operator: Operator,
    source: BackupSource,
    plan: SchedulePlan,
) -> Result<ScheduledBackups, BackupError> {
    prepare(&plan.dir)?;
    let newest = archives_in(&plan.dir)
        .map_err(BackupError::io(format!(
            "cannot list {}",
            plan.dir.display()
        )))?
        .into_iter()
        .next();
    tracing::info!(
        schedule = %plan.schedule,
        dir = %plan.dir.display(),
        keep = plan.keep,
        "Backups: {} into {}, keeping {}",
        plan.schedule,
        plan.dir.display(),
        plan.keep
    );
    let task = tokio::spawn(async move {
        // The metrics recorder is in place once the server runs.
        if let Some(found) = &newest {
            use curatore_service::metrics::{BACKUP_LAST_SIZE, BACKUP_LAST_SUCCESS};
            metrics::gauge!(BACKUP_LAST_SUCCESS).set(found.taken_at.timestamp() as f64);
            metrics::gauge!(BACKUP_LAST_SIZE).set(found.bytes as f64);
        }
        let mut last = newest.map(|found| found.taken_at);
        loop {
            let due = due_after(&plan.schedule, last, Utc::now());
            tracing::info!(due = %due.to_rfc3339(), "Next backup due at {}", due.to_rfc3339());
            sleep_until(due).await;
            last = Some(Utc::now());
            run_once(&operator, &source, &plan).await;
        }
    });
    Ok(ScheduledBackups { task })
}

/// When the next backup is due, given the last one (or attempt).
fn due_after(
    schedule: &Schedule,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let due = match (last, schedule.interval()) {
        (Some(last), _) => schedule.next_after(last),
        (None, Some(_)) => Some(now),
        (None, None) => schedule.next_after(now),
    };
    // Validated schedules always have a next time; never spin if not.
    due.unwrap_or(now + chrono::Duration::days(1)).max(now)
}

async fn sleep_until(due: DateTime<Utc>) {
    loop {
        let left = (due - Utc::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(TICK)).await;
    }
}

/// One backup, if this process gets the folder: of several servers backing
/// up into one folder, the one holding its lock does it and the others skip.
async fn run_once(operator: &Operator, source: &BackupSource, plan: &SchedulePlan) {
    let started = Instant::now();
    let instance = match source.database().try_lock_instances("backup").await {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            tracing::info!("Backup skipped: another instance is making one");
            return;
        }
        Err(e) => {
            let err = BackupError::db("cannot take the backup lock")(e);
            finish(operator, plan, started, Err(err)).await;
            return;
        }
    };
    let outcome = match BackupDir::try_lock(&plan.dir) {
        Ok(Some(dir)) => create(source, &dir, None).await.map(|c| (c, dir)),
        Ok(None) => {
            tracing::info!(dir = %plan.dir.display(), "Backup skipped: another backup is writing into BACKUP_DIR");
            let _ = instance.release().await;
            return;
        }
        Err(e) => Err(e),
    };
    let outcome = match outcome {
        Ok((created, dir)) => {
            if let Err(e) = dir.prune(plan.keep) {
                tracing::warn!("cannot delete old backups (BACKUP_KEEP={}): {e}", plan.keep);
            }
            Ok(created)
        }
        Err(e) => Err(e),
    };
    finish(operator, plan, started, outcome).await;
    if let Err(e) = instance.release().await {
        tracing::warn!("cannot release the backup lock: {e}");
    }
}

async fn finish(
    operator: &Operator,
    plan: &SchedulePlan,
    started: Instant,
    outcome: Result<Created, BackupError>,
) {
    if let Err(e) = &outcome {
        tracing::warn!(
            reason = e.reason(),
            dir = %plan.dir.display(),
            "Backup failed ({}); trying again when the next is due: {e}",
            e.reason()
        );
    }
    let run = BackupRun {
        trigger: BackupTrigger::Schedule,
        took: started.elapsed(),
        outcome: outcome
            .as_ref()
            .map(Created::made)
            .map_err(|e| BackupFailure {
                reason: e.reason(),
                message: e.to_string(),
            }),
    };
    if let Err(e) = operator.record_backup(&run).await {
        tracing::warn!("cannot write the backup_created audit entry: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn runs_are_due_from_the_last_one_and_missed_ones_are_made_up() {
        let now = at("2026-03-10T12:00:00Z");
        let every = Schedule::parse("6h").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due_after(&every, None, now), now, "nothing yet: right away");
        assert_eq!(
            due_after(&every, Some(at("2026-03-10T10:00:00Z")), now),
            at("2026-03-10T16:00:00Z")
        );
        assert_eq!(
            due_after(&every, Some(at("2026-03-09T10:00:00Z")), now),
            now,
            "overdue: now"
        );
        let nightly = Schedule::parse("0 3 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due_after(&nightly, None, now), at("2026-03-11T03:00:00Z"));
        assert_eq!(
            due_after(&nightly, Some(at("2026-03-09T03:00:01Z")), now),
            now,
            "this morning's 03:00 was missed: made up now"
        );
        assert_eq!(
            due_after(&nightly, Some(at("2026-03-10T03:00:01Z")), now),
            at("2026-03-11T03:00:00Z")
        );
    }
}
