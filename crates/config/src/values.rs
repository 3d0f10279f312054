//! How one raw setting (an environment string or a TOML value) becomes a typed
//! value, and how a typed value is shown back to an operator.

use curatore_domain::{DatabaseKind, DatabaseUrl, Schedule, Secret};
use figment::value::Value;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use uuid::Uuid;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// The value as written in `LOG_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use curatore_domain::SmtpTls;

/// The HMAC algorithm that signs access and refresh tokens.
///
/// Only symmetric algorithms: the signing key is `JWT_SECRET_KEY`, shared by
/// every instance, so no key pair has to be distributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256: the default, and what the Python system used.
    #[default]
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
}

impl JwtAlgorithm {
    /// The name as written in `JWT_ALGORITHM` and in a token's `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sees the details of the database health report (its URL, row
/// counts, size and migration): `HEALTH_DETAILS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthDetails {
    /// Everyone, as the Python system did.
    #[default]
    Public,
    /// Only callers that send a valid bearer token or API key; anonymous
    /// callers get the status, message, connection, type and latency.
    Authenticated,
}

impl HealthDetails {
    /// The value as written in `HEALTH_DETAILS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Authenticated => "authenticated",
        }
    }
}

impl fmt::Display for HealthDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A setting's value before typing: environment values are always text, TOML
/// values may be numbers, booleans or lists, which we read as their text.
#[derive(Debug)]
pub(crate) enum Raw {
    Text(String),
    List(Vec<String>),
}

impl Raw {
    /// Reads a layered figment value; fails (without echoing it) on tables.
    pub(crate) fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Array(_, items) => items
                .iter()
                .map(|item| {
                    scalar_text(item).ok_or_else(|| "a list may only hold plain values".to_owned())
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Raw::List),
            other => scalar_text(other)
                .map(Raw::Text)
                .ok_or_else(|| "is a table; expected a single value".to_owned()),
        }
    }

    fn text(&self) -> Result<&str, String> {
        match self {
            Raw::Text(text) => Ok(text),
            Raw::List(_) => Err("is a list; expected a single value".to_owned()),
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(_, s) => s.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => {
            if let Some(u) = n.to_u128() {
                u.to_string()
            } else if let Some(i) = n.to_i128() {
                i.to_string()
            } else {
                n.to_f64()?.to_string()
            }
        }
        Value::Empty(..) => String::new(),
        Value::Dict(..) | Value::Array(..) => return None,
    })
}

/// Quotes a non-secret value for an error message, shortened so a pasted blob
/// cannot flood the log.
fn quote(value: &str) -> String {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}…`", &value[..cut]),
        None => format!("`{value}`"),
    }
}

/// A type a setting can have: parsed from its raw form, shown in `config` output.
pub(crate) trait SettingValue: Sized {
    /// Parses the raw value; the error describes the problem and must not echo secrets.
    fn parse(raw: &Raw) -> Result<Self, String>;
    /// The value as an operator should see it (secrets redacted).
    fn show(&self) -> String;
}

impl SettingValue for String {
    fn parse(raw: &Raw) -> Result<Self, String> {
        raw.text().map(str::to_owned)
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl SettingValue for Secret {
    fn parse(raw: &Raw) -> Result<Self, String> {
        raw.text().map(Secret::new)
    }
    fn show(&self) -> String {
        "[REDACTED]".to_owned()
    }
}

macro_rules! unsigned_setting {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn parse(raw: &Raw) -> Result<Self, String> {
                let text = raw.text()?.trim();
                if text.is_empty() {
                    return Err(format!("is empty; expected a whole number from 0 to {}", <$ty>::MAX));
                }
                text.parse().map_err(|_| {
                    format!("{} is not a whole number from 0 to {}", quote(text), <$ty>::MAX)
                })
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
unsigned_setting!(u8, u16, u32, u64, usize);

impl SettingValue for bool {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!(
                "{} is not a boolean (use true/false, 1/0, yes/no or on/off)",
                quote(text)
            )),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for LogFormat {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        match text.to_ascii_lowercase().as_str() {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err(format!(
                "{} is not a log format (use pretty or json)",
                quote(text)
            )),
        }
    }
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

impl SettingValue for JwtAlgorithm {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        match text.to_ascii_uppercase().as_str() {
            "HS256" => Ok(Self::HS256),
            "HS384" => Ok(Self::HS384),
            "HS512" => Ok(Self::HS512),
            _ => Err(format!(
                "{} is not supported (use HS256, HS384 or HS512: tokens are signed with the shared JWT_SECRET_KEY)",
                quote(text)
            )),
        }
    }
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

impl SettingValue for SmtpTls {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        match text.to_ascii_lowercase().as_str() {
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            "none" => Ok(Self::None),
            _ => Err(format!(
                "{} is not a choice (use starttls, tls or none)",
                quote(text)
            )),
        }
    }
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

impl SettingValue for Option<u16> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        if raw.text()?.trim().is_empty() {
            return Ok(None);
        }
        u16::parse(raw).map(Some)
    }
    fn show(&self) -> String {
        self.map(|v| v.to_string()).unwrap_or_default()
    }
}

impl SettingValue for HealthDetails {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        match text.to_ascii_lowercase().as_str() {
            "public" => Ok(Self::Public),
            "authenticated" => Ok(Self::Authenticated),
            _ => Err(format!(
                "{} is not a choice (use public or authenticated)",
                quote(text)
            )),
        }
    }
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

impl SettingValue for DatabaseUrl {
    fn parse(raw: &Raw) -> Result<Self, String> {
        // The domain's reason never contains the URL (it may hold a password).
        DatabaseUrl::parse(raw.text()?).map_err(|e| {
            let text = e.to_string();
            text.strip_prefix("DATABASE_URL: ")
                .map_or_else(|| text.clone(), str::to_owned)
        })
    }
    fn show(&self) -> String {
        match self.kind() {
            // A SQLite URL holds no credentials; keep the scheme so it can be pasted back.
            DatabaseKind::Sqlite => self.connect_url(),
            DatabaseKind::Postgresql => self.redacted(),
        }
    }
}

impl SettingValue for Vec<IpAddr> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let items: Vec<&str> = match raw {
            Raw::Text(text) => text.split(',').collect(),
            Raw::List(items) => items.iter().map(String::as_str).collect(),
        };
        items
            .into_iter()
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse().map_err(|_| {
                    format!(
                        "{} is not an IP address (list addresses separated by commas; ranges are not supported)",
                        quote(item)
                    )
                })
            })
            .collect()
    }
    fn show(&self) -> String {
        self.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl SettingValue for Option<u32> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        if raw.text()?.trim().is_empty() {
            return Ok(None);
        }
        u32::parse(raw).map(Some)
    }
    fn show(&self) -> String {
        self.map(|v| v.to_string()).unwrap_or_default()
    }
}

impl SettingValue for Option<String> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }
    fn show(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

impl SettingValue for Option<Secret> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        Ok((!text.is_empty()).then(|| Secret::new(text)))
    }
    fn show(&self) -> String {
        if self.is_some() {
            "[REDACTED]".to_owned()
        } else {
            String::new()
        }
    }
}

impl SettingValue for Option<crate::SecretKeys> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        if text.is_empty() {
            return Ok(None);
        }
        crate::SecretKeys::parse(text).map(Some)
    }
    fn show(&self) -> String {
        self.as_ref().map(ToString::to_string).unwrap_or_default()
    }
}

impl SettingValue for Option<Schedule> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        if text.is_empty() {
            return Ok(None);
        }
        Schedule::parse(text).map(Some)
    }
    fn show(&self) -> String {
        self.as_ref().map(ToString::to_string).unwrap_or_default()
    }
}

impl SettingValue for Option<PathBuf> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }
    fn show(&self) -> String {
        self.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

impl SettingValue for Option<Uuid> {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        if text.is_empty() {
            return Ok(None);
        }
        Uuid::parse_str(text)
            .map(Some)
            .map_err(|_| format!("{} is not a UUID (leave it empty for none)", quote(text)))
    }
    fn show(&self) -> String {
        self.map(|v| v.to_string()).unwrap_or_default()
    }
}

/// The origins a browser may call the API from: `CORS_ORIGINS`, a JSON list
/// or a comma-separated list (TOML: an array). Each is `scheme://host[:port]`
/// with no path, as browsers send it in `Origin`; `*` allows every origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigins(pub Vec<String>);

impl Default for CorsOrigins {
    /// The original's: its web UI on port 3000.
    fn default() -> Self {
        Self(vec![
            "http://localhost:3000".to_owned(),
            "http://127.0.0.1:3000".to_owned(),
        ])
    }
}

/// Why `origin` is not what a browser sends in `Origin`, or `None`.
fn origin_problem(origin: &str) -> Option<String> {
    if origin == "*" {
        return None;
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some(format!(
            "{} is not an origin (expected scheme://host[:port], e.g. http://localhost:3000)",
            quote(origin)
        ));
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host_ok = !rest.is_empty()
        && !rest.ends_with(':')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if scheme_ok && host_ok {
        None
    } else {
        Some(format!(
            "{} is not an origin (expected scheme://host[:port] with no path or trailing slash)",
            quote(origin)
        ))
    }
}

impl SettingValue for CorsOrigins {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let items: Vec<String> = match raw {
            Raw::List(items) => items.clone(),
            Raw::Text(text) if text.trim_start().starts_with('[') => {
                serde_json::from_str::<Vec<String>>(text.trim()).map_err(|_| {
                    "is not a JSON list of strings (or write the origins separated by commas)"
                        .to_owned()
                })?
            }
            Raw::Text(text) => text.split(',').map(str::to_owned).collect(),
        };
        let origins: Vec<String> = items
            .iter()
            .map(|item| item.trim().trim_end_matches('/').to_owned())
            .filter(|item| !item.is_empty())
            .collect();
        if let Some(problem) = origins.iter().find_map(|o| origin_problem(o)) {
            return Err(problem);
        }
        Ok(Self(origins))
    }
    fn show(&self) -> String {
        self.0.join(",")
    }
}

/// The built-in `CORS_ORIGIN_REGEX`: any port of localhost over plain HTTP.
pub const DEFAULT_CORS_ORIGIN_REGEX: &str = r"^http://(localhost|127\.0\.0\.1)(:\d+)?$";

/// A pattern that whole origins are matched against: `CORS_ORIGIN_REGEX`
/// (empty: none). Checked when loaded, so a typo stops the start instead of
/// silently refusing every browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOriginRegex(pub Option<String>);

impl Default for CorsOriginRegex {
    fn default() -> Self {
        Self(Some(DEFAULT_CORS_ORIGIN_REGEX.to_owned()))
    }
}

impl SettingValue for CorsOriginRegex {
    fn parse(raw: &Raw) -> Result<Self, String> {
        let text = raw.text()?.trim();
        if text.is_empty() {
            return Ok(Self(None));
        }
        regex::Regex::new(text).map_err(|e| {
            // The crate's message quotes the pattern across lines; keep the last line, the reason.
            let reason = e.to_string();
            let reason = reason.lines().last().unwrap_or_default().trim().to_owned();
            format!(
                "{} is not a valid regular expression: {reason}",
                quote(text)
            )
        })?;
        Ok(Self(Some(text.to_owned())))
    }
    fn show(&self) -> String {
        self.0.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Raw {
        Raw::Text(s.to_owned())
    }

    #[test]
    fn booleans_accept_the_usual_spellings() {
        for yes in ["true", "TRUE", "1", "yes", "Yes", "on", " ON "] {
            assert!(bool::parse(&text(yes)).unwrap(), "{yes}");
        }
        for no in ["false", "False", "0", "no", "NO", "off", "Off"] {
            assert!(!bool::parse(&text(no)).unwrap(), "{no}");
        }
        let err = bool::parse(&text("maybe")).unwrap_err();
        assert!(err.contains("`maybe`") && err.contains("yes/no"), "{err}");
    }

    #[test]
    fn integers_state_their_range() {
        assert_eq!(u16::parse(&text(" 8080 ")).unwrap(), 8080);
        let err = u16::parse(&text("70000")).unwrap_err();
        assert!(err.contains("0 to 65535"), "{err}");
        assert!(u32::parse(&text("")).unwrap_err().contains("empty"));
        assert!(u32::parse(&Raw::List(vec![])).unwrap_err().contains("list"));
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "x".repeat(500);
        let err = u64::parse(&text(&long)).unwrap_err();
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn enums_are_case_insensitive() {
        assert_eq!(LogFormat::parse(&text("JSON")).unwrap(), LogFormat::Json);
        assert_eq!(
            JwtAlgorithm::parse(&text("hs512")).unwrap(),
            JwtAlgorithm::HS512
        );
        assert!(JwtAlgorithm::parse(&text("RS256")).is_err());
        assert_eq!(
            HealthDetails::parse(&text(" Authenticated ")).unwrap(),
            HealthDetails::Authenticated
        );
        let err = HealthDetails::parse(&text("private")).unwrap_err();
        assert!(
            err.contains("`private`") && err.contains("authenticated"),
            "{err}"
        );
    }

    #[test]
    fn options_treat_empty_as_none() {
        assert_eq!(Option::<u32>::parse(&text("")).unwrap(), None);
        assert_eq!(Option::<Uuid>::parse(&text("  ")).unwrap(), None);
        let id = Uuid::new_v4();
        assert_eq!(
            Option::<Uuid>::parse(&text(&id.to_string())).unwrap(),
            Some(id)
        );
        assert!(Option::<Uuid>::parse(&text("not-a-uuid")).is_err());
    }

    #[test]
    fn cors_origins_come_as_json_or_commas_and_are_checked() {
        let expected = vec!["http://a.test:3000".to_owned(), "https://b.test".to_owned()];
        for form in [
            r#"["http://a.test:3000", "https://b.test/"]"#,
            " http://a.test:3000 ,https://b.test,, ",
        ] {
            assert_eq!(
                CorsOrigins::parse(&text(form)).unwrap().0,
                expected,
                "{form}"
            );
        }
        let list = Raw::List(vec!["http://a.test:3000".into(), "https://b.test".into()]);
        assert_eq!(CorsOrigins::parse(&list).unwrap().0, expected);
        assert_eq!(CorsOrigins::parse(&text("*")).unwrap().0, vec!["*"]);
        for bad in [
            "localhost:3000",
            "http://a.test/app",
            "[\"http://a.test\"",
            "http://",
        ] {
            assert!(CorsOrigins::parse(&text(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cors_regex_must_compile_and_may_be_empty() {
        assert_eq!(CorsOriginRegex::parse(&text("")).unwrap().0, None);
        assert!(CorsOriginRegex::parse(&text(DEFAULT_CORS_ORIGIN_REGEX)).is_ok());
        let err = CorsOriginRegex::parse(&text("^http://(a")).unwrap_err();
        assert!(
            err.contains("`^http://(a`") && err.contains("regular expression"),
            "{err}"
        );
    }

    #[test]
    fn postgres_url_is_shown_without_password() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@db:5432/c").unwrap();
        assert!(!url.show().contains("hunter2"));
        let url = DatabaseUrl::parse("sqlite://./data/curatore.db").unwrap();
        assert_eq!(url.show(), "sqlite://./data/curatore.db");
    }
}
