//! Walks over every stored connection that rewrite its secrets: sealing the
//! ones found in clear (at every start) and re-sealing under the newest key
//! (`secrets rotate`).

use super::{config, no_key};
use crate::audit::{AuditEvent, Entry};
use crate::error::Result;
use crate::operator::Operator;
use crate::services::Services;
use crate::work::{Origin, Work};
use curatore_domain::ConnectionId;
use serde_json::json;

/// What a walk does to each secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rewrite {
    /// Write nothing: count the connections holding a clear secret.
    CountClear,
    /// Seal clear secrets only; sealed ones are left as they are.
    SealClear,
    /// Seal clear secrets and re-seal every sealed value under the newest
    /// key, in every row, whatever its type.
    Rotate,
}

/// What [`Operator::seal_clear_secrets`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClearSecrets {
    /// Connections whose clear secrets were sealed.
    pub sealed: u64,
    /// Connections holding a clear secret that could not be sealed: no key
    /// is configured.
    pub left_in_clear: u64,
}

/// What a rewalk did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretsReport {
    /// Connections rewritten (or, counting, found).
    pub changed: u64,
    /// The last connection seen (resume after it).
    pub last: Option<ConnectionId>,
    /// Connections holding a sealed value no configured key opens: left as
    /// they are, the walk went on.
    pub unopenable: Vec<ConnectionId>,
}

/// What [`Operator::check_secrets_open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretsCheck {
    /// Connections looked at.
    pub checked: u64,
    /// Those holding a sealed value no configured key opens.
    pub unopenable: Vec<ConnectionId>,
    /// No key is configured: every sealed value is unopenable.
    pub no_key: bool,
}

impl Operator {
    /// Tries the configured keys on the sealed values (wherever they are in
    /// the configuration, whatever the type) of up to `sample` stored
    /// connections, the first by id (ids are time-ordered: the oldest), and names the
    /// connections whose values do not open: a wrong `SECRETS_ENCRYPTION_KEY`
    /// is found at start, not when a secret is first used. Writes nothing.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn check_secrets_open(&self, sample: u64) -> Result<SecretsCheck> {
        let rows = self
            .services
            .database()
            .system()
            .connections()
            .batch_after(None, sample.max(1))
            .await?;
        let mut check = SecretsCheck {
            checked: rows.len() as u64,
            ..SecretsCheck::default()
        };
        let Some(secrets) = self.services.secret_box() else {
            // Without a key no sealed value opens.
            check.no_key = true;
            check.unopenable = rows
                .iter()
                .filter(|c| config::has_sealed_anywhere(&c.config))
                .map(|c| c.id)
                .collect();
            return Ok(check);
        };
        check.unopenable = rows
            .iter()
            .filter(|c| !config::all_sealed_open(&c.config, secrets))
            .map(|c| c.id)
            .collect();
        Ok(check)
    }

    /// Seals every connection secret stored in clear (the original's, or
    /// written by hand), in batches of 100 connections per transaction.
    /// Without a key nothing is written and the connections holding one are
    /// counted.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn seal_clear_secrets(&self) -> Result<ClearSecrets> {
        let services = &self.services;
        if services.secret_box().is_none() {
            let found = services
                .rewrite_secrets(Rewrite::CountClear, 100, None, |_, _| {})
                .await?;
            return Ok(ClearSecrets {
                sealed: 0,
                left_in_clear: found.changed,
            });
        }
        let done = services
            .rewrite_secrets(Rewrite::SealClear, 100, None, |_, _| {})
            .await?;
        Ok(ClearSecrets {
            sealed: done.changed,
            left_in_clear: 0,
        })
    }
}

impl Services {
    /// Walks every connection by id from `resume_after`, `batch` per
    /// transaction, rewriting secrets as `how` says; each batch that changes
    /// rows is one unit of work with its audit entry.
    pub(super) async fn rewrite_secrets(
        &self,
        how: Rewrite,
        batch: u64,
        resume_after: Option<ConnectionId>,
        mut progress: impl FnMut(u64, ConnectionId),
    ) -> Result<SecretsReport> {
        let secrets = match how {
            Rewrite::CountClear => None,
            Rewrite::SealClear | Rewrite::Rotate => Some(self.secret_box().ok_or_else(no_key)?),
        };
        let mut report = SecretsReport {
            last: resume_after,
            ..SecretsReport::default()
        };
        loop {
            let rows = self
                .database()
                .system()
                .connections()
                .batch_after(report.last, batch.max(1))
                .await?;
            let Some(last) = rows.last().map(|c| c.id) else {
                break;
            };
            let mut updates = Vec::new();
            for c in &rows {
                let paths = self
                    .connections_config()
                    .registry
                    .get(c.connection_type.as_str())
                    .map(|kind| kind.secret_fields())
                    .unwrap_or_default();
                let Some(secrets) = secrets else {
                    report.changed += u64::from(config::has_clear_secret(&c.config, &paths));
                    continue;
                };
                let mut cfg = c.config.clone();
                let mut touched = false;
                if how == Rewrite::Rotate {
                    match config::reseal_everywhere(&mut cfg, secrets) {
                        Ok(changed) => touched = changed,
                        Err(e) => {
                            tracing::error!(connection_id = %c.id.as_uuid(), error = %e, "a sealed secret opens with no configured key; left as it is");
                            report.unopenable.push(c.id);
                            continue;
                        }
                    }
                }
                if config::has_clear_secret(&cfg, &paths) {
                    // Written before secrets were sealed: seal it now.
                    config::seal(&mut cfg, &paths, secrets);
                    touched = true;
                }
                if touched {
                    updates.push((c.id, cfg));
                }
            }
            if !updates.is_empty() {
                let work = Work::begin(self, Origin::Process).await?;
                for (id, cfg) in &updates {
                    work.system()
                        .connections()
                        .replace_config(*id, cfg.clone())
                        .await?;
                }
                let ids: Vec<uuid::Uuid> = updates.iter().map(|(id, _)| id.as_uuid()).collect();
                let event = match how {
                    Rewrite::Rotate => AuditEvent::RotateSecrets,
                    Rewrite::SealClear | Rewrite::CountClear => AuditEvent::SealClearSecrets,
                };
                work.commit(event, Entry::anonymous(json!({"connections": ids})))
                    .await?;
                report.changed += updates.len() as u64;
            }
            report.last = Some(last);
            progress(report.changed, last);
        }
        Ok(report)
    }
}
