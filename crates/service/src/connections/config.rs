//! A connection's configuration against its type's JSON Schema: validation
//! (defaults filled, unknown keys dropped, the bad field named), the secret
//! fields the schema marks (at any depth), and their three stored and shown
//! forms: sealed at rest, redacted in answers, open only in memory.

use curatore_auth::{SecretBox, SecretsError};
use serde_json::{Map, Value};

/// What every secret is shown as.
pub const REDACTED: &str = "***REDACTED***";
/// The key of the envelope a sealed secret is stored in: `{"$enc": "v1:…"}`.
pub const ENVELOPE_KEY: &str = "$enc";

/// A path to a field inside a configuration (`["auth", "client_secret"]`).
pub type FieldPath = Vec<String>;

/// Whether a schema property is secret: `writeOnly: true` (JSON Schema's
/// word for it) or `format: password`.
fn is_secret(prop: &Value) -> bool {
    prop.get("writeOnly").and_then(Value::as_bool) == Some(true)
        || prop.get("format").and_then(Value::as_str) == Some("password")
}

/// Every secret field of an object schema, at any depth.
pub fn secret_paths(schema: &Value) -> Vec<FieldPath> {
    fn walk(schema: &Value, prefix: &[String], out: &mut Vec<FieldPath>) {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (name, prop) in props {
            let mut path = prefix.to_vec();
            path.push(name.clone());
            if is_secret(prop) {
                out.push(path);
            } else if prop.get("type").and_then(Value::as_str) == Some("object") {
                walk(prop, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(schema, &[], &mut out);
    out
}

/// Whether a schema property decides where secrets are sent: marked
/// `"x-secret-destination": true` (a tenant id, a host name), or any
/// `"format": "uri"` not marked `"x-secret-destination": false`.
fn is_destination(prop: &Value) -> bool {
    match prop.get(DESTINATION_MARK).and_then(Value::as_bool) {
        Some(marked) => marked,
        None => prop.get("format").and_then(Value::as_str) == Some("uri"),
    }
}

/// The schema keyword that marks a field deciding where secrets are sent.
pub const DESTINATION_MARK: &str = "x-secret-destination";

/// Every field of an object schema that decides where the secrets are sent
/// (see [`DESTINATION_MARK`]), at any depth.
pub fn destination_paths(schema: &Value) -> Vec<FieldPath> {
    fn walk(schema: &Value, prefix: &[String], out: &mut Vec<FieldPath>) {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (name, prop) in props {
            let mut path = prefix.to_vec();
            path.push(name.clone());
            if is_destination(prop) {
                out.push(path);
            } else if prop.get("type").and_then(Value::as_str) == Some("object") {
                walk(prop, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(schema, &[], &mut out);
    out
}

/// The value at `path`, if any.
pub fn value_at<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    get_path(value, path)
}

/// Whether `incoming` gives the secret at `path` a new value (text that is
/// not the marker): the caller knows the secret, it is not merely kept.
pub fn sends_new_secret(incoming: &Value, path: &[String]) -> bool {
    get_path(incoming, path)
        .and_then(Value::as_str)
        .is_some_and(|s| s != REDACTED)
}

/// The secret fields of `config` that hold the marker itself.
pub fn marker_paths(config: &Value, paths: &[FieldPath]) -> Vec<FieldPath> {
    paths
        .iter()
        .filter(|p| get_path(config, p).and_then(Value::as_str) == Some(REDACTED))
        .cloned()
        .collect()
}

/// Opens every sealed secret that opens; those that do not (a key no longer
/// configured, an altered value) are removed from `config` and returned with
/// the error, so a new value can replace them.
pub fn open_each(
    config: &mut Value,
    paths: &[FieldPath],
    secrets: &SecretBox,
) -> Vec<(FieldPath, SecretsError)> {
    let mut failed = Vec::new();
    for path in paths {
        let Some(v) = get_path_mut(config, path) else {
            continue;
        };
        let Some(sealed) = envelope(v) else {
            continue;
        };
        match secrets.open(sealed) {
            Ok(plain) => *v = Value::String(plain),
            Err(e) => failed.push((path.clone(), e)),
        }
    }
    for (path, _) in &failed {
        if let Some((last, parent)) = path.split_last()
            && let Some(Value::Object(p)) = get_path_mut(config, parent)
        {
            p.remove(last);
        }
    }
    failed
}

/// Whether `config` holds a sealed value anywhere (whatever its type says).
pub fn has_sealed_anywhere(config: &Value) -> bool {
    if envelope(config).is_some() {
        return true;
    }
    match config {
        Value::Object(map) => map.values().any(has_sealed_anywhere),
        Value::Array(items) => items.iter().any(has_sealed_anywhere),
        _ => false,
    }
}

/// Whether every sealed value anywhere in `config` (whatever its type says)
/// opens with `secrets`.
pub fn all_sealed_open(config: &Value, secrets: &SecretBox) -> bool {
    if let Some(sealed) = envelope(config) {
        return secrets.open(sealed).is_ok();
    }
    match config {
        Value::Object(map) => map.values().all(|v| all_sealed_open(v, secrets)),
        Value::Array(items) => items.iter().all(|v| all_sealed_open(v, secrets)),
        _ => true,
    }
}

fn dotted(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Checks `config` against an object schema: fills defaults, drops keys the
/// schema does not name, and names the first bad field (`config.timeout`).
///
/// # Errors
/// The message names the field and the problem, never a value.
pub fn validate(schema: &Value, config: &Value) -> Result<Value, String> {
    validate_object(schema, config, "config")
}

fn validate_object(schema: &Value, value: &Value, path: &str) -> Result<Value, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("{path} must be an object"))?;
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (name, prop) in props {
        let field = dotted(path, name);
        match obj.get(name) {
            None | Some(Value::Null) => {
                if let Some(default) = prop.get("default") {
                    out.insert(name.clone(), default.clone());
                } else if required.contains(&name.as_str()) {
                    return Err(format!("{field} is required"));
                }
            }
            Some(v) => {
                out.insert(name.clone(), check_value(prop, v, &field)?);
            }
        }
    }
    Ok(Value::Object(out))
}

fn check_value(prop: &Value, v: &Value, field: &str) -> Result<Value, String> {
    let bound = |key: &str| prop.get(key).and_then(Value::as_f64);
    match prop.get("type").and_then(Value::as_str) {
        Some("string") => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("{field} must be a string"))?;
            let min = prop.get("minLength").and_then(Value::as_u64).unwrap_or(0);
            if (s.chars().count() as u64) < min {
                return Err(if min == 1 {
                    format!("{field} must not be empty")
                } else {
                    format!("{field} must be at least {min} characters")
                });
            }
            if let Some(max) = prop.get("maxLength").and_then(Value::as_u64)
                && s.chars().count() as u64 > max
            {
                return Err(format!("{field} must be at most {max} characters"));
            }
            if prop.get("format").and_then(Value::as_str) == Some("uri") {
                let ok = (s.starts_with("http://") || s.starts_with("https://"))
                    && reqwest::Url::parse(s).is_ok_and(|u| u.host_str().is_some());
                if !ok {
                    return Err(format!("{field} must be an http:// or https:// URL"));
                }
            }
            Ok(Value::String(s.to_owned()))
        }
        Some(kind @ ("integer" | "number")) => {
            let n = if kind == "integer" {
                v.as_i64()
                    .map(|n| n as f64)
                    .ok_or_else(|| format!("{field} must be a whole number"))?
            } else {
                v.as_f64()
                    .ok_or_else(|| format!("{field} must be a number"))?
            };
            let (min, max) = (bound("minimum"), bound("maximum"));
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(format!(
                    "{field} must be between {} and {}",
                    min.map_or("-inf".into(), |m| m.to_string()),
                    max.map_or("inf".into(), |m| m.to_string())
                ));
            }
            Ok(v.clone())
        }
        Some("boolean") => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| format!("{field} must be true or false")),
        Some("object") => validate_object(prop, v, field),
        Some("array") => v
            .as_array()
            .map(|_| v.clone())
            .ok_or_else(|| format!("{field} must be a list")),
        _ => Ok(v.clone()),
    }
}

fn get_path<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn get_path_mut<'v>(value: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, key| v.get_mut(key))
}

/// The sealed text of a stored secret, if it is in the envelope form.
fn envelope(v: &Value) -> Option<&str> {
    v.as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get(ENVELOPE_KEY))
        .and_then(Value::as_str)
}

/// Replaces every secret given as text by its sealed envelope. Values
/// already sealed are left as they are.
pub fn seal(config: &mut Value, paths: &[FieldPath], secrets: &SecretBox) {
    for path in paths {
        if let Some(v) = get_path_mut(config, path)
            && let Some(text) = v.as_str()
        {
            let sealed = secrets.seal(text);
            *v = serde_json::json!({ ENVELOPE_KEY: sealed });
        }
    }
}

/// Replaces every sealed envelope by its plaintext.
///
/// # Errors
/// When a secret does not open (wrong or unknown key, altered value).
pub fn open(
    config: &mut Value,
    paths: &[FieldPath],
    secrets: &SecretBox,
) -> Result<(), SecretsError> {
    for path in paths {
        if let Some(v) = get_path_mut(config, path)
            && let Some(sealed) = envelope(v)
        {
            *v = Value::String(secrets.open(sealed)?);
        }
    }
    Ok(())
}

/// Re-seals every secret under the box's current key; returns whether any
/// secret was sealed under another key.
///
/// # Errors
/// When a secret does not open.
pub fn reseal(
    config: &mut Value,
    paths: &[FieldPath],
    secrets: &SecretBox,
) -> Result<bool, SecretsError> {
    let mut changed = false;
    for path in paths {
        if let Some(v) = get_path_mut(config, path)
            && let Some(sealed) = envelope(v)
            && SecretBox::key_id_of(sealed) != Some(secrets.current_key_id())
        {
            let plain = secrets.open(sealed)?;
            *v = serde_json::json!({ ENVELOPE_KEY: secrets.seal(&plain) });
            changed = true;
        }
    }
    Ok(changed)
}

/// Re-seals under the newest key every sealed value anywhere in `config`,
/// whatever its type says: sealed values carry their envelope, so a process
/// that does not know a type (an embedding service's) still rotates it.
/// Returns whether anything changed.
///
/// # Errors
/// A value no configured key opens (nothing of `config` is changed then).
pub fn reseal_everywhere(config: &mut Value, secrets: &SecretBox) -> Result<bool, SecretsError> {
    fn walk(v: &mut Value, secrets: &SecretBox, out: &mut Vec<String>) -> Result<(), SecretsError> {
        if let Some(sealed) = envelope(v) {
            if SecretBox::key_id_of(sealed) != Some(secrets.current_key_id()) {
                let plain = secrets.open(sealed)?;
                out.push(secrets.seal(&plain));
                *v = serde_json::json!({ ENVELOPE_KEY: out.last().cloned().unwrap_or_default() });
            }
            return Ok(());
        }
        match v {
            Value::Object(map) => map.values_mut().try_for_each(|x| walk(x, secrets, out)),
            Value::Array(items) => items.iter_mut().try_for_each(|x| walk(x, secrets, out)),
            _ => Ok(()),
        }
    }
    let mut copy = config.clone();
    let mut resealed = Vec::new();
    walk(&mut copy, secrets, &mut resealed)?;
    if resealed.is_empty() {
        return Ok(false);
    }
    *config = copy;
    Ok(true)
}

/// The configuration as answers show it: every present secret is
/// [`REDACTED`], absent ones stay absent. Works on sealed and open forms.
pub fn redact(config: &Value, paths: &[FieldPath]) -> Value {
    let mut shown = config.clone();
    for path in paths {
        if let Some(v) = get_path_mut(&mut shown, path)
            && !v.is_null()
        {
            *v = Value::String(REDACTED.to_owned());
        }
    }
    shown
}

/// `incoming` laid over `stored` (both open): objects merge key by key, a
/// value replaces, `null` removes, and a secret given as [`REDACTED`] (a
/// form echoing a GET back) or left out keeps the stored secret.
pub fn merge(stored: &Value, incoming: &Value, paths: &[FieldPath]) -> Value {
    fn lay(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    if v.is_null() {
                        b.remove(k);
                    } else if v.as_str() == Some(REDACTED) {
                        // The marker never becomes a value; keep what is stored.
                    } else if let Some(existing) = b.get_mut(k)
                        && existing.is_object()
                        && v.is_object()
                    {
                        lay(existing, v);
                    } else {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
            (b, o) => *b = o.clone(),
        }
    }
    let mut merged = stored.clone();
    lay(&mut merged, incoming);
    // A marker for a secret that was never stored stays out.
    for path in paths {
        if get_path(&merged, path).and_then(Value::as_str) == Some(REDACTED)
            && let Some((last, parent)) = path.split_last()
            && let Some(Value::Object(p)) = get_path_mut(&mut merged, parent)
        {
            p.remove(last);
        }
    }
    merged
}

/// The plaintext values of the secrets in an open configuration (to scrub
/// them from anything shown).
pub fn secret_values(config: &Value, paths: &[FieldPath]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| get_path(config, p).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a configuration holds a sealed secret.
pub fn has_sealed(config: &Value, paths: &[FieldPath]) -> bool {
    paths
        .iter()
        .any(|p| get_path(config, p).and_then(envelope).is_some())
}

/// Whether a stored configuration holds a secret in clear (should never).
pub fn has_clear_secret(config: &Value, paths: &[FieldPath]) -> bool {
    paths
        .iter()
        .any(|p| get_path(config, p).is_some_and(Value::is_string))
}

/// How many characters of a secret (in any of its encodings) may appear in
/// a text before they are scrubbed: any run of this many is.
pub const SCRUB_WINDOW: usize = 8;

fn percent_encoded(secret: &str, keep: &[u8], space_as_plus: bool, upper: bool) -> String {
    let mut out = String::with_capacity(secret.len() * 3);
    for b in secret.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn json_escaped(secret: &str, ascii_only: bool) -> String {
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default();
    if !ascii_only {
        return inner.to_owned();
    }
    let mut out = String::new();
    for c in inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// The forms a secret takes in what comes back from a service or a
/// library: as it is, JSON-escaped (also with `\\uXXXX` for every non-ASCII
/// character), percent-encoded as a form or a URL writes it (upper- and
/// lower-case hex), base64 (standard and URL-safe) and HTML-escaped.
pub fn encodings(secret: &str) -> Vec<String> {
    use base64::Engine;
    let mut forms = vec![
        secret.to_owned(),
        json_escaped(secret, false),
        json_escaped(secret, true),
        percent_encoded(secret, b"*-._", true, true),
        percent_encoded(secret, b"*-._", true, false),
        percent_encoded(secret, b"-._~", false, true),
        percent_encoded(secret, b"-._~", false, false),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;"),
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// Scrubs secrets from text: every secret replaced by [`REDACTED`], in
/// every encoding [`encodings`] knows, and also where only part of it
/// appears (a body cut short, a prefix): any run of [`SCRUB_WINDOW`]
/// characters that is part of a secret's encoding is scrubbed. Values
/// shorter than the window are scrubbed where they appear whole (at least 4
/// characters: shorter ones would blank out ordinary words; secrets are
/// longer).
#[derive(Debug, Default)]
pub struct Scrubber {
    windows: std::collections::HashSet<String>,
    whole: Vec<String>,
}

impl Scrubber {
    /// A scrubber for these secrets.
    pub fn new(secrets: &[String]) -> Self {
        let mut windows = std::collections::HashSet::new();
        let mut whole = Vec::new();
        for s in secrets {
            for form in encodings(s) {
                let chars: Vec<char> = form.chars().collect();
                if chars.len() >= SCRUB_WINDOW {
                    for w in chars.windows(SCRUB_WINDOW) {
                        windows.insert(w.iter().collect::<String>());
                    }
                } else if chars.len() >= 4 {
                    whole.push(form);
                }
            }
        }
        // Longest first, so a form is not half-replaced by a shorter one.
        whole.sort_by_key(|w| std::cmp::Reverse(w.len()));
        Self { windows, whole }
    }

    /// `text`, scrubbed.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for w in &self.whole {
            out = out.replace(w.as_str(), REDACTED);
        }
        if self.windows.is_empty() {
            return out;
        }
        let chars: Vec<char> = out.chars().collect();
        let mut covered = vec![false; chars.len()];
        for (i, w) in chars.windows(SCRUB_WINDOW).enumerate() {
            if self.windows.contains(&w.iter().collect::<String>()) {
                covered[i..i + SCRUB_WINDOW].fill(true);
            }
        }
        let mut scrubbed = String::with_capacity(out.len());
        let mut i = 0;
        while i < chars.len() {
            if covered[i] {
                scrubbed.push_str(REDACTED);
                while i < chars.len() && covered[i] {
                    i += 1;
                }
            } else {
                scrubbed.push(chars[i]);
                i += 1;
            }
        }
        scrubbed
    }

    /// A JSON value with every string in it (keys too) scrubbed.
    pub fn value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (self.text(k), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// `text` with every secret value scrubbed (see [`Scrubber`]).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    Scrubber::new(secrets).text(text)
}

/// A JSON value with every secret value scrubbed from every string in it.
pub fn scrub_value(value: &Value, secrets: &[String]) -> Value {
    Scrubber::new(secrets).value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["api_key", "url"],
            "properties": {
                "api_key": {"type": "string", "minLength": 1, "writeOnly": true},
                "url": {"type": "string", "format": "uri"},
                "timeout": {"type": "integer", "minimum": 1, "maximum": 600, "default": 60},
                "auth": {"type": "object", "properties": {
                    "password": {"type": "string", "format": "password"},
                    "user": {"type": "string"}
                }}
            }
        })
    }

    #[test]
    fn secrets_are_found_at_any_depth() {
        assert_eq!(
            secret_paths(&schema()),
            vec![
                vec!["api_key".to_owned()],
                vec!["auth".into(), "password".into()]
            ]
        );
    }

    #[test]
    fn validation_fills_defaults_drops_unknown_keys_and_names_the_field() {
        let ok = validate(
            &schema(),
            &json!({"api_key": "k", "url": "http://x", "junk": 1}),
        )
        .unwrap();
        assert_eq!(
            ok,
            json!({"api_key": "k", "url": "http://x", "timeout": 60})
        );
        let err = validate(
            &schema(),
            &json!({"api_key": "k", "url": "http://x", "timeout": 0}),
        )
        .unwrap_err();
        assert!(err.starts_with("config.timeout"), "{err}");
        let err = validate(&schema(), &json!({"url": "http://x"})).unwrap_err();
        assert_eq!(err, "config.api_key is required");
        let err = validate(&schema(), &json!({"api_key": "k", "url": "ftp://x"})).unwrap_err();
        assert!(err.starts_with("config.url"), "{err}");
        let err = validate(
            &schema(),
            &json!({"api_key": "k", "url": "http://x", "auth": {"password": 3}}),
        )
        .unwrap_err();
        assert!(err.starts_with("config.auth.password"), "{err}");
    }

    #[test]
    fn sealed_secrets_open_redact_and_never_show() {
        let b = SecretBox::new([("k1", [3u8; 32])]).unwrap();
        let paths = secret_paths(&schema());
        let plain =
            json!({"api_key": "sk-123456", "url": "http://x", "auth": {"password": "pw-secret"}});
        let mut stored = plain.clone();
        seal(&mut stored, &paths, &b);
        let text = stored.to_string();
        assert!(
            !text.contains("sk-123456") && !text.contains("pw-secret"),
            "{text}"
        );
        assert_eq!(
            redact(&stored, &paths),
            json!({"api_key": REDACTED, "url": "http://x", "auth": {"password": REDACTED}})
        );
        let mut opened = stored.clone();
        open(&mut opened, &paths, &b).unwrap();
        assert_eq!(opened, plain);
        let other = SecretBox::new([("k1", [4u8; 32])]).unwrap();
        assert!(open(&mut stored.clone(), &paths, &other).is_err());
    }

    #[test]
    fn scrubbing_catches_every_encoding_and_any_part() {
        let secret = format!("sk-\"q'uo%2B+é ü ✓ {}", "x7Y/".repeat(250));
        let plain = secret.as_str();
        let cut: String = secret.chars().take(300).collect();
        let middle: String = secret.chars().skip(20).take(40).collect();
        let forms = encodings(plain);
        assert!(forms.len() >= 8, "{forms:?}");
        let mut leaks: Vec<String> = forms.clone();
        leaks.push(cut);
        leaks.push(middle);
        for leak in leaks {
            let text = format!("upstream said <{leak}> and stopped");
            let out = scrub(&text, std::slice::from_ref(&secret));
            assert!(out.starts_with("upstream said <"), "{out}");
            assert!(out.ends_with("> and stopped"), "{out}");
            for form in &forms {
                let chars: Vec<char> = form.chars().collect();
                for w in chars.windows(SCRUB_WINDOW) {
                    let w: String = w.iter().collect();
                    assert!(!out.contains(&w), "`{w}` left in {out}");
                }
            }
        }
        // Short values are scrubbed where whole; ordinary words stay.
        assert_eq!(
            scrub("key=abc12 ok", &["abc12".into()]),
            format!("key={REDACTED} ok")
        );
        assert_eq!(
            scrub("the model answered", &["sk-long-secret-1".into()]),
            "the model answered"
        );
    }

    #[test]
    fn destinations_are_marked_or_uris() {
        let schema = json!({"type": "object", "properties": {
            "url": {"type": "string", "format": "uri"},
            "docs": {"type": "string", "format": "uri", "x-secret-destination": false},
            "tenant": {"type": "string", "x-secret-destination": true},
            "name": {"type": "string"},
            "nested": {"type": "object", "properties": {"host": {"type": "string", "x-secret-destination": true}}}
        }});
        assert_eq!(
            destination_paths(&schema),
            vec![
                vec!["nested".to_owned(), "host".to_owned()],
                vec!["tenant".to_owned()],
                vec!["url".to_owned()]
            ]
        );
    }

    #[test]
    fn the_marker_or_an_omitted_secret_keeps_the_stored_one() {
        let paths = secret_paths(&schema());
        let stored = json!({"api_key": "sk-old", "url": "http://x"});
        let echoed = json!({"api_key": REDACTED, "url": "http://y"});
        assert_eq!(
            merge(&stored, &echoed, &paths),
            json!({"api_key": "sk-old", "url": "http://y"})
        );
        assert_eq!(
            merge(&stored, &json!({"timeout": 5}), &paths),
            json!({"api_key": "sk-old", "url": "http://x", "timeout": 5})
        );
        let fresh = merge(
            &json!({"url": "http://x"}),
            &json!({"auth": {"password": REDACTED}}),
            &paths,
        );
        assert_eq!(fresh, json!({"url": "http://x", "auth": {}}));
    }
}
