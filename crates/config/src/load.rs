//! Reading the layers (files, `.env`, environment) and resolving each setting.

use crate::error::ConfigError;
use crate::settings::{Settings, VARIABLES};
use crate::values::{Raw, SettingValue};
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The variable that points the loader at another project root.
pub const CONFIG_DIR_VARIABLE: &str = "CURATORE_CONFIG_DIR";

/// Source label of a value nobody set.
const DEFAULT_SOURCE: &str = "default";

/// Where settings are read from: a project root and an environment snapshot.
///
/// Tests build one with a temporary directory and an explicit map, so they
/// never touch (or race on) the real process environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The project root: holds `config/` and `.env`.
    pub dir: PathBuf,
    /// The environment variables to read (a snapshot, not the live environment).
    pub env: BTreeMap<String, String>,
}

impl ConfigSource {
    /// The running process: its environment, and as root `CURATORE_CONFIG_DIR`
    /// if set, else the current directory.
    pub fn from_process() -> Self {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let dir = match env.get(CONFIG_DIR_VARIABLE) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        Self { dir, env }
    }

    /// An explicit root and environment, for tests and embedding services.
    pub fn new(dir: impl Into<PathBuf>, env: BTreeMap<String, String>) -> Self {
        Self {
            dir: dir.into(),
            env,
        }
    }
}

/// Settings together with what loading them noticed.
#[derive(Debug, Clone)]
pub struct LoadedSettings {
    /// The typed settings.
    pub settings: Settings,
    /// Things the operator should hear about that do not stop start-up
    /// (ignored variables, …); log them once the logger is up.
    pub warnings: Vec<String>,
    /// Where each variable's value came from, by variable name (`.env`,
    /// `environment`, `config/default.toml`, …); absent means the default.
    pub sources: BTreeMap<&'static str, String>,
}

/// One row of the `config` command's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingView {
    /// The variable as spelled in the environment (`DB_POOL_SIZE`).
    pub name: &'static str,
    /// The value, with secrets shown as `[REDACTED]` and database credentials removed.
    pub value: String,
    /// Where the value came from: `default`, `config/default.toml`, `.env`, `environment`, …
    pub source: String,
}

impl LoadedSettings {
    /// Wraps settings built in code (every value reported as `default`).
    pub fn from_settings(settings: Settings) -> Self {
        Self {
            settings,
            warnings: Vec::new(),
            sources: BTreeMap::new(),
        }
    }

    /// Every variable with its effective value and source, safe to print.
    pub fn describe(&self) -> Vec<SettingView> {
        self.settings
            .shown_values()
            .into_iter()
            .map(|(name, value)| SettingView {
                name,
                value,
                source: self
                    .sources
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_SOURCE.to_owned()),
            })
            .collect()
    }
}

impl Settings {
    /// Loads the settings of the running process: see [`Settings::load_from`].
    ///
    /// # Errors
    /// As [`Settings::load_from`].
    pub fn load() -> Result<LoadedSettings, ConfigError> {
        Self::load_from(&ConfigSource::from_process())
    }

    /// Loads settings from `src`, each layer overriding the one before:
    /// built-in defaults, `config/default.toml`, `config/<CURATORE_ENV>.toml`,
    /// `.env`, then the environment. `.env` never overrides the environment
    /// because the environment is the later layer. Missing files are skipped.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when a value is malformed or out of range,
    /// [`ConfigError::UnknownKey`] when a TOML file holds a key that is not a
    /// setting, [`ConfigError::File`] when a file exists but cannot be read or
    /// parsed.
    pub fn load_from(src: &ConfigSource) -> Result<LoadedSettings, ConfigError> {
        let mut warnings = Vec::new();
        let default_toml = toml_layer(&src.dir, "default")?;
        let dotenv = dotenv_layer(&src.dir, &mut warnings)?;
        let environment = Some(Layer {
            label: "environment".to_owned(),
            origin: "environment variable".to_owned(),
            dict: known_variables(&src.env),
        });

        // CURATORE_ENV picks the next file, so it is read from the other layers first.
        let selector = [&default_toml, &dotenv, &environment]
            .into_iter()
            .flatten()
            .fold(Figment::new(), |f, layer| f.merge(layer.clone()));
        let profile = resolve_profile(&selector, &[&default_toml, &dotenv, &environment])?;
        let profile_toml = if profile == "default" {
            None
        } else {
            toml_layer(&src.dir, &profile)?
        };
        if let Some(layer) = &profile_toml
            && layer.dict.contains_key("curatore_env")
        {
            return Err(ConfigError::UnknownKey {
                key: "curatore_env".to_owned(),
                file: layer.origin.clone(),
                hint: "CURATORE_ENV selects this file, so it cannot be set inside it".to_owned(),
            });
        }

        let layers: Vec<Layer> = [default_toml, profile_toml, dotenv, environment]
            .into_iter()
            .flatten()
            .collect();
        let mut resolver = Resolver {
            figment: layers
                .iter()
                .fold(Figment::new(), |f, layer| f.merge(layer.clone())),
            origins: layers
                .iter()
                .map(|l| (l.label.clone(), l.origin.clone()))
                .collect(),
            sources: BTreeMap::new(),
        };
        let settings = Settings::resolve(&mut resolver)?;
        resolver.check_rules(&settings)?;

        if settings.bcrypt_rounds.is_some() {
            warnings.push(
                "BCRYPT_ROUNDS is ignored; passwords use argon2id \
                 (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM)"
                    .to_owned(),
            );
        }
        Ok(LoadedSettings {
            settings,
            warnings,
            sources: resolver.sources,
        })
    }
}

/// One configuration layer, handed to figment with a label that later tells
/// where a value came from.
#[derive(Debug, Clone)]
struct Layer {
    /// Short name for the `config` view (`.env`, `config/production.toml`).
    label: String,
    /// Full description for errors (`.env file at /srv/curatore/.env`).
    origin: String,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.label.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Keeps only the variables Curatore knows, under their lower-case keys; the
/// environment and `.env` hold plenty of unrelated names.
fn known_variables(vars: &BTreeMap<String, String>) -> Dict {
    VARIABLES
        .iter()
        .filter_map(|(env, key)| {
            vars.get(*env)
                .map(|v| ((*key).to_owned(), Value::from(v.as_str())))
        })
        .collect()
}

/// Reads `config/<name>.toml` if it exists, refusing keys that are not settings.
fn toml_layer(dir: &Path, name: &str) -> Result<Option<Layer>, ConfigError> {
    let label = format!("config/{name}.toml");
    let path = dir.join(&label);
    let origin = path.display().to_string();
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
        file: origin.clone(),
        problem: e.to_string(),
    })?;
    let dict: Dict = Toml::from_str(&text).map_err(|e| ConfigError::File {
        file: origin.clone(),
        // The message and position only: toml's full text quotes the line, which may hold a secret.
        problem: match e.span() {
            Some(span) => {
                let (line, column) = line_and_column(&text, span.start);
                format!(
                    "TOML syntax error at line {line}, column {column}: {}",
                    e.message().trim().replace('\n', "; ")
                )
            }
            None => format!("TOML error: {}", e.message().trim().replace('\n', "; ")),
        },
    })?;
    for key in dict.keys() {
        if !VARIABLES.iter().any(|(_, k)| k == key) {
            return Err(ConfigError::UnknownKey {
                key: key.clone(),
                file: origin,
                hint: unknown_key_hint(key),
            });
        }
    }
    Ok(Some(Layer {
        label,
        origin,
        dict,
    }))
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn unknown_key_hint(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    if VARIABLES.iter().any(|(_, k)| *k == lower) {
        format!("keys are the lower-case variable names; write `{lower}`")
    } else {
        "keys are the lower-case variable names listed in docs/configuration.md \
         (e.g. `db_pool_size` for DB_POOL_SIZE)"
            .to_owned()
    }
}

/// Reads `.env` if it exists, without touching the process environment.
fn dotenv_layer(dir: &Path, warnings: &mut Vec<String>) -> Result<Option<Layer>, ConfigError> {
    let path = dir.join(".env");
    if !path.exists() {
        return Ok(None);
    }
    let origin = format!(".env file at {}", path.display());
    let file_error = |problem: String| ConfigError::File {
        file: origin.clone(),
        problem,
    };
    let iter = dotenvy::from_path_iter(&path).map_err(|e| file_error(e.to_string()))?;
    let mut vars = BTreeMap::new();
    for item in iter {
        match item {
            Ok((key, value)) => {
                if !VARIABLES.iter().any(|(env, _)| *env == key)
                    && let Some((env, _)) = VARIABLES
                        .iter()
                        .find(|(env, _)| env.eq_ignore_ascii_case(&key))
                {
                    warnings.push(format!(
                        "{origin}: `{key}` is ignored; variable names are upper-case ({env})"
                    ));
                }
                vars.insert(key, value);
            }
            Err(dotenvy::Error::LineParse(line, _)) => {
                // dotenvy's own message quotes the line, which may hold a secret.
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let first = line.lines().next().unwrap_or_default().trim();
                let problem = match text
                    .lines()
                    .position(|l| !first.is_empty() && l.contains(first))
                {
                    Some(n) => format!("line {} is not `NAME=value`", n + 1),
                    None => "a line is not `NAME=value`".to_owned(),
                };
                return Err(file_error(problem));
            }
            Err(e) => return Err(file_error(e.to_string())),
        }
    }
    Ok(Some(Layer {
        label: ".env".to_owned(),
        origin,
        dict: known_variables(&vars),
    }))
}

/// The `CURATORE_ENV` value, checked because it becomes part of a file path.
fn resolve_profile(figment: &Figment, layers: &[&Option<Layer>]) -> Result<String, ConfigError> {
    let Ok(value) = figment.find_value("curatore_env") else {
        return Ok(Settings::default().curatore_env);
    };
    let origin = origin_of(figment, "curatore_env", layers.iter().copied().flatten());
    let invalid = |problem: String| ConfigError::Invalid {
        variable: "CURATORE_ENV",
        origin: origin.clone(),
        problem,
    };
    let name = Raw::from_value(&value)
        .and_then(|raw| String::parse(&raw))
        .map_err(invalid)?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(format!(
            "`{name}` is not a valid name: it selects config/<CURATORE_ENV>.toml, so use only \
             letters, digits, `-` and `_`"
        )));
    }
    Ok(name)
}

fn origin_of<'a>(figment: &Figment, key: &str, layers: impl Iterator<Item = &'a Layer>) -> String {
    let label = figment
        .find_metadata(key)
        .map(|m| m.name.to_string())
        .unwrap_or_default();
    layers
        .into_iter()
        .find(|l| l.label == label)
        .map_or(label, |l| l.origin.clone())
}

/// Looks each setting up in the layered figment and parses it.
pub(crate) struct Resolver {
    figment: Figment,
    /// Layer label → full origin for error messages.
    origins: HashMap<String, String>,
    sources: BTreeMap<&'static str, String>,
}

impl Resolver {
    /// The value of `key` from the highest layer that sets it, or `default`.
    pub(crate) fn get<T: SettingValue>(
        &mut self,
        env: &'static str,
        key: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        let Ok(value) = self.figment.find_value(key) else {
            return Ok(default);
        };
        let label = self
            .figment
            .find_metadata(key)
            .map(|m| m.name.to_string())
            .unwrap_or_default();
        let parsed = Raw::from_value(&value)
            .and_then(|raw| T::parse(&raw))
            .map_err(|problem| ConfigError::Invalid {
                variable: env,
                origin: self.origin(&label),
                problem,
            })?;
        self.sources.insert(env, label);
        Ok(parsed)
    }

    fn origin(&self, label: &str) -> String {
        self.origins
            .get(label)
            .cloned()
            .unwrap_or_else(|| label.to_owned())
    }

    /// Rules that span a type's range: values that parse but cannot work.
    fn check_rules(&self, s: &Settings) -> Result<(), ConfigError> {
        let at_least_one: [(&'static str, u64); 10] = [
            ("DB_POOL_SIZE", s.db_pool().0.into()),
            ("ARGON2_ITERATIONS", s.argon2_iterations.into()),
            ("ARGON2_PARALLELISM", s.argon2_parallelism.into()),
            (
                "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
                s.jwt_access_token_expire_minutes,
            ),
            (
                "JWT_REFRESH_TOKEN_EXPIRE_DAYS",
                s.jwt_refresh_token_expire_days,
            ),
            ("PASSWORD_MIN_LENGTH", s.password_min_length as u64),
            (
                "REGISTRATION_LIMIT_PER_IP",
                s.registration_limit_per_ip.into(),
            ),
            (
                "REGISTRATION_LIMIT_WINDOW_SECONDS",
                s.registration_limit_window_seconds,
            ),
            ("RATE_LIMIT_WINDOW_SECONDS", s.rate_limit_window_seconds),
            ("BACKUP_KEEP", s.backup_keep.into()),
        ];
        for (variable, value) in at_least_one {
            if value == 0 {
                return Err(self.invalid(variable, "must be at least 1".to_owned()));
            }
        }
        // Start-up holds one connection for its lock while migrating with
        // another; a pool of one would wait for itself.
        if s.database_url.kind() == curatore_domain::DatabaseKind::Postgresql
            && s.db_max_connections() < 2
        {
            return Err(self.invalid(
                "DB_MAX_OVERFLOW",
                "DB_POOL_SIZE + DB_MAX_OVERFLOW must be at least 2 with PostgreSQL (start-up holds one connection for its lock while migrating with another)".to_owned(),
            ));
        }
        if s.audit_retention_days == Some(0) {
            return Err(self.invalid(
                "AUDIT_RETENTION_DAYS",
                "must be at least 1 (leave it unset to keep entries forever)".to_owned(),
            ));
        }
        // The server copies SQLite files; PostgreSQL has its own tools.
        if s.backup_schedule.is_some()
            && s.database_url.kind() == curatore_domain::DatabaseKind::Postgresql
        {
            return Err(self.invalid(
                "BACKUP_SCHEDULE",
                "scheduled backups are for SQLite databases; back PostgreSQL up with its own \
                 tools (pg_dump, or base backups with WAL archiving; docs/operations.md) and \
                 leave BACKUP_SCHEDULE unset"
                    .to_owned(),
            ));
        }
        if s.refresh_token_reuse_interval_seconds > 60 {
            return Err(self.invalid(
                "REFRESH_TOKEN_REUSE_INTERVAL_SECONDS",
                "must be at most 60 (0 disables the grace)".to_owned(),
            ));
        }
        // A day is the longest window whose counts a restart can afford to lose.
        if s.rate_limit_window_seconds > 86_400 {
            return Err(self.invalid(
                "RATE_LIMIT_WINDOW_SECONDS",
                "must be at most 86400 (a day)".to_owned(),
            ));
        }
        if !(32..=128).contains(&s.rate_limit_ipv6_prefix) {
            return Err(self.invalid(
                "RATE_LIMIT_IPV6_PREFIX",
                "must be from 32 to 128 (the length of the IPv6 network counted as one client; 64 is one subscriber's network)".to_owned(),
            ));
        }
        if let Some(proxy) = &s.connections_test_proxy
            && let Some(problem) = proxy_problem(proxy.expose())
        {
            return Err(self.invalid("CONNECTIONS_TEST_PROXY", problem.to_owned()));
        }
        self.check_mail(s)?;
        // argon2 refuses less than 8 KiB per lane; say so now rather than at the first login.
        let min_memory = u64::from(s.argon2_parallelism) * 8;
        if u64::from(s.argon2_memory_kib) < min_memory {
            return Err(self.invalid(
                "ARGON2_MEMORY_KIB",
                format!("must be at least 8 × ARGON2_PARALLELISM = {min_memory} KiB"),
            ));
        }
        Ok(())
    }

    /// The SMTP settings hang together: with `SMTP_HOST`, a sender and a
    /// public URL; no plain connection beyond this machine; no password
    /// without a user; no SMTP detail without a host.
    fn check_mail(&self, s: &Settings) -> Result<(), ConfigError> {
        for (variable, value) in [
            ("MAIL_MAX_ATTEMPTS", u64::from(s.mail_max_attempts)),
            ("MAIL_RETRY_BASE_SECONDS", s.mail_retry_base_seconds),
            ("SMTP_TIMEOUT_SECONDS", s.smtp_timeout_seconds),
        ] {
            if value == 0 {
                return Err(self.invalid(variable, "must be at least 1".to_owned()));
            }
        }
        if s.smtp_port == Some(0) {
            return Err(self.invalid("SMTP_PORT", "must be from 1 to 65535".to_owned()));
        }
        let Some(host) = &s.smtp_host else {
            for (variable, set) in [
                ("SMTP_USERNAME", s.smtp_username.is_some()),
                ("SMTP_PASSWORD", s.smtp_password.is_some()),
                ("SMTP_PORT", s.smtp_port.is_some()),
                ("SMTP_CA_FILE", s.smtp_ca_file.is_some()),
            ] {
                if set {
                    return Err(self.invalid(
                        variable,
                        "is set but SMTP_HOST is not; set SMTP_HOST to send mail".to_owned(),
                    ));
                }
            }
            return Ok(());
        };
        if host.contains(char::is_whitespace) || host.contains('/') {
            return Err(self.invalid(
                "SMTP_HOST",
                "must be a host name or address, without a scheme or path".to_owned(),
            ));
        }
        if s.smtp_tls == crate::SmtpTls::None && !is_loopback(host) {
            return Err(self.invalid(
                "SMTP_TLS",
                format!(
                    "none sends mail (and SMTP_PASSWORD) in the clear; it is allowed only to a                      server on this machine (localhost, 127.0.0.1, ::1), not to {host}; use                      starttls or tls"
                ),
            ));
        }
        if s.smtp_password.is_some() && s.smtp_username.is_none() {
            return Err(self.invalid("SMTP_USERNAME", "must be set with SMTP_PASSWORD".to_owned()));
        }
        match &s.mail_from {
            None => {
                return Err(self.invalid(
                    "MAIL_FROM",
                    "must be set when SMTP_HOST is (the sender of every mail,                      e.g. `Curatore <curatore@example.com>`)"
                        .to_owned(),
                ));
            }
            Some(from) if !from.contains('@') => {
                return Err(self.invalid(
                    "MAIL_FROM",
                    "must be an e-mail address (`Name <address>` or `address`)".to_owned(),
                ));
            }
            Some(_) => {}
        }
        match s.public_url.as_deref() {
            None => Err(self.invalid(
                "PUBLIC_URL",
                "must be set when SMTP_HOST is (the address people reach the console at;                  links in mail point there)"
                    .to_owned(),
            )),
            Some(url) if public_url_problem(url) => Err(self.invalid(
                "PUBLIC_URL",
                "must be an http:// or https:// URL without query or fragment                  (e.g. https://curatore.example.com)"
                    .to_owned(),
            )),
            Some(_) => Ok(()),
        }
    }

    fn invalid(&self, variable: &'static str, problem: String) -> ConfigError {
        let origin = match self.sources.get(variable) {
            Some(label) => self.origin(label),
            None => "built-in default".to_owned(),
        };
        ConfigError::Invalid {
            variable,
            origin,
            problem,
        }
    }
}

/// Whether `host` names this machine.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` is unusable as the base of links.
fn public_url_problem(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        None => true,
        Some(rest) => {
            rest.is_empty()
                || rest.starts_with('/')
                || rest.contains(['?', '#'])
                || url.chars().any(char::is_whitespace)
        }
    }
}

/// Why a proxy URL cannot be used, or `None`; never quotes it (it may hold a
/// password).
fn proxy_problem(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let Some(rest) = rest else {
        return Some("must be an http:// or https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return Some("must name the proxy's host (http://host:port)");
    }
    None
}
