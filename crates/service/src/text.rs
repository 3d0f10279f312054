//! Text fields: trimmed, bounded, one line, nothing invisible.

use crate::error::{Result, ServiceError};

/// The longest name or label accepted (the `varchar(255)` columns).
pub const NAME_MAX: usize = 255;

/// A required text field: trimmed, 1 to `max` characters, one line, nothing
/// invisible (see [`curatore_domain::text`]).
pub(crate) fn required(field: &'static str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    curatore_domain::text::check_line(field, value)?;
    if value.is_empty() || value.chars().count() > max {
        return Err(ServiceError::validation(format!(
            "{field} must be 1 to {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// An optional text field: at most `max` characters; blank means absent.
pub(crate) fn optional(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>> {
    if let Some(v) = &value {
        curatore_domain::text::check_line(field, v)?;
    }
    match value {
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) if v.chars().count() > max => Err(ServiceError::validation(format!(
            "{field} must be at most {max} characters"
        ))),
        other => Ok(other),
    }
}
