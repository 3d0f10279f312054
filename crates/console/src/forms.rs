//! Reading what forms send.

use serde::Deserialize;

/// A form with only its CSRF token (buttons that act).
#[derive(Debug, Deserialize)]
pub(crate) struct Csrf {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// `Some(true)`/`Some(false)` from `"true"`/`"false"`, else `None`.
pub(crate) fn flag(v: Option<&str>) -> Option<bool> {
    match v {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// Percent-encodes a query value.
pub(crate) fn q(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
