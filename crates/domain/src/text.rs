//! Characters that have no place in names, addresses and settings.
//!
//! PostgreSQL cannot store U+0000 at all, and invisible or direction-changing
//! characters let two different values look the same on screen
//! (`admin\u{200b}@example.com` beside `admin@example.com`), which is how
//! look-alike accounts and misleading audit trails are made.

use crate::error::DomainError;

/// Zero-width, direction-changing and byte-order characters: invisible, or
/// reorder what is shown around them.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                      // soft hyphen
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // Arabic letter mark
            | '\u{115F}' | '\u{1160}'   // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'   // Khmer invisible vowels
            | '\u{180B}'..='\u{180F}'   // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'   // line/paragraph separators, bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidi isolates
            | '\u{3164}'                // Hangul filler
            | '\u{FE00}'..='\u{FE0F}'   // variation selectors
            | '\u{FEFF}'                // byte-order mark
            | '\u{FFA0}'                // half-width Hangul filler
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotations
    )
}

/// Checks a one-line text value (a name, a label, an address): no control
/// characters (U+0000 included) and nothing invisible or direction-changing.
///
/// # Errors
/// [`DomainError::Invalid`] naming `field` and the offending code point.
pub fn check_line(field: &'static str, value: &str) -> Result<(), DomainError> {
    match value
        .chars()
        .find(|c| c.is_control() || is_invisible_or_bidi(*c))
    {
        Some(c) => Err(refused(field, c)),
        None => Ok(()),
    }
}

/// Checks free text (a setting's value, a description): tabs and line
/// breaks are allowed, other control characters and invisible or
/// direction-changing characters are not.
///
/// # Errors
/// [`DomainError::Invalid`] naming `field` and the offending code point.
pub fn check_text(field: &'static str, value: &str) -> Result<(), DomainError> {
    match value
        .chars()
        .find(|c| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || is_invisible_or_bidi(*c))
    {
        Some(c) => Err(refused(field, c)),
        None => Ok(()),
    }
}

/// Checks every key and string inside a JSON value with [`check_text`]
/// (keys with [`check_line`]).
///
/// # Errors
/// [`DomainError::Invalid`] naming `field` and the offending code point.
pub fn check_json(field: &'static str, value: &serde_json::Value) -> Result<(), DomainError> {
    match value {
        serde_json::Value::String(s) => check_text(field, s),
        serde_json::Value::Array(items) => items.iter().try_for_each(|v| check_json(field, v)),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check_line(field, k)?;
            check_json(field, v)
        }),
        _ => Ok(()),
    }
}

fn refused(field: &'static str, c: char) -> DomainError {
    DomainError::invalid(
        field,
        format!(
            "must not contain control, invisible or direction-changing characters (found U+{:04X})",
            c as u32
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_line_values_refuse_controls_and_invisible_characters() {
        for bad in [
            "a\u{0}b",
            "tab\there",
            "new\nline",
            "del\u{7f}",
            "zero\u{200b}width",
            "rtl\u{202e}override",
            "\u{feff}bom",
            "isolate\u{2066}x",
        ] {
            let err = check_line("name", bad).unwrap_err();
            assert_eq!(err.field(), "name");
        }
        for good in ["Zoë Ångström", "東京", "O'Brien-Smith", "emoji 🙂"] {
            assert!(check_line("name", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn free_text_keeps_line_breaks_but_not_nul() {
        assert!(check_text("settings", "line one\nline two\ttab").is_ok());
        assert!(check_text("settings", "nul\u{0}").is_err());
        assert!(check_text("settings", "bell\u{7}").is_err());
    }

    #[test]
    fn json_is_checked_all_the_way_down() {
        assert!(check_json("settings", &json!({"a": {"b": ["ok", 1, null]}})).is_ok());
        assert!(check_json("settings", &json!({"a": {"b": ["bad\u{0}"]}})).is_err());
        assert!(check_json("settings", &json!({"k\u{200b}": 1})).is_err());
    }
}
