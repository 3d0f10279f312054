//! How many client connections the server holds at once.
//!
//! Every connection is a file descriptor. With the usual soft limit of 1,024
//! open files, 1,100 clients that each sent headers and one byte of their
//! body (issue 7) made `accept` fail with `EMFILE`: actix-server then pauses
//! accepting, so `/livez` was unreachable, and the database pool and SQLite
//! could not open files either. So at start-up the soft limit is raised to
//! the hard limit (as Go's runtime and nginx's `worker_rlimit_nofile` do), and
//! actix's per-worker connection cap is set below what the limit leaves after
//! the database's share: when the cap is reached, new connections wait in the
//! listen backlog instead of taking the descriptors the pool needs. Slow
//! clients themselves are bounded by `REQUEST_TIMEOUT_SECONDS` (headers:
//! actix; body: `curatore_web`), keep-alive by actix's 5 s.

use std::num::NonZeroUsize;

/// actix-server's own per-worker cap, kept when descriptors are plentiful.
const ACTIX_DEFAULT_PER_WORKER: usize = 25_600;

/// The most descriptors we ask for, whatever the hard limit: Linux refuses
/// more than `fs.nr_open` (1,048,576 by default).
const MAX_OPEN_FILES: u64 = 1 << 20;

/// Descriptors kept for everything but client connections: the listener, the
/// log, the runtime's own, and slack.
const RESERVED_FOR_PROCESS: u64 = 64;

/// Descriptors one database connection may hold: a socket, or for SQLite the
/// database file with its `-wal` and `-shm` files.
const PER_DATABASE_CONNECTION: u64 = 3;

/// The outcome, for the start-up log and `HttpServer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// Worker threads (as actix would choose: one per available core).
    pub workers: usize,
    /// Connections each worker holds at most (`HttpServer::max_connections`).
    pub per_worker: usize,
    /// The open-file soft limit in force, if known.
    pub open_files: Option<u64>,
    /// The soft limit before we raised it, if we did.
    pub raised_from: Option<u64>,
}

/// Raises the open-file limit as far as allowed and divides it among the
/// workers, leaving room for `database_connections`.
pub fn prepare(database_connections: u32) -> ConnectionBudget {
    let workers = std::thread::available_parallelism()
        .map_or(2, NonZeroUsize::get)
        .min(512);
    let (open_files, raised_from) = raise_open_file_limit();
    ConnectionBudget {
        workers,
        per_worker: per_worker(open_files, workers, database_connections),
        open_files,
        raised_from,
    }
}

/// Connections per worker that fit in `open_files` after the reserve.
fn per_worker(open_files: Option<u64>, workers: usize, database_connections: u32) -> usize {
    let Some(limit) = open_files else {
        return ACTIX_DEFAULT_PER_WORKER;
    };
    let reserved = RESERVED_FOR_PROCESS + PER_DATABASE_CONNECTION * u64::from(database_connections);
    let for_clients = limit.saturating_sub(reserved);
    let per_worker = for_clients / workers.max(1) as u64;
    usize::try_from(per_worker)
        .unwrap_or(usize::MAX)
        .clamp(1, ACTIX_DEFAULT_PER_WORKER)
}

/// Sets the soft `RLIMIT_NOFILE` to the hard one (at most [`MAX_OPEN_FILES`]);
/// returns the soft limit now in force and, if raised, the one before.
#[cfg(unix)]
fn raise_open_file_limit() -> (Option<u64>, Option<u64>) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let target = before.maximum.unwrap_or(MAX_OPEN_FILES).min(MAX_OPEN_FILES);
    match before.current {
        Some(soft) if soft < target => {
            let raised = Rlimit {
                current: Some(target),
                maximum: before.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => (Some(target), Some(soft)),
                Err(e) => {
                    tracing::warn!(
                        "could not raise the open-file limit from {soft} to {target}: {e}"
                    );
                    (Some(soft), None)
                }
            }
        }
        current => (current.or(Some(MAX_OPEN_FILES)), None),
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> (Option<u64>, Option<u64>) {
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_shared_by_the_workers_after_the_database() {
        // 1,024 descriptors, 2 workers, 60 database connections.
        assert_eq!(per_worker(Some(1024), 2, 60), (1024 - 64 - 180) / 2);
        // Plenty: actix's own cap.
        assert_eq!(per_worker(Some(1 << 20), 2, 60), ACTIX_DEFAULT_PER_WORKER);
        assert_eq!(per_worker(None, 4, 60), ACTIX_DEFAULT_PER_WORKER);
        // Starved: still one connection per worker, so the server serves.
        assert_eq!(per_worker(Some(100), 2, 60), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let (soft, _) = raise_open_file_limit();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(soft, now.current.or(Some(MAX_OPEN_FILES)));
        let hard = now.maximum.unwrap_or(MAX_OPEN_FILES).min(MAX_OPEN_FILES);
        assert!(now.current.is_none_or(|c| c >= hard), "{now:?}");
    }
}
