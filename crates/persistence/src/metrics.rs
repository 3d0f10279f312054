//! Names of the metrics this layer records through the `metrics` facade;
//! whoever installs a recorder (the web layer's `/metrics`) renders them.

/// Histogram, seconds: how long a write waited for its turn at the SQLite write gate.
pub const WRITE_GATE_WAIT: &str = "curatore_sqlite_write_gate_wait_seconds";
/// Counter: requests for a pooled connection that gave up after `DB_CONNECT_TIMEOUT_SECONDS`.
pub const POOL_TIMEOUTS: &str = "curatore_db_pool_acquire_timeouts_total";
/// Counter, by `status` (`success`, `failure`): audit entries inserted (an
/// entry inside a transaction that is later rolled back is counted too).
pub const AUDIT_ENTRIES: &str = "curatore_audit_entries_total";
