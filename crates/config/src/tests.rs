//! Loading tests: each builds its own directory and environment map, so they
//! run in parallel and never touch the real process environment.

use super::*;
use curatore_domain::{DatabaseKind, DatabaseUrl};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A scratch project root, removed when the test ends.
struct Root(PathBuf);

impl Root {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("curatore-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("config")).unwrap();
        Self(dir)
    }

    fn write(&self, relative: &str, text: &str) -> &Self {
        std::fs::write(self.0.join(relative), text).unwrap();
        self
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn load(&self, env: &[(&str, &str)]) -> Result<LoadedSettings, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(&ConfigSource::new(&self.0, env))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn source_of(loaded: &LoadedSettings, name: &str) -> String {
    loaded
        .describe()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap()
        .source
}

#[test]
fn empty_root_gives_the_defaults() {
    let root = Root::new();
    let loaded = root.load(&[]).unwrap();
    let s = &loaded.settings;
    assert!(loaded.warnings.is_empty());
    assert_eq!(s.host, "127.0.0.1");
    assert_eq!(s.port, 8000);
    assert_eq!(s.log_level, "info");
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert_eq!(s.curatore_env, "development");
    assert!(s.auto_migrate);
    assert_eq!(
        s.database_url,
        DatabaseUrl::parse(DEFAULT_DATABASE_URL).unwrap()
    );
    assert_eq!((s.db_pool_size, s.db_max_overflow), (None, None));
    let cores = std::thread::available_parallelism().unwrap().get() as u32;
    assert_eq!(
        s.db_pool(),
        ((cores * 2).clamp(4, 20), (cores * 2).clamp(4, 40))
    );
    assert_eq!(s.db_max_connections(), s.db_pool().0 + s.db_pool().1);
    assert_eq!(s.db_pool_recycle, 3600);
    assert_eq!(s.jwt_secret_key.expose(), JWT_SECRET_PLACEHOLDER);
    assert_eq!(s.jwt_algorithm, JwtAlgorithm::HS256);
    assert_eq!(s.jwt_access_token_expire_minutes, 30);
    assert_eq!(s.jwt_refresh_token_expire_days, 7);
    assert_eq!(
        (
            s.argon2_memory_kib,
            s.argon2_iterations,
            s.argon2_parallelism
        ),
        (19456, 2, 1)
    );
    assert_eq!(s.bcrypt_rounds, None);
    assert!(!s.enable_auth);
    assert_eq!(s.default_org_id, None);
    assert!(s.trusted_proxies.is_empty());
    assert_eq!(s.admin_password.expose(), "changeme");
    assert_eq!(s.default_org_slug, "default");
    assert_eq!(s.bind_address(), "127.0.0.1:8000");
    assert!(loaded.describe().iter().all(|v| v.source == "default"));
    // `Default` and an empty load agree.
    assert_eq!(format!("{:?}", Settings::default()), format!("{s:?}"));
}

#[test]
fn every_variable_is_described_once_under_its_upper_case_name() {
    let views = LoadedSettings::from_settings(Settings::default()).describe();
    assert_eq!(views.len(), settings::VARIABLES.len());
    for ((env, key), view) in settings::VARIABLES.iter().zip(&views) {
        assert_eq!(*env, key.to_ascii_uppercase());
        assert_eq!(view.name, *env);
    }
    let value = |name: &str| views.iter().find(|v| v.name == name).unwrap().value.clone();
    assert_eq!(value("JWT_SECRET_KEY"), "[REDACTED]");
    assert_eq!(value("ADMIN_PASSWORD"), "[REDACTED]");
    assert_eq!(value("DATABASE_URL"), DEFAULT_DATABASE_URL);
    assert_eq!(value("DEFAULT_ORG_ID"), "");
}

#[test]
fn each_layer_overrides_the_one_before() {
    let root = Root::new();
    root.write(
        "config/default.toml",
        "port = 8001\nhost = \"0.0.0.0\"\nlog_level = \"debug\"\ndb_pool_size = 3\nenable_auth = true\n",
    )
    .write(
        "config/development.toml",
        "port = 8002\nlog_level = \"warn\"\ndb_pool_size = 4\n",
    )
    .write(".env", "LOG_LEVEL=error\nDB_POOL_SIZE=5\n");
    let loaded = root.load(&[("DB_POOL_SIZE", "6")]).unwrap();
    let s = &loaded.settings;
    assert_eq!(s.host, "0.0.0.0");
    assert!(s.enable_auth);
    assert_eq!(s.port, 8002);
    assert_eq!(s.log_level, "error");
    assert_eq!(s.db_pool_size, Some(6));
    assert_eq!(source_of(&loaded, "HOST"), "config/default.toml");
    assert_eq!(source_of(&loaded, "PORT"), "config/development.toml");
    assert_eq!(source_of(&loaded, "LOG_LEVEL"), ".env");
    assert_eq!(source_of(&loaded, "DB_POOL_SIZE"), "environment");
    assert_eq!(source_of(&loaded, "JWT_ISSUER"), "default");
}

#[test]
fn dotenv_never_overrides_the_environment() {
    let root = Root::new();
    root.write(".env", "PORT=9000\nJWT_ISSUER=from-dotenv\n");
    let s = root.load(&[("PORT", "9100")]).unwrap().settings;
    assert_eq!(s.port, 9100);
    assert_eq!(s.jwt_issuer, "from-dotenv");
}

#[test]
fn curatore_env_selects_its_file_from_any_higher_layer() {
    let root = Root::new();
    root.write("config/production.toml", "log_format = \"json\"\n")
        .write("config/staging.toml", "port = 7000\n");
    let s = root
        .load(&[("CURATORE_ENV", "production")])
        .unwrap()
        .settings;
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.curatore_env, "production");

    root.write(".env", "CURATORE_ENV=staging\n");
    let s = root.load(&[]).unwrap().settings;
    assert_eq!(s.port, 7000);
    assert_eq!(s.log_format, LogFormat::Pretty);

    // A missing file for the chosen environment is fine.
    let s = root.load(&[("CURATORE_ENV", "test")]).unwrap().settings;
    assert_eq!(s.curatore_env, "test");
}

#[test]
fn curatore_env_must_be_a_plain_name() {
    let root = Root::new();
    let err = root.load(&[("CURATORE_ENV", "../secrets")]).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                variable: "CURATORE_ENV",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn curatore_env_cannot_be_set_in_its_own_file() {
    let root = Root::new();
    root.write("config/production.toml", "curatore_env = \"staging\"\n");
    let err = root.load(&[("CURATORE_ENV", "production")]).unwrap_err();
    assert!(err.to_string().contains("curatore_env"), "{err}");
}

#[test]
fn bad_values_name_the_variable_the_problem_and_the_source() {
    let root = Root::new();
    let err = root
        .load(&[("DB_POOL_SIZE", "abc")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid DB_POOL_SIZE from environment variable: `abc` is not a whole number from 0 to 4294967295"
    );

    root.write(".env", "ENABLE_AUTH=maybe\n");
    let err = root.load(&[]).unwrap_err().to_string();
    let dotenv = root.path().join(".env");
    assert!(
        err.starts_with(&format!(
            "invalid ENABLE_AUTH from .env file at {}",
            dotenv.display()
        )),
        "{err}"
    );
    assert!(err.contains("`maybe` is not a boolean"), "{err}");
    std::fs::remove_file(&dotenv).unwrap();

    let err = root
        .load(&[("DATABASE_URL", "mysql://x")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid DATABASE_URL from environment variable: unknown scheme"),
        "{err}"
    );
    assert!(err.contains("accepted forms"), "{err}");

    root.write("config/default.toml", "port = \"eighty\"\n");
    let err = root.load(&[]).unwrap_err().to_string();
    let file = root.path().join("config/default.toml");
    assert!(
        err.starts_with(&format!("invalid PORT from {}:", file.display())),
        "{err}"
    );
}

#[test]
fn values_that_parse_but_cannot_work_are_refused() {
    let root = Root::new();
    let err = root.load(&[("DB_POOL_SIZE", "0")]).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid DB_POOL_SIZE from environment variable: must be at least 1"
    );
    let err = root
        .load(&[("ARGON2_PARALLELISM", "4"), ("ARGON2_MEMORY_KIB", "16")])
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                variable: "ARGON2_MEMORY_KIB",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_toml_keys_name_the_key_and_the_file() {
    let root = Root::new();
    root.write("config/default.toml", "db_pool_sise = 3\n");
    let err = root.load(&[]).unwrap_err();
    let file = root
        .path()
        .join("config/default.toml")
        .display()
        .to_string();
    assert!(
        matches!(&err, ConfigError::UnknownKey { key, file: f, .. } if key == "db_pool_sise" && *f == file),
        "{err}"
    );
    assert!(err.to_string().contains(&file));

    root.write("config/default.toml", "DB_POOL_SIZE = 3\n");
    let err = root.load(&[]).unwrap_err().to_string();
    assert!(err.contains("write `db_pool_size`"), "{err}");

    root.write("config/default.toml", "[database]\nurl = \"sqlite:x.db\"\n");
    assert!(matches!(
        root.load(&[]),
        Err(ConfigError::UnknownKey { .. })
    ));
}

#[test]
fn unrelated_environment_and_dotenv_names_are_ignored() {
    let root = Root::new();
    root.write(".env", "OPENAI_API_KEY=sk-x\nport=1\n");
    let loaded = root.load(&[("PATH", "/bin"), ("port", "2")]).unwrap();
    assert_eq!(loaded.settings.port, 8000);
    // A lower-case spelling in .env is probably a mistake worth pointing out.
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("(PORT)"));
}

#[test]
fn secrets_never_appear_in_debug_errors_or_describe() {
    let root = Root::new();
    let jwt = "jwt-secret-value-that-must-stay-hidden-0123456789";
    let admin = "admin-password-hidden";
    root.write(
        ".env",
        &format!("JWT_SECRET_KEY={jwt}\nADMIN_PASSWORD={admin}\n"),
    );
    let url = "postgresql+asyncpg://curatore:dbpass-hidden@db:5432/curatore";
    let loaded = root.load(&[("DATABASE_URL", url)]).unwrap();
    assert_eq!(loaded.settings.jwt_secret_key.expose(), jwt);
    assert_eq!(
        loaded.settings.database_url.kind(),
        DatabaseKind::Postgresql
    );
    let shown = format!("{:?}{:?}", loaded, loaded.describe());
    for secret in [jwt, admin, "dbpass-hidden"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("postgresql://db:5432/curatore"));

    // An error in another variable does not drag secrets along.
    let err = root
        .load(&[("DATABASE_URL", "postgresql+odbc://u:dbpass-hidden@h/d")])
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("dbpass-hidden"), "{text}");

    // A TOML syntax error reports a position, not the offending line.
    root.write(
        "config/default.toml",
        "jwt_secret_key = unquoted-hidden-secret\n",
    );
    let err = root.load(&[]).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, ConfigError::File { .. }), "{text}");
    assert!(text.contains("line 1"), "{text}");
    assert!(!text.contains("unquoted-hidden-secret"), "{text}");

    // So does a malformed .env line.
    std::fs::remove_file(root.path().join("config/default.toml")).unwrap();
    root.write(".env", "PORT=1\nJWT_SECRET_KEY 'broken-hidden-secret\n");
    let err = root.load(&[]).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, ConfigError::File { .. }), "{text}");
    assert!(!text.contains("broken-hidden-secret"), "{text}");
}

#[test]
fn bcrypt_rounds_is_accepted_but_warns() {
    let root = Root::new();
    let loaded = root.load(&[("BCRYPT_ROUNDS", "12")]).unwrap();
    assert_eq!(loaded.settings.bcrypt_rounds, Some(12));
    assert_eq!(
        loaded.warnings,
        vec![
            "BCRYPT_ROUNDS is ignored; passwords use argon2id \
             (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM)"
                .to_owned()
        ]
    );
    let loaded = root.load(&[("BCRYPT_ROUNDS", "")]).unwrap();
    assert!(loaded.warnings.is_empty());
}

#[test]
fn trusted_proxies_come_as_a_comma_list_or_a_toml_array() {
    let root = Root::new();
    let s = root
        .load(&[("TRUSTED_PROXIES", "10.0.0.1, ::1,,192.168.1.2 ")])
        .unwrap()
        .settings;
    let expected: Vec<IpAddr> = ["10.0.0.1", "::1", "192.168.1.2"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(s.trusted_proxies, expected);

    root.write(
        "config/default.toml",
        "trusted_proxies = [\"10.0.0.1\", \"::1\", \"192.168.1.2\"]\n",
    );
    assert_eq!(root.load(&[]).unwrap().settings.trusted_proxies, expected);
    assert_eq!(
        root.load(&[("TRUSTED_PROXIES", "")])
            .unwrap()
            .settings
            .trusted_proxies,
        Vec::<IpAddr>::new()
    );

    let err = root
        .load(&[("TRUSTED_PROXIES", "10.0.0.0/8")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TRUSTED_PROXIES") && err.contains("`10.0.0.0/8`"),
        "{err}"
    );
}

#[test]
fn optional_values_treat_empty_as_unset() {
    let root = Root::new();
    let id = uuid::Uuid::new_v4();
    let s = root
        .load(&[("DEFAULT_ORG_ID", &id.to_string())])
        .unwrap()
        .settings;
    assert_eq!(s.default_org_id, Some(id));
    let s = root.load(&[("DEFAULT_ORG_ID", "")]).unwrap().settings;
    assert_eq!(s.default_org_id, None);
}

#[test]
fn jwt_secret_problem_flags_the_placeholder_and_short_keys() {
    let mut s = Settings::default();
    let problem = s.jwt_secret_problem().unwrap();
    assert!(problem.contains("placeholder"));
    assert!(!problem.contains(JWT_SECRET_PLACEHOLDER));

    s.jwt_secret_key = curatore_domain::Secret::new("short-secret");
    let problem = s.jwt_secret_problem().unwrap();
    assert!(problem.contains("32 bytes") && !problem.contains("short-secret"));

    s.jwt_secret_key = curatore_domain::Secret::new("");
    assert!(s.jwt_secret_problem().unwrap().contains("empty"));

    s.jwt_secret_key = curatore_domain::Secret::new("WDunatHVLK5gP67evKt140tNEdE1Hf6/BPuO1+nJwE8=");
    assert_eq!(s.jwt_secret_problem(), None);
}

/// The problem `key` has, checked never to contain the key.
fn secret_problem(key: &str) -> Option<String> {
    let s = Settings {
        jwt_secret_key: curatore_domain::Secret::new(key),
        ..Settings::default()
    };
    let problem = s.jwt_secret_problem();
    if let Some(text) = &problem {
        assert!(text.starts_with("JWT_SECRET_KEY "), "{text}");
        assert!(!text.contains(key), "the key is echoed: {text}");
    }
    problem
}

#[test]
fn jwt_secret_problem_refuses_published_placeholders_in_any_case_repeated_or_padded() {
    for key in [
        // The Python system's .env.example: 36 bytes, so the length rule missed it.
        "your-secret-key-change-in-production",
        "YOUR-SECRET-KEY-CHANGE-IN-PRODUCTION",
        "  Your-Secret-Key-Change-In-Production  ",
        "your-secret-key-change-in-production-2024",
        "your-secret-key-change-in-productionyour-secret-key-change-in-production",
        "CHANGE-ME-IN-PRODUCTION-USE-A-LONG-RANDOM-STRING",
        "change-me-change-me-change-me-change-me",
        "secretsecretsecretsecretsecretsecret",
        "super-secret-key-for-jwt-secret-key-123",
        "your-256-bit-secret-your-256-bit-secret",
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    ] {
        let problem = secret_problem(key).unwrap_or_else(|| panic!("{key} accepted"));
        assert!(problem.contains("placeholder"), "{key}: {problem}");
    }
}

#[test]
fn jwt_secret_problem_refuses_predictable_keys() {
    for (key, expected) in [
        ("x".repeat(JWT_SECRET_MIN_BYTES), "different characters"),
        ("ab12".repeat(10), "different characters"),
        (
            "0123456789abcdef0123456789abcdef".to_owned(),
            "repeats a short pattern",
        ),
        (
            "passwordpasswordpasswordpassword1".to_owned(),
            "placeholder",
        ),
        ("qwertzuiop".repeat(4), "repeats a short pattern"),
        (
            format!("{}bcdefghij", "a".repeat(40)),
            "repeats a short pattern",
        ),
        (
            "xaaa4aaaakaa7apaa89aaaaada72aalaaaaaiaa5".to_owned(),
            "mostly the same few characters",
        ),
    ] {
        let problem = secret_problem(&key).unwrap_or_else(|| panic!("{key} accepted"));
        assert!(problem.contains(expected), "{key}: {problem}");
    }
}

#[test]
fn jwt_secret_problem_accepts_random_keys_and_the_test_keys() {
    for key in [
        // `openssl rand -base64 48`, `-base64 32`, `-hex 32`, `-hex 16`.
        "ri/xiyL307oA5LhnGXwmGQpKOGvj4SRc8rqNHUeBwBKX64cKcMdk6Yvqtum1TBPL",
        "WDunatHVLK5gP67evKt140tNEdE1Hf6/BPuO1+nJwE8=",
        "365cfc4e0ed981a62c137cd6c6a96ecf170b3ffff5eb2ef308b22e5c761b17d1",
        "886834c202fd4d78a408d3fefd030c96",
        // The keys of the black-box tests and the benchmark's prefix.
        "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye",
        "k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye-extra",
        "bench-secret-ri/xiyL307oA5LhnGXwmGQpKOGvj4SRc8rqN",
    ] {
        assert_eq!(secret_problem(key), None, "{key}");
    }
    // Hex and UUID keys from a random source, many times over.
    for _ in 0..2000 {
        let id = uuid::Uuid::new_v4();
        let hex = id.simple().to_string();
        assert_eq!(secret_problem(&hex), None, "{hex}");
        let dashed = id.hyphenated().to_string();
        assert_eq!(secret_problem(&dashed), None, "{dashed}");
    }
}

#[test]
fn health_details_are_public_unless_set() {
    let root = Root::new();
    let loaded = root.load(&[]).unwrap();
    assert_eq!(loaded.settings.health_details, HealthDetails::Public);
    assert_eq!(source_of(&loaded, "HEALTH_DETAILS"), "default");
    let s = root
        .load(&[("HEALTH_DETAILS", "authenticated")])
        .unwrap()
        .settings;
    assert_eq!(s.health_details, HealthDetails::Authenticated);
    let err = root
        .load(&[("HEALTH_DETAILS", "private")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid HEALTH_DETAILS from environment variable:"),
        "{err}"
    );
}

#[test]
fn bind_address_brackets_ipv6() {
    let s = Settings {
        host: "::1".to_owned(),
        port: 0,
        ..Settings::default()
    };
    assert_eq!(s.bind_address(), "[::1]:0");
}

#[test]
fn sqlalchemy_database_urls_from_old_deployments_load() {
    let root = Root::new();
    let s = root
        .load(&[("DATABASE_URL", "sqlite+aiosqlite:///./data/curatore.db")])
        .unwrap()
        .settings;
    assert_eq!(
        s.database_url.sqlite_path(),
        Some(Path::new("./data/curatore.db"))
    );
}

#[test]
fn a_plain_toml_file_sets_typed_values() {
    let root = Root::new();
    root.write(
        "config/default.toml",
        "port = 1234\ndatabase_url = \"postgres://u:p@h/d\"\ntrusted_proxies = [\"::1\"]\n",
    );
    let s = root.load(&[]).unwrap().settings;
    assert_eq!(s.port, 1234);
    assert_eq!(s.database_url.kind(), DatabaseKind::Postgresql);
    assert_eq!(
        s.trusted_proxies,
        vec![std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]
    );
    assert_eq!(s.host, "127.0.0.1");
}

#[test]
fn the_shipped_default_toml_changes_nothing() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
    let root = Root::new();
    root.write(
        "config/default.toml",
        &std::fs::read_to_string(shipped).unwrap(),
    );
    let loaded = root.load(&[]).unwrap();
    assert!(loaded.describe().iter().all(|v| v.source == "default"));
}

#[test]
fn the_env_example_documents_every_variable() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.example");
    let text = std::fs::read_to_string(example).unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let docs = std::fs::read_to_string(docs).unwrap();
    for (env, _) in settings::VARIABLES {
        assert!(
            text.contains(&format!("{env}=")),
            "{env} missing from .env.example"
        );
        assert!(
            docs.contains(&format!("`{env}`")),
            "{env} missing from docs"
        );
    }
}

#[test]
fn registration_limits_default_to_five_an_hour_and_must_be_at_least_one() {
    let root = Root::new();
    let s = root.load(&[]).unwrap().settings;
    assert_eq!(
        (
            s.registration_limit_per_ip,
            s.registration_limit_window_seconds
        ),
        (5, 3600)
    );
    for variable in [
        "REGISTRATION_LIMIT_PER_IP",
        "REGISTRATION_LIMIT_WINDOW_SECONDS",
    ] {
        let err = root.load(&[(variable, "0")]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("invalid {variable} from environment variable: must be at least 1")
        );
    }
}

#[test]
fn refresh_token_reuse_interval_defaults_to_ten_seconds_and_is_at_most_sixty() {
    let root = Root::new();
    let s = root.load(&[]).unwrap().settings;
    assert_eq!(s.refresh_token_reuse_interval_seconds, 10);
    for ok in ["0", "60"] {
        let s = root
            .load(&[("REFRESH_TOKEN_REUSE_INTERVAL_SECONDS", ok)])
            .unwrap()
            .settings;
        assert_eq!(s.refresh_token_reuse_interval_seconds.to_string(), ok);
    }
    let err = root
        .load(&[("REFRESH_TOKEN_REUSE_INTERVAL_SECONDS", "61")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid REFRESH_TOKEN_REUSE_INTERVAL_SECONDS from environment variable: \
         must be at most 60 (0 disables the grace)"
    );
}

#[test]
fn cors_settings_come_from_the_environment_and_name_the_variable_when_wrong() {
    let root = Root::new();
    let s = root.load(&[]).unwrap().settings;
    assert_eq!(
        s.cors_origins.0,
        ["http://localhost:3000", "http://127.0.0.1:3000"]
    );
    assert_eq!(
        s.cors_origin_regex.0.as_deref(),
        Some(DEFAULT_CORS_ORIGIN_REGEX)
    );
    assert!(!s.debug);

    let s = root
        .load(&[
            ("CORS_ORIGINS", r#"["https://ui.example.com"]"#),
            ("CORS_ORIGIN_REGEX", ""),
            ("DEBUG", "true"),
        ])
        .unwrap()
        .settings;
    assert_eq!(s.cors_origins.0, ["https://ui.example.com"]);
    assert_eq!(s.cors_origin_regex.0, None);
    assert!(s.debug);

    let err = root
        .load(&[("CORS_ORIGIN_REGEX", "^http://(localhost")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CORS_ORIGIN_REGEX") && err.contains("regular expression"),
        "{err}"
    );
    let err = root
        .load(&[("CORS_ORIGINS", "localhost:3000")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CORS_ORIGINS") && err.contains("`localhost:3000`"),
        "{err}"
    );
}

#[test]
fn a_postgresql_pool_of_one_is_refused_naming_the_variables() {
    let root = Root::new();
    let err = root
        .load(&[
            ("DATABASE_URL", "postgresql://u@localhost/db"),
            ("DB_POOL_SIZE", "1"),
            ("DB_MAX_OVERFLOW", "0"),
        ])
        .unwrap_err()
        .to_string();
    assert!(err.contains("DB_MAX_OVERFLOW"), "{err}");
    assert!(err.contains("at least 2"), "{err}");
    assert!(
        root.load(&[
            ("DATABASE_URL", "postgresql://u@localhost/db"),
            ("DB_POOL_SIZE", "1"),
            ("DB_MAX_OVERFLOW", "1"),
        ])
        .is_ok()
    );
}

#[test]
fn ipv6_clients_are_counted_per_64_unless_told_otherwise_within_32_to_128() {
    let root = Root::new();
    assert_eq!(root.load(&[]).unwrap().settings.rate_limit_ipv6_prefix, 64);
    for ok in ["32", "56", "128"] {
        let s = root
            .load(&[("RATE_LIMIT_IPV6_PREFIX", ok)])
            .unwrap()
            .settings;
        assert_eq!(s.rate_limit_ipv6_prefix.to_string(), ok);
    }
    for bad in ["0", "31", "129", "300", "x"] {
        let err = root
            .load(&[("RATE_LIMIT_IPV6_PREFIX", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid RATE_LIMIT_IPV6_PREFIX from environment variable"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn the_connection_test_proxy_must_be_an_http_url_and_is_never_shown() {
    let root = Root::new();
    assert!(
        root.load(&[])
            .unwrap()
            .settings
            .connections_test_proxy
            .is_none()
    );
    let loaded = root
        .load(&[(
            "CONNECTIONS_TEST_PROXY",
            "http://user:pw-9q@proxy.internal:3128",
        )])
        .unwrap();
    assert_eq!(
        loaded
            .settings
            .connections_test_proxy
            .as_ref()
            .map(|p| p.expose().to_owned()),
        Some("http://user:pw-9q@proxy.internal:3128".to_owned())
    );
    let shown = format!("{:?}", loaded.describe());
    assert!(!shown.contains("pw-9q"), "{shown}");
    for bad in [
        "socks5://proxy:1080",
        "proxy:3128",
        "http://",
        "http://:3128",
        "http://user:pw-9q@",
    ] {
        let err = root
            .load(&[("CONNECTIONS_TEST_PROXY", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid CONNECTIONS_TEST_PROXY from environment variable"),
            "{bad}: {err}"
        );
        assert!(!err.contains("pw-9q"), "{err}");
    }
}

#[test]
fn backups_are_off_by_default_and_go_beside_the_database() {
    let root = Root::new();
    let s = root
        .load(&[("DATABASE_URL", "sqlite:///srv/curatore/data/curatore.db")])
        .unwrap()
        .settings;
    assert!(s.backup_schedule.is_none());
    assert_eq!(s.backup_keep, 7);
    assert_eq!(
        s.backup_dir(),
        Some(PathBuf::from("/srv/curatore/data/backups"))
    );
    let loaded = root
        .load(&[
            ("BACKUP_SCHEDULE", "0 3 * * *"),
            ("BACKUP_DIR", "/var/backups/curatore"),
            ("BACKUP_KEEP", "14"),
        ])
        .unwrap();
    let s = &loaded.settings;
    assert_eq!(s.backup_schedule.as_ref().unwrap().as_str(), "0 3 * * *");
    assert_eq!(s.backup_dir(), Some(PathBuf::from("/var/backups/curatore")));
    assert_eq!(s.backup_keep, 14);
    let shown: BTreeMap<_, _> = loaded
        .describe()
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    assert_eq!(shown["BACKUP_SCHEDULE"], "0 3 * * *");
    assert_eq!(shown["BACKUP_DIR"], "/var/backups/curatore");
    assert_eq!(shown["BACKUP_KEEP"], "14");
    assert_eq!(
        root.load(&[("BACKUP_SCHEDULE", "6h")])
            .unwrap()
            .settings
            .backup_schedule
            .unwrap()
            .interval(),
        Some(std::time::Duration::from_secs(6 * 3600))
    );
}

#[test]
fn bad_backup_settings_name_the_variable() {
    let root = Root::new();
    for (variable, value, says) in [
        ("BACKUP_SCHEDULE", "nightly", "neither an interval"),
        ("BACKUP_SCHEDULE", "every night", "five fields"),
        ("BACKUP_SCHEDULE", "0 25 * * *", "hour"),
        ("BACKUP_KEEP", "0", "at least 1"),
        ("BACKUP_KEEP", "-1", "whole number"),
    ] {
        let err = root.load(&[(variable, value)]).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("invalid {variable} from environment variable: ")),
            "{err}"
        );
        assert!(err.contains(says), "{value}: {err}");
    }
    let err = root
        .load(&[
            ("DATABASE_URL", "postgresql://u@localhost/db"),
            ("BACKUP_SCHEDULE", "6h"),
        ])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid BACKUP_SCHEDULE") && err.contains("pg_dump"),
        "{err}"
    );
    let s = root
        .load(&[("DATABASE_URL", "postgresql://u@localhost/db")])
        .unwrap()
        .settings;
    assert_eq!(s.backup_dir(), None, "nothing to put there on PostgreSQL");
}

#[test]
fn mail_is_off_by_default_and_its_password_is_redacted() {
    let root = Root::new();
    let s = root.load(&[]).unwrap().settings;
    assert!(!s.mail_enabled());
    assert_eq!(s.smtp_tls, crate::SmtpTls::StartTls);
    let loaded = root
        .load(&[
            ("SMTP_HOST", "smtp.example.com"),
            ("SMTP_USERNAME", "mailer"),
            ("SMTP_PASSWORD", "smtp-secret-value"),
            ("SMTP_TLS", "TLS"),
            ("MAIL_FROM", "Curatore <curatore@example.com>"),
            ("PUBLIC_URL", "https://curatore.example.com/"),
        ])
        .unwrap();
    let s = &loaded.settings;
    assert!(s.mail_enabled());
    assert_eq!(s.smtp_port(), 465);
    assert!(!format!("{s:?}").contains("smtp-secret-value"));
    let shown: BTreeMap<_, _> = loaded
        .describe()
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    assert_eq!(shown["SMTP_PASSWORD"], "[REDACTED]");
    assert_eq!(shown["SMTP_TLS"], "tls");
    assert_eq!(shown["SMTP_HOST"], "smtp.example.com");
    let s = root
        .load(&[
            ("SMTP_HOST", "localhost"),
            ("SMTP_TLS", "none"),
            ("MAIL_FROM", "c@example.com"),
            ("PUBLIC_URL", "http://127.0.0.1:8000"),
        ])
        .unwrap()
        .settings;
    assert_eq!(s.smtp_port(), 25, "plain to this machine is allowed");
}

#[test]
fn bad_mail_settings_name_the_variable() {
    let root = Root::new();
    let complete = [
        ("SMTP_HOST", "smtp.example.com"),
        ("MAIL_FROM", "c@example.com"),
        ("PUBLIC_URL", "https://c.example.com"),
    ];
    for (changes, variable, says) in [
        (vec![("SMTP_TLS", "none")], "SMTP_TLS", "in the clear"),
        (
            vec![("SMTP_TLS", "ssl")],
            "SMTP_TLS",
            "starttls, tls or none",
        ),
        (vec![("MAIL_FROM", "")], "MAIL_FROM", "must be set"),
        (
            vec![("MAIL_FROM", "curatore")],
            "MAIL_FROM",
            "e-mail address",
        ),
        (vec![("PUBLIC_URL", "")], "PUBLIC_URL", "must be set"),
        (
            vec![("PUBLIC_URL", "curatore.example.com")],
            "PUBLIC_URL",
            "http",
        ),
        (
            vec![("SMTP_PASSWORD", "x")],
            "SMTP_USERNAME",
            "SMTP_PASSWORD",
        ),
        (vec![("SMTP_PORT", "0")], "SMTP_PORT", "1 to 65535"),
        (
            vec![("MAIL_MAX_ATTEMPTS", "0")],
            "MAIL_MAX_ATTEMPTS",
            "at least 1",
        ),
        (
            vec![("SMTP_HOST", "smtp://x")],
            "SMTP_HOST",
            "without a scheme",
        ),
    ] {
        let mut vars: Vec<(&str, &str)> = complete.to_vec();
        vars.retain(|(k, _)| !changes.iter().any(|(c, _)| c == k));
        vars.extend(changes.iter().copied().filter(|(_, v)| !v.is_empty()));
        let err = root.load(&vars).unwrap_err().to_string();
        assert!(err.starts_with(&format!("invalid {variable}")), "{err}");
        assert!(err.contains(says), "{variable}: {err}");
        assert!(!err.contains("smtp-secret"), "{err}");
    }
    let err = root
        .load(&[("SMTP_USERNAME", "mailer")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid SMTP_USERNAME") && err.contains("SMTP_HOST"),
        "{err}"
    );
}
