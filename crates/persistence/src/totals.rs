//! Totals of lists without counting every row on every request.
//!
//! A list page used to count all matching rows each time (100,000 users:
//! the count cost more than the page). Now:
//! - a list is first counted with a cap ([`DatabaseOptions::exact_total_limit`](crate::DatabaseOptions),
//!   10,000 by default): below it the total is exact, and the count never
//!   reads more than that many index entries;
//! - a longer list is counted in full at most once per
//!   [`DatabaseOptions::total_cache_ttl`](crate::DatabaseOptions) (5 s by default) and
//!   the figure is reused meanwhile, marked [`Total::estimated`]. When it
//!   has gone stale, one request recounts while the others keep answering
//!   the previous figure.
//!
//! The cache is per process: another instance's writes show up at the
//! next recount.

use crate::error::Result;
use sea_orm::sea_query::{Expr, SelectStatement};
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect, QueryTrait, Select};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many rows match a list's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    /// The number of rows.
    pub count: u64,
    /// `false`: counted for this request. `true`: a full count taken at
    /// most the cache period ago (the list is too long to count each time);
    /// rows added or removed since are not in it.
    pub estimated: bool,
}

impl Total {
    /// An exact total.
    pub fn exact(count: u64) -> Self {
        Self {
            count,
            estimated: false,
        }
    }
}

/// Beyond this many remembered lists, stale ones are dropped on insert.
const SWEEP_ABOVE: usize = 1_024;

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u64,
    counted_at: Instant,
}

/// The full counts of long lists, by list and filter.
#[derive(Debug)]
pub(crate) struct Totals {
    exact_below: u64,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

/// What to do for one request.
enum Plan {
    /// Answer the remembered figure.
    Reuse(u64),
    /// Count with the cap first (the list may be short).
    Capped,
    /// Count in full: this request refreshes a long list's figure.
    Full,
}

impl Totals {
    pub(crate) fn new(exact_below: u64, ttl: Duration) -> Self {
        Self {
            exact_below: exact_below.max(1),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn plan(&self, key: &str) -> Plan {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get_mut(key) else {
            return Plan::Capped;
        };
        if entry.count < self.exact_below {
            return Plan::Capped;
        }
        if entry.counted_at.elapsed() < self.ttl {
            return Plan::Reuse(entry.count);
        }
        // Claimed: the others reuse the figure until this count lands.
        entry.counted_at = Instant::now();
        Plan::Full
    }

    fn remember(&self, key: &str, count: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > SWEEP_ABOVE {
            let ttl = self.ttl;
            entries.retain(|_, e| e.counted_at.elapsed() < ttl);
        }
        entries.insert(
            key.to_owned(),
            Entry {
                count,
                counted_at: Instant::now(),
            },
        );
    }

    fn forget(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }

    /// The total of the list `key` names: `capped(limit)` counts at most
    /// `limit` rows, `full()` all of them.
    pub(crate) async fn total<C, CF, F, FF>(&self, key: &str, capped: C, full: F) -> Result<Total>
    where
        C: FnOnce(u64) -> CF,
        CF: Future<Output = Result<u64>>,
        F: FnOnce() -> FF,
        FF: Future<Output = Result<u64>>,
    {
        let plan = self.plan(key);
        if let Plan::Reuse(count) = plan {
            return Ok(Total {
                count,
                estimated: true,
            });
        }
        if let Plan::Capped = plan {
            let count = capped(self.exact_below).await?;
            if count < self.exact_below {
                self.forget(key);
                return Ok(Total::exact(count));
            }
        }
        let count = full().await;
        match count {
            Ok(count) => {
                self.remember(key, count);
                Ok(Total::exact(count))
            }
            Err(e) => {
                // Let the next request try again.
                self.forget(key);
                Err(e)
            }
        }
    }
}

/// Counts the rows `select` matches, reading at most `limit` of them:
/// `SELECT COUNT(*) FROM (SELECT 1 … LIMIT limit)`.
pub(crate) async fn count_at_most<E, C>(select: Select<E>, limit: u64, c: &C) -> Result<u64>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let inner = select
        .select_only()
        .expr(Expr::val(1))
        .limit(limit)
        .into_query();
    count_rows(inner, c).await
}

/// Counts every row `select` matches.
pub(crate) async fn count_all<E, C>(select: Select<E>, c: &C) -> Result<u64>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let inner = select.select_only().expr(Expr::val(1)).into_query();
    count_rows(inner, c).await
}

async fn count_rows<C: ConnectionTrait>(inner: SelectStatement, c: &C) -> Result<u64> {
    let query = SelectStatement::new()
        .expr(Expr::cust("COUNT(*) AS n"))
        .from_subquery(inner, "counted")
        .to_owned();
    let n: i64 = match c.query_one(&query).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}
