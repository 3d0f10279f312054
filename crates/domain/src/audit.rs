use crate::connection::string_enum;
use crate::error::DomainError;
use std::fmt;

/// Whether an audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    /// The action took effect.
    Success,
    /// The action was refused or failed.
    Failure,
}

string_enum!(AuditStatus, "status", Success => "success", Failure => "failure");

/// What was done (`login`, `create_connection`, …): 1–100 characters of
/// lowercase letters, digits, `_` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AuditAction(String);

impl AuditAction {
    /// Validates an action name.
    ///
    /// # Errors
    /// When empty, longer than 100 bytes, or holding other characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= 100
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "action",
                "must be 1-100 characters of lowercase letters, digits, `_` and `.`",
            ))
        }
    }

    /// The action's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
