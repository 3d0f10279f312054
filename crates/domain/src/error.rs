use std::fmt;

/// Why a value was refused by a domain rule.
///
/// `field` names the input as a user of the API knows it, so the web layer can
/// report it without translating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value broke the rule of its field.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field as callers name it (`slug`, `email`, …).
        field: &'static str,
        /// What is wrong, in words a user can act on.
        reason: String,
    },
}

impl DomainError {
    pub(crate) fn invalid(field: &'static str, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            field,
            reason: reason.to_string(),
        }
    }

    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }
}
