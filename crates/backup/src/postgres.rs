//! PostgreSQL is backed up with its own tools; this says how, for the
//! configured database, without its password.

use chrono::Utc;
use curatore_domain::DatabaseUrl;

/// The configured PostgreSQL URL with the password (in the user part or as
/// a `password` parameter) left out.
fn without_password(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    let (user, host_and_db) = match main.rsplit_once('@') {
        Some((userinfo, host)) => (userinfo.split(':').next().unwrap_or_default(), host),
        None => ("", main),
    };
    let mut out = String::from("postgresql://");
    if !user.is_empty() {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(host_and_db);
    let kept: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("password="))
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

/// What to tell an operator who asks `curatore-server` to back up, verify
/// or restore a PostgreSQL database: PostgreSQL's own tools, with the
/// commands for the configured URL (password left out), and the logical
/// path between engines.
pub fn postgres_advice(url: &DatabaseUrl) -> String {
    let target = match url {
        DatabaseUrl::Postgres { url, .. } => without_password(url),
        DatabaseUrl::Sqlite { path } => {
            return format!(
                "{} is a SQLite database: use `curatore-server backup`",
                path.display()
            );
        }
    };
    let server = target
        .split_once('?')
        .map_or(target.as_str(), |(main, _)| main);
    let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    format!(
        "DATABASE_URL is PostgreSQL: `curatore-server backup`, `backup verify` and `restore` \
         copy SQLite files only. Back PostgreSQL up with its own tools:\n\
         \x20 a consistent dump while the server runs:\n\
         \x20   pg_dump --format=custom --no-owner --file=curatore-{stamp}.dump '{target}'\n\
         \x20 restored into an empty database with:\n\
         \x20   pg_restore --no-owner --dbname='{target}' curatore-{stamp}.dump\n\
         \x20 or a base backup, with WAL archiving for point-in-time recovery:\n\
         \x20   pg_basebackup --pgdata=curatore-base-{stamp} --format=tar --wal-method=stream --checkpoint=fast --dbname='{server}'\n\
         The password is left out: give it in PGPASSWORD or ~/.pgpass. Keep SECRETS_ENCRYPTION_KEY \
         with the backups: the connection secrets in them cannot be read without it. Between engines, \
         `curatore-server export` and `import` move an organization (docs/connections.md)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_name_the_database_without_its_password() {
        let url =
            DatabaseUrl::parse("postgresql+asyncpg://curatore:s3cret-pw@db.internal:5433/prod?sslmode=require&password=also-secret")
                .unwrap_or_else(|e| panic!("{e}"));
        let advice = postgres_advice(&url);
        assert!(!advice.contains("s3cret-pw"), "{advice}");
        assert!(!advice.contains("also-secret"), "{advice}");
        assert!(
            advice.contains("pg_dump --format=custom --no-owner --file=curatore-"),
            "{advice}"
        );
        assert!(
            advice.contains("'postgresql://curatore@db.internal:5433/prod?sslmode=require'"),
            "{advice}"
        );
        assert!(
            advice.contains("--dbname='postgresql://curatore@db.internal:5433'"),
            "{advice}"
        );
        assert!(advice.contains("pg_restore"), "{advice}");
        assert!(advice.contains("PGPASSWORD"), "{advice}");
    }

    #[test]
    fn a_url_without_user_or_parameters_stays_plain() {
        assert_eq!(
            without_password("postgres://localhost/curatore"),
            "postgresql://localhost/curatore"
        );
        assert_eq!(without_password("postgres://u:p@h/d"), "postgresql://u@h/d");
    }
}
