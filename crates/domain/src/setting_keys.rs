//! The registry of setting keys and how a key's value is resolved.
//!
//! A key has a name, a type (from which its JSON Schema is made), a default,
//! whether anyone may read it, and the layers that may hold it. A value
//! comes from the first of these that has it:
//!
//! 1. the environment (the server's own configuration): security settings
//!    such as `enable_auth` live only here and never come from the database;
//! 2. the user's settings;
//! 3. the organization's settings;
//! 4. the system settings (`system_settings` rows);
//! 5. the key's built-in default.
//!
//! Object values merge field by field across the stored layers (a user may
//! change one threshold and keep the organization's others); any other
//! value replaces the one below it. A stored value of the wrong type (left
//! by an older release, or by SQL) is skipped, so a resolved value always
//! has its key's type.

use crate::settings::merge_settings;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt;

/// Where a resolved value came from, highest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The server's configuration (environment variables, configuration files).
    Environment,
    /// The acting user's own settings.
    User,
    /// The organization's settings.
    Organization,
    /// The instance's `system_settings`.
    System,
    /// The key's built-in default.
    Default,
}

impl Layer {
    /// The layer's name as sent in responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Environment => "environment",
            Self::User => "user",
            Self::Organization => "organization",
            Self::System => "system",
            Self::Default => "default",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingType {
    /// `true` or `false`.
    Boolean,
    /// Any JSON number within the bounds (inclusive).
    Number {
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
    /// A whole number within the bounds (inclusive).
    Integer {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// Text of at most this many characters.
    Text {
        /// Longest allowed, in characters.
        max_chars: usize,
    },
    /// An object with exactly these optional fields (no others).
    Object(&'static [Field]),
}

/// A field of an object setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// Its name.
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// Its type.
    pub kind: SettingType,
}

/// One registered setting key.
#[derive(Debug, Clone)]
pub struct SettingKey {
    /// The key as stored and sent (`quality_thresholds`).
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// The type of its value.
    pub kind: SettingType,
    /// Its built-in default.
    pub default: fn() -> Value,
    /// Whether anyone (even unauthenticated) may read its instance-wide value.
    pub public: bool,
    /// The stored layers (`System`, `Organization`, `User`) that may hold
    /// it. Empty for a key that only the environment sets: the database may
    /// never override it.
    pub stored_in: &'static [Layer],
}

impl SettingKey {
    /// Whether the database may hold a value for this key at `layer`.
    pub fn storable_in(&self, layer: Layer) -> bool {
        self.stored_in.contains(&layer)
    }

    /// Whether only the environment sets this key.
    pub fn environment_only(&self) -> bool {
        self.stored_in.is_empty()
    }
}

/// Why a settings change was refused. Each names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// The key is not registered.
    #[error("unknown setting `{key}`; the known settings are: {known}")]
    Unknown {
        /// The key as sent.
        key: String,
        /// The registered keys this layer accepts, comma-separated.
        known: String,
    },
    /// The value has the wrong type or is out of bounds.
    #[error("setting `{key}`: {reason}")]
    Invalid {
        /// The key (with the field, `quality_thresholds.clarity`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The key exists but may not be stored at this layer.
    #[error("setting `{key}` {reason}")]
    NotWritable {
        /// The key.
        key: String,
        /// Why (environment only, or not at this layer).
        reason: String,
    },
}

impl SettingError {
    /// The key the error is about.
    pub fn key(&self) -> &str {
        match self {
            Self::Unknown { key, .. }
            | Self::Invalid { key, .. }
            | Self::NotWritable { key, .. } => key,
        }
    }
}

/// One key's resolved value and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// The key.
    pub key: &'static str,
    /// Its value.
    pub value: Value,
    /// The highest layer that contributed to it.
    pub source: Layer,
}

/// The values each layer holds, for [`SettingRegistry::resolve`].
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    /// Values from the server's configuration, by key.
    pub environment: &'a Map<String, Value>,
    /// The user's settings object (`None`: no user acts).
    pub user: Option<&'a Value>,
    /// The organization's settings object (`None`: resolving instance-wide).
    pub organization: Option<&'a Value>,
    /// The system settings, by key.
    pub system: &'a Map<String, Value>,
}

const STORED_EVERYWHERE: &[Layer] = &[Layer::System, Layer::Organization, Layer::User];

const THRESHOLD_FIELDS: &[Field] = &[
    Field {
        name: "conversion",
        description: "minimum conversion score (0-100) a document must reach",
        kind: SettingType::Number {
            min: 0.0,
            max: 100.0,
        },
    },
    Field {
        name: "clarity",
        description: "minimum clarity score (0-10)",
        kind: SettingType::Number {
            min: 0.0,
            max: 10.0,
        },
    },
    Field {
        name: "completeness",
        description: "minimum completeness score (0-10)",
        kind: SettingType::Number {
            min: 0.0,
            max: 10.0,
        },
    },
    Field {
        name: "relevance",
        description: "minimum relevance score (0-10)",
        kind: SettingType::Number {
            min: 0.0,
            max: 10.0,
        },
    },
    Field {
        name: "markdown",
        description: "minimum markdown quality score (0-10)",
        kind: SettingType::Number {
            min: 0.0,
            max: 10.0,
        },
    },
];

/// The keys every Curatore instance knows. The first two are the ones the
/// original seeded into every organization (with these defaults), so its
/// UI can save what it loads; the last two come from the environment only.
fn builtin_keys() -> Vec<SettingKey> {
    vec![
        SettingKey {
            name: "quality_thresholds",
            description: "minimum scores a processed document must reach",
            kind: SettingType::Object(THRESHOLD_FIELDS),
            default: || json!({"conversion": 70, "clarity": 7, "completeness": 7, "relevance": 7, "markdown": 7}),
            public: false,
            stored_in: STORED_EVERYWHERE,
        },
        SettingKey {
            name: "auto_optimize",
            description: "optimize documents for retrieval automatically after conversion",
            kind: SettingType::Boolean,
            default: || json!(false),
            public: false,
            stored_in: STORED_EVERYWHERE,
        },
        SettingKey {
            name: "enable_auth",
            description: "whether requests must authenticate (ENABLE_AUTH; environment only)",
            kind: SettingType::Boolean,
            default: || json!(false),
            public: true,
            stored_in: &[],
        },
        SettingKey {
            name: "allow_registration",
            description: "whether anyone may register (ALLOW_REGISTRATION; environment only)",
            kind: SettingType::Boolean,
            default: || json!(false),
            public: true,
            stored_in: &[],
        },
    ]
}

/// The keys the original stored into every organization it created (its
/// `app/commands/seed.py`, `create_default_organization`: the
/// `DEFAULT_*_THRESHOLD` settings of its `app/config.py`, 70/7/7/7/7, and
/// `auto_optimize: false`), with the registry's defaults as values.
pub const SEEDED_ORGANIZATION_KEYS: &[&str] = &["quality_thresholds", "auto_optimize"];

/// Names that are configuration secrets: never settings, never stored, and
/// refused by name so nobody believes the database could set them.
const SECRET_NAMES: &[&str] = &[
    "jwt_secret_key",
    "secrets_encryption_key",
    "database_url",
    "admin_password",
];

/// The setting keys an instance knows.
#[derive(Debug, Clone)]
pub struct SettingRegistry {
    keys: Vec<SettingKey>,
}

impl Default for SettingRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl SettingRegistry {
    /// The built-in keys.
    pub fn builtin() -> Self {
        Self {
            keys: builtin_keys(),
        }
    }

    /// Adds (or replaces) a key, for services that register their own.
    #[must_use]
    pub fn with(mut self, key: SettingKey) -> Self {
        self.keys.retain(|k| k.name != key.name);
        self.keys.push(key);
        self
    }

    /// Every key, in registration order.
    pub fn keys(&self) -> &[SettingKey] {
        &self.keys
    }

    /// The key with this name.
    pub fn get(&self, name: &str) -> Option<&SettingKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    fn known_at(&self, layer: Layer) -> String {
        let names: Vec<&str> = self
            .keys
            .iter()
            .filter(|k| k.storable_in(layer))
            .map(|k| k.name)
            .collect();
        names.join(", ")
    }

    /// Checks a patch (`{key: value, …}`, `null` removes) for `layer`.
    /// `strict` refuses unregistered keys; otherwise they pass unchecked
    /// (the original's free-form organization settings), while registered
    /// keys are still type-checked.
    ///
    /// # Errors
    /// [`SettingError`] naming the first offending key.
    pub fn check_patch(
        &self,
        layer: Layer,
        patch: &Value,
        strict: bool,
    ) -> Result<(), SettingError> {
        let Some(map) = patch.as_object() else {
            return Err(SettingError::Invalid {
                key: "settings".into(),
                reason: "must be a JSON object of setting keys".into(),
            });
        };
        for (name, value) in map {
            let Some(key) = self.get(name) else {
                if SECRET_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(SettingError::NotWritable {
                        key: name.clone(),
                        reason: "is a secret of the server's configuration; it is never stored in the database".into(),
                    });
                }
                if strict {
                    return Err(SettingError::Unknown {
                        key: name.clone(),
                        known: self.known_at(layer),
                    });
                }
                continue;
            };
            if key.environment_only() {
                return Err(SettingError::NotWritable {
                    key: name.clone(),
                    reason: "comes from the environment only; the database never overrides it"
                        .into(),
                });
            }
            if !key.storable_in(layer) {
                return Err(SettingError::NotWritable {
                    key: name.clone(),
                    reason: format!("cannot be set in the {layer} settings"),
                });
            }
            if !value.is_null() {
                check_value(name, key.kind, value, true)?;
            }
        }
        Ok(())
    }

    /// The registered keys of a stored settings object that `layer` may
    /// hold, with values of the wrong type left out.
    pub fn registered_part(&self, layer: Layer, stored: &Value) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(map) = stored.as_object() else {
            return out;
        };
        for key in self.keys.iter().filter(|k| k.storable_in(layer)) {
            if let Some(v) = map.get(key.name)
                && check_value(key.name, key.kind, v, true).is_ok()
            {
                out.insert(key.name.to_owned(), v.clone());
            }
        }
        out
    }

    /// Every key's value and where it came from (see the module docs).
    pub fn resolve(&self, layers: Layers<'_>) -> Vec<Resolved> {
        self.keys
            .iter()
            .map(|key| resolve_key(key, layers))
            .collect()
    }

    /// The JSON Schema of what `layer` may store: an object of the keys it
    /// accepts, with no other properties.
    pub fn json_schema(&self, layer: Layer) -> Value {
        let mut properties = Map::new();
        for key in self.keys.iter().filter(|k| k.storable_in(layer)) {
            let mut schema = type_schema(key.kind);
            if let Value::Object(s) = &mut schema {
                s.insert("description".into(), json!(key.description));
                s.insert("default".into(), (key.default)());
            }
            properties.insert(key.name.to_owned(), schema);
        }
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": format!("{layer} settings"),
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
    }

    /// The settings a new organization starts with: the defaults of the
    /// keys the original seeded into every organization it created
    /// ([`SEEDED_ORGANIZATION_KEYS`]), as far as they are registered and
    /// organizations may store them. Stored, they take precedence over the
    /// system settings for that organization, as they did in the original.
    pub fn new_organization_settings(&self) -> Value {
        let seeded: Map<String, Value> = SEEDED_ORGANIZATION_KEYS
            .iter()
            .filter_map(|name| self.get(name))
            .filter(|k| k.storable_in(Layer::Organization))
            .map(|k| (k.name.to_owned(), (k.default)()))
            .collect();
        Value::Object(seeded)
    }

    /// The defaults of the keys `layer` may store: a valid example document.
    pub fn defaults_for(&self, layer: Layer) -> Map<String, Value> {
        self.keys
            .iter()
            .filter(|k| k.storable_in(layer))
            .map(|k| (k.name.to_owned(), (k.default)()))
            .collect()
    }
}

fn resolve_key(key: &SettingKey, layers: Layers<'_>) -> Resolved {
    if let Some(v) = layers.environment.get(key.name)
        && check_value(key.name, key.kind, v, false).is_ok()
    {
        return Resolved {
            key: key.name,
            value: v.clone(),
            source: Layer::Environment,
        };
    }
    let mut value = (key.default)();
    let mut source = Layer::Default;
    let stored = [
        (Layer::System, layers.system.get(key.name)),
        (
            Layer::Organization,
            layers.organization.and_then(|o| o.get(key.name)),
        ),
        (Layer::User, layers.user.and_then(|u| u.get(key.name))),
    ];
    for (layer, found) in stored {
        let Some(found) = found else { continue };
        if !key.storable_in(layer) || check_value(key.name, key.kind, found, true).is_err() {
            continue;
        }
        if let Value::Object(fields) = found {
            // A stored null field means "not set here", never "remove the default".
            let set: Map<String, Value> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            merge_settings(&mut value, Value::Object(set));
        } else {
            value = found.clone();
        }
        source = layer;
    }
    Resolved {
        key: key.name,
        value,
        source,
    }
}

/// Checks `value` against `kind`. `partial` lets an object omit fields (and
/// set one to `null` to remove it), as stored layers and patches may.
fn check_value(
    name: &str,
    kind: SettingType,
    value: &Value,
    partial: bool,
) -> Result<(), SettingError> {
    let invalid = |reason: String| SettingError::Invalid {
        key: name.to_owned(),
        reason,
    };
    match kind {
        SettingType::Boolean => {
            if !value.is_boolean() {
                return Err(invalid(format!(
                    "must be true or false, not {}",
                    kind_of(value)
                )));
            }
        }
        SettingType::Number { min, max } => match value.as_f64() {
            Some(n) if value.is_number() && (min..=max).contains(&n) => {}
            _ => return Err(invalid(format!("must be a number from {min} to {max}"))),
        },
        SettingType::Integer { min, max } => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => {}
            _ => {
                return Err(invalid(format!(
                    "must be a whole number from {min} to {max}"
                )));
            }
        },
        SettingType::Text { max_chars } => match value.as_str() {
            Some(s) if s.chars().count() <= max_chars => {}
            _ => {
                return Err(invalid(format!(
                    "must be text of at most {max_chars} characters"
                )));
            }
        },
        SettingType::Object(fields) => {
            let Some(map) = value.as_object() else {
                return Err(invalid(format!(
                    "must be an object, not {}",
                    kind_of(value)
                )));
            };
            for (field_name, field_value) in map {
                let path = format!("{name}.{field_name}");
                let Some(field) = fields.iter().find(|f| f.name == field_name) else {
                    let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
                    return Err(SettingError::Invalid {
                        key: path,
                        reason: format!("is not a field; the fields are: {}", known.join(", ")),
                    });
                };
                if partial && field_value.is_null() {
                    continue;
                }
                check_value(&path, field.kind, field_value, partial)?;
            }
            if !partial && let Some(missing) = fields.iter().find(|f| !map.contains_key(f.name)) {
                return Err(SettingError::Invalid {
                    key: format!("{name}.{}", missing.name),
                    reason: "is required".into(),
                });
            }
        }
    }
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn type_schema(kind: SettingType) -> Value {
    match kind {
        SettingType::Boolean => json!({"type": "boolean"}),
        SettingType::Number { min, max } => {
            json!({"type": "number", "minimum": min, "maximum": max})
        }
        SettingType::Integer { min, max } => {
            json!({"type": "integer", "minimum": min, "maximum": max})
        }
        SettingType::Text { max_chars } => json!({"type": "string", "maxLength": max_chars}),
        SettingType::Object(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|f| {
                    let mut schema = type_schema(f.kind);
                    if let Value::Object(s) = &mut schema {
                        s.insert("description".into(), json!(f.description));
                    }
                    (f.name.to_owned(), schema)
                })
                .collect();
            json!({"type": "object", "properties": properties, "additionalProperties": false})
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn value_of<'a>(resolved: &'a [Resolved], key: &str) -> &'a Resolved {
        resolved.iter().find(|r| r.key == key).unwrap()
    }

    #[test]
    fn a_new_organization_starts_with_the_originals_seeded_settings() {
        let registry = SettingRegistry::builtin();
        let seeded = registry.new_organization_settings();
        // The values of the original's seed (its `create_default_organization`).
        assert_eq!(
            seeded,
            json!({
                "quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7, "relevance": 7, "markdown": 7},
                "auto_optimize": false,
            })
        );
        registry
            .check_patch(Layer::Organization, &seeded, true)
            .unwrap();
        // A key an embedder removes is not seeded; environment-only keys never are.
        let mut fewer = SettingRegistry::builtin();
        fewer.keys.retain(|k| k.name != "auto_optimize");
        assert_eq!(
            fewer.new_organization_settings().as_object().unwrap().len(),
            1
        );
    }

    #[test]
    fn each_layer_wins_over_the_ones_below_it() {
        let registry = SettingRegistry::builtin();
        let empty = Map::new();
        let mut system = Map::new();
        system.insert("auto_optimize".into(), json!(true));
        let org = json!({"auto_optimize": false});
        let user = json!({"auto_optimize": true});
        let mut env = Map::new();
        env.insert("enable_auth".into(), json!(true));

        let none = registry.resolve(Layers {
            environment: &empty,
            user: None,
            organization: None,
            system: &empty,
        });
        assert_eq!(value_of(&none, "auto_optimize").source, Layer::Default);
        assert_eq!(value_of(&none, "enable_auth").value, json!(false));

        let sys = registry.resolve(Layers {
            environment: &env,
            user: None,
            organization: None,
            system: &system,
        });
        assert_eq!(value_of(&sys, "auto_optimize").source, Layer::System);
        assert_eq!(value_of(&sys, "auto_optimize").value, json!(true));
        assert_eq!(value_of(&sys, "enable_auth").source, Layer::Environment);

        let with_org = registry.resolve(Layers {
            environment: &env,
            user: None,
            organization: Some(&org),
            system: &system,
        });
        assert_eq!(
            value_of(&with_org, "auto_optimize").source,
            Layer::Organization
        );
        assert_eq!(value_of(&with_org, "auto_optimize").value, json!(false));

        let with_user = registry.resolve(Layers {
            environment: &env,
            user: Some(&user),
            organization: Some(&org),
            system: &system,
        });
        assert_eq!(value_of(&with_user, "auto_optimize").source, Layer::User);
        assert_eq!(value_of(&with_user, "auto_optimize").value, json!(true));
    }

    #[test]
    fn object_values_merge_field_by_field_across_layers() {
        let registry = SettingRegistry::builtin();
        let empty = Map::new();
        let org = json!({"quality_thresholds": {"conversion": 80}});
        let user = json!({"quality_thresholds": {"clarity": 9.5}});
        let resolved = registry.resolve(Layers {
            environment: &empty,
            user: Some(&user),
            organization: Some(&org),
            system: &empty,
        });
        let q = value_of(&resolved, "quality_thresholds");
        assert_eq!(q.source, Layer::User);
        assert_eq!(
            q.value,
            json!({"conversion": 80, "clarity": 9.5, "completeness": 7, "relevance": 7, "markdown": 7})
        );
    }

    #[test]
    fn stored_values_of_the_wrong_type_are_skipped_and_the_database_never_sets_security_keys() {
        let registry = SettingRegistry::builtin();
        let empty = Map::new();
        let org = json!({"auto_optimize": "yes", "enable_auth": true});
        let resolved = registry.resolve(Layers {
            environment: &empty,
            user: None,
            organization: Some(&org),
            system: &empty,
        });
        assert_eq!(value_of(&resolved, "auto_optimize").source, Layer::Default);
        assert_eq!(value_of(&resolved, "enable_auth").source, Layer::Default);
        assert_eq!(value_of(&resolved, "enable_auth").value, json!(false));
    }

    #[test]
    fn patches_are_refused_naming_the_key() {
        let r = SettingRegistry::builtin();
        let err = r
            .check_patch(Layer::Organization, &json!({"colour": "red"}), true)
            .unwrap_err();
        assert!(matches!(err, SettingError::Unknown { .. }));
        assert!(err.to_string().contains("`colour`"), "{err}");
        assert!(
            r.check_patch(Layer::Organization, &json!({"colour": "red"}), false)
                .is_ok()
        );
        let err = r
            .check_patch(Layer::User, &json!({"auto_optimize": 1}), false)
            .unwrap_err();
        assert_eq!(err.key(), "auto_optimize");
        let err = r
            .check_patch(
                Layer::System,
                &json!({"quality_thresholds": {"clarity": 11}}),
                true,
            )
            .unwrap_err();
        assert_eq!(err.key(), "quality_thresholds.clarity");
        let err = r
            .check_patch(
                Layer::System,
                &json!({"quality_thresholds": {"speed": 1}}),
                true,
            )
            .unwrap_err();
        assert_eq!(err.key(), "quality_thresholds.speed");
        for key in ["enable_auth", "JWT_SECRET_KEY"] {
            let err = r
                .check_patch(Layer::System, &json!({ key: true }), false)
                .unwrap_err();
            assert!(matches!(err, SettingError::NotWritable { .. }), "{key}");
        }
        assert!(r
            .check_patch(
                Layer::User,
                &json!({"quality_thresholds": {"clarity": null, "markdown": 3}, "auto_optimize": null}),
                true
            )
            .is_ok());
    }

    #[test]
    fn the_schema_allows_no_other_properties_and_the_defaults_satisfy_it() {
        let r = SettingRegistry::builtin();
        let schema = r.json_schema(Layer::Organization);
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(
            schema["properties"]["quality_thresholds"]["additionalProperties"],
            json!(false)
        );
        assert!(schema["properties"].get("enable_auth").is_none());
        let defaults = Value::Object(r.defaults_for(Layer::Organization));
        assert!(r.check_patch(Layer::Organization, &defaults, true).is_ok());
        for key in r.keys() {
            assert!(check_value(key.name, key.kind, &(key.default)(), false).is_ok());
        }
    }

    fn thresholds() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(
            prop::sample::select(vec![
                "conversion",
                "clarity",
                "completeness",
                "relevance",
                "markdown",
            ]),
            prop_oneof![Just(Value::Null), (0u8..=10).prop_map(|n| json!(n))],
            0..5,
        )
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    }

    fn layer_doc() -> impl Strategy<Value = Option<Value>> {
        prop::option::of(
            (
                prop::option::of(any::<bool>()),
                prop::option::of(thresholds()),
            )
                .prop_map(|(auto, q)| {
                    let mut m = Map::new();
                    if let Some(a) = auto {
                        m.insert("auto_optimize".into(), json!(a));
                    }
                    if let Some(q) = q {
                        m.insert("quality_thresholds".into(), q);
                    }
                    Value::Object(m)
                }),
        )
    }

    proptest! {
        #[test]
        fn resolution_is_typed_and_names_the_highest_layer_holding_the_key(
            system in layer_doc(), org in layer_doc(), user in layer_doc(),
        ) {
            let r = SettingRegistry::builtin();
            let empty = Map::new();
            let system_map = system.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
            let resolved = r.resolve(Layers {
                environment: &empty,
                user: user.as_ref(),
                organization: org.as_ref(),
                system: &system_map,
            });
            for item in &resolved {
                let key = r.get(item.key).unwrap();
                // Every resolved value is complete and of its key's type.
                prop_assert!(check_value(key.name, key.kind, &item.value, false).is_ok());
                let holds = |doc: Option<&Value>| doc.and_then(|d| d.get(key.name)).is_some();
                let expected = if key.environment_only() { Layer::Default }
                    else if holds(user.as_ref()) { Layer::User }
                    else if holds(org.as_ref()) { Layer::Organization }
                    else if holds(system.as_ref()) { Layer::System }
                    else { Layer::Default };
                prop_assert_eq!(item.source, expected);
                if key.name == "auto_optimize" && expected != Layer::Default {
                    let top = [user.as_ref(), org.as_ref(), system.as_ref()]
                        .into_iter()
                        .find_map(|d| d.and_then(|d| d.get("auto_optimize")))
                        .unwrap();
                    prop_assert_eq!(&item.value, top);
                }
            }
        }
    }
}
