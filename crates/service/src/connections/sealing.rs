//! Walks over every stored connection that rewrite its secrets: sealing
//! the ones found in clear (at every start) and re-sealing under the newest
//! key (`secrets rotate`).

use super::{config, no_key, secrets_error};
use crate::error::Result;
use crate::services::Services;
use curatore_domain::ConnectionId;

/// What a walk does to each secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rewrite {
    /// Write nothing: count the connections holding a clear secret.
    CountClear,
    /// Seal clear secrets only; sealed ones are left as they are.
    SealClear,
    /// Seal clear secrets and re-seal every secret sealed under an older key.
    Rotate,
}

/// What [`Services::seal_clear_secrets`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClearSecrets {
    /// Connections whose clear secrets were sealed.
    pub sealed: u64,
    /// Connections holding a clear secret that could not be sealed: no key
    /// is configured.
    pub left_in_clear: u64,
}

impl Services {
    /// Seals every connection secret stored in clear (the original's, adopted
    /// before its secrets were sealed at adoption, or written by hand), in
    /// batches of 100 connections per transaction. Without a key nothing is
    /// written and the connections holding one are counted.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn seal_clear_secrets(&self) -> Result<ClearSecrets> {
        if self.secret_box().is_none() {
            let (left_in_clear, _) = self
                .rewrite_secrets(Rewrite::CountClear, 100, None, |_, _| {})
                .await?;
            return Ok(ClearSecrets {
                sealed: 0,
                left_in_clear,
            });
        }
        let (sealed, _) = self
            .rewrite_secrets(Rewrite::SealClear, 100, None, |_, _| {})
            .await?;
        Ok(ClearSecrets {
            sealed,
            left_in_clear: 0,
        })
    }

    /// Walks every connection by id from `resume_after`, `batch` per
    /// transaction, rewriting secrets as `how` says. Returns (connections
    /// rewritten, or counted, and the last id seen).
    pub(super) async fn rewrite_secrets(
        &self,
        how: Rewrite,
        batch: u64,
        resume_after: Option<ConnectionId>,
        mut progress: impl FnMut(u64, ConnectionId),
    ) -> Result<(u64, Option<ConnectionId>)> {
        let secrets = match how {
            Rewrite::CountClear => None,
            Rewrite::SealClear | Rewrite::Rotate => Some(self.secret_box().ok_or_else(no_key)?),
        };
        let mut after = resume_after;
        let mut changed = 0u64;
        loop {
            let rows = self
                .database()
                .system()
                .connections()
                .batch_after(after, batch.max(1))
                .await?;
            let Some(last) = rows.last().map(|c| c.id) else {
                break;
            };
            let mut updates = Vec::new();
            for c in &rows {
                let Some(kind) = self
                    .connections_config()
                    .registry
                    .get(c.connection_type.as_str())
                else {
                    continue;
                };
                let paths = kind.secret_fields();
                let Some(secrets) = secrets else {
                    changed += u64::from(config::has_clear_secret(&c.config, &paths));
                    continue;
                };
                let mut cfg = c.config.clone();
                let mut touched = how == Rewrite::Rotate
                    && config::reseal(&mut cfg, &paths, secrets).map_err(|e| secrets_error(&e))?;
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
                let tx = self.database().begin().await?;
                for (id, cfg) in &updates {
                    tx.system()
                        .connections()
                        .replace_config(*id, cfg.clone())
                        .await?;
                }
                tx.commit().await?;
                changed += updates.len() as u64;
            }
            after = Some(last);
            progress(changed, last);
        }
        Ok((changed, after))
    }
}
