//! An organization's settings: a bounded JSON object, changed by merging.

use crate::error::DomainError;
use serde_json::Value;

/// The deepest nesting a settings document may have.
pub const SETTINGS_MAX_DEPTH: usize = 16;
/// The largest a settings document may be, serialized, in bytes.
pub const SETTINGS_MAX_BYTES: usize = 64 * 1024;

/// Checks a settings document (or a patch to one): a JSON object, at most
/// [`SETTINGS_MAX_DEPTH`] deep and [`SETTINGS_MAX_BYTES`] long, with no
/// control, invisible or direction-changing characters in its text.
///
/// # Errors
/// [`DomainError::Invalid`] for `settings`, saying which bound was broken.
pub fn check_settings(value: &Value) -> Result<(), DomainError> {
    if !value.is_object() {
        return Err(DomainError::invalid("settings", "must be a JSON object"));
    }
    if depth(value) > SETTINGS_MAX_DEPTH {
        return Err(DomainError::invalid(
            "settings",
            format!("must be nested at most {SETTINGS_MAX_DEPTH} levels deep"),
        ));
    }
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > SETTINGS_MAX_BYTES {
        return Err(DomainError::invalid(
            "settings",
            format!("must be at most {SETTINGS_MAX_BYTES} bytes as JSON"),
        ));
    }
    crate::text::check_json("settings", value)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Merges `patch` into `base`: an object merges into an object key by key,
/// recursively; any other value (a list, a scalar) replaces what was there;
/// `null` removes the key. A `base` that is not an object becomes one.
pub fn merge_settings(base: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *base = patch;
        return;
    };
    if !base.is_object() {
        *base = Value::Object(serde_json::Map::new());
    }
    let Value::Object(target) = base else {
        return;
    };
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(_) if target.get(&key).is_some_and(Value::is_object) => {
                if let Some(existing) = target.get_mut(&key) {
                    merge_settings(existing, value);
                }
            }
            Value::Object(_) => {
                // Nulls inside a new object remove nothing: drop them.
                let mut fresh = Value::Object(serde_json::Map::new());
                merge_settings(&mut fresh, value);
                target.insert(key, fresh);
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn objects_merge_lists_and_scalars_replace_null_removes() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": true, "c": "keep"});
        merge_settings(
            &mut base,
            json!({"a": {"y": [3], "z": {"n": null, "m": 1}}, "b": null, "d": 4}),
        );
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": [3], "z": {"m": 1}}, "c": "keep", "d": 4})
        );
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(check_settings(&json!([1])).is_err());
        let mut deep = json!(1);
        for _ in 0..=SETTINGS_MAX_DEPTH {
            deep = json!({ "d": deep });
        }
        assert!(check_settings(&deep).is_err());
        let big = json!({ "s": "x".repeat(SETTINGS_MAX_BYTES) });
        assert!(check_settings(&big).is_err());
        assert!(check_settings(&json!({"nul": "a\u{0}"})).is_err());
        assert!(check_settings(&json!({"ok": {"list": [1, "two", null]}})).is_ok());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn json_object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map("[a-d]", json_value(), 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn merging_nothing_changes_nothing(base in json_object()) {
            let mut merged = base.clone();
            merge_settings(&mut merged, json!({}));
            prop_assert_eq!(merged, base);
        }

        #[test]
        fn merging_twice_is_merging_once(base in json_object(), patch in json_object()) {
            let mut once = base.clone();
            merge_settings(&mut once, patch.clone());
            let mut twice = once.clone();
            merge_settings(&mut twice, patch);
            prop_assert_eq!(twice, once);
        }

        #[test]
        fn the_patch_wins_where_it_speaks_and_is_silent_elsewhere(
            base in json_object(),
            patch in json_object(),
        ) {
            let mut merged = base.clone();
            merge_settings(&mut merged, patch.clone());
            let (merged, base, patch) =
                (merged.as_object().unwrap(), base.as_object().unwrap(), patch.as_object().unwrap());
            for (key, value) in patch {
                match value {
                    Value::Null => prop_assert!(!merged.contains_key(key)),
                    Value::Object(_) => prop_assert!(merged[key].is_object()),
                    other => prop_assert_eq!(&merged[key], other),
                }
            }
            for (key, value) in base {
                if !patch.contains_key(key) {
                    prop_assert_eq!(&merged[key], value);
                }
            }
            // A merge never stores a null it was given.
            prop_assert!(patch.iter().all(|(k, v)| !v.is_null() || merged.get(k).is_none()));
        }
    }
}
