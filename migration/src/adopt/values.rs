//! Every value of the original's rows checked before anything is changed,
//! with the rules our API applies (the domain crate's, not a copy): roles,
//! booleans, timestamps, JSON, names and text. What we can take with a
//! known mapping (the original's role names `admin` and `user`, e-mail
//! addresses in mixed case) is mapped and reported; anything else is
//! reported by table, id and column, and adoption is refused.

use super::secrets::{ORIGINAL_SECRET_FIELDS, secret_fields_of};
use super::{Column, Kind, TABLES, stmt};
use curatore_domain::settings::check_settings;
use curatore_domain::text::{check_json, check_line, check_text};
use curatore_domain::{
    AuditAction, AuditStatus, ConnectionScope, ConnectionTestStatus, ConnectionType, EmailAddress,
    Role, Slug, Username,
};
use futures_core::Stream;
use sea_orm_migration::sea_orm::{DbBackend, DbErr, StreamTrait};
use serde_json::Value;
use std::collections::HashMap;

/// The most problems listed one by one; the rest are counted.
const MAX_LISTED: usize = 200;

/// A value that will be stored differently, in the original's table before
/// it is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fix {
    pub(crate) table: &'static str,
    pub(crate) id: String,
    pub(crate) column: &'static str,
    pub(crate) value: String,
}

/// What the check found.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// `table <t>, id <id>, column <c>: <why>`, at most [`MAX_LISTED`].
    pub(crate) problems: Vec<String>,
    /// Problems beyond those listed.
    pub(crate) unlisted: usize,
    /// Values mapped on the way in.
    pub(crate) fixes: Vec<Fix>,
    /// One line per mapped value, for the report.
    pub(crate) mapped: Vec<String>,
    /// Connection secrets stored in clear.
    pub(crate) clear_secrets: usize,
}

impl Checked {
    fn problem(&mut self, table: &str, id: &str, column: &str, why: impl std::fmt::Display) {
        if self.problems.len() < MAX_LISTED {
            self.problems
                .push(format!("table {table}, id {id}, column {column}: {why}"));
        } else {
            self.unlisted += 1;
        }
    }

    fn map(&mut self, table: &'static str, id: &str, column: &'static str, from: &str, to: &str) {
        self.mapped.push(format!(
            "table {table}, id {id}, column {column}: `{from}` stored as `{to}`"
        ));
        self.fixes.push(Fix {
            table,
            id: id.to_owned(),
            column,
            value: to.to_owned(),
        });
    }

    /// Every problem, with a line for those not listed.
    pub(crate) fn report(&self) -> Vec<String> {
        let mut lines = self.problems.clone();
        if self.unlisted > 0 {
            lines.push(format!("… and {} more", self.unlisted));
        }
        lines
    }
}

/// One column's value as read: how it is stored (`text`, `integer`, …,
/// `null`; on PostgreSQL `text`, `null` or `infinite`) and its text.
struct Cell {
    storage: String,
    text: Option<String>,
}

/// The select that reads every column of `table` as (storage, text).
fn select(backend: DbBackend, table: &str, cols: &[Column]) -> String {
    let mut exprs = vec!["CAST(\"id\" AS TEXT)".to_owned()];
    for (name, kind, _) in cols {
        let c = format!("\"{name}\"");
        let storage = match (backend, kind) {
            (DbBackend::Sqlite, _) => format!("typeof({c})"),
            // Typed columns: only a timestamp can hold what we cannot read.
            (_, Kind::Time) => format!(
                "CASE WHEN {c} IS NULL THEN 'null' WHEN isfinite({c}) THEN 'text' ELSE 'infinite' END"
            ),
            _ => format!("CASE WHEN {c} IS NULL THEN 'null' ELSE 'text' END"),
        };
        let text = match backend {
            // A blob's bytes need not be text: not read, reported by its storage.
            DbBackend::Sqlite => {
                format!("CASE WHEN typeof({c}) = 'blob' THEN NULL ELSE CAST({c} AS TEXT) END")
            }
            _ => format!("CAST({c} AS TEXT)"),
        };
        exprs.push(storage);
        exprs.push(text);
    }
    format!("SELECT {} FROM {}", exprs.join(", "), quoted_ident(table))
}

fn quoted_ident(name: &str) -> String {
    format!("\"{name}\"")
}

/// Reads every row of the original's tables and checks every value.
///
/// # Errors
/// When the database cannot be read.
pub(crate) async fn check<C: StreamTrait>(c: &C) -> Result<Checked, DbErr> {
    let backend = c.get_database_backend();
    let mut checked = Checked::default();
    let mut emails: HashMap<String, String> = HashMap::new();
    for (table, cols) in TABLES {
        let stream = c
            .stream_raw(stmt(backend, select(backend, table, cols)))
            .await?;
        let mut stream = std::pin::pin!(stream);
        while let Some(row) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            let row = row?;
            let id: Option<String> = row.try_get_by_index(0)?;
            let id = id.unwrap_or_else(|| "NULL".to_owned());
            let mut cells = Vec::with_capacity(cols.len());
            for i in 0..cols.len() {
                cells.push(Cell {
                    storage: row.try_get_by_index(1 + 2 * i)?,
                    text: row.try_get_by_index(2 + 2 * i)?,
                });
            }
            check_row(backend, table, cols, &id, &cells, &mut checked, &mut emails);
        }
    }
    Ok(checked)
}

fn check_row(
    backend: DbBackend,
    table: &'static str,
    cols: &[Column],
    id: &str,
    cells: &[Cell],
    checked: &mut Checked,
    emails: &mut HashMap<String, String>,
) {
    let mut json = HashMap::new();
    for ((name, kind, _), cell) in cols.iter().zip(cells) {
        match stored(backend, *kind, cell) {
            Err(why) => checked.problem(table, id, name, why),
            Ok(None) => {}
            Ok(Some(text)) => {
                if *kind == Kind::Json {
                    match serde_json::from_str::<Value>(text) {
                        Ok(v) => {
                            json.insert(*name, v);
                        }
                        Err(_) => checked.problem(table, id, name, "is not valid JSON"),
                    }
                } else {
                    check_text_value(table, name, id, text, checked, emails);
                }
            }
        }
    }
    for (name, value) in &json {
        if let Err(why) = json_rule(table, name, value, text_of(cols, cells, "connection_type")) {
            checked.problem(table, id, name, why);
        }
    }
    if table == "connections"
        && let (Some(kind), Some(config)) =
            (text_of(cols, cells, "connection_type"), json.get("config"))
    {
        checked.clear_secrets += secret_fields_of(kind)
            .iter()
            .filter(|f| config.get(**f).is_some_and(Value::is_string))
            .count();
    }
}

fn text_of<'a>(cols: &[Column], cells: &'a [Cell], column: &str) -> Option<&'a str> {
    cols.iter()
        .position(|(n, _, _)| *n == column)
        .and_then(|i| cells[i].text.as_deref())
}

/// The value's text when it is stored as its kind must be, `None` for NULL.
fn stored(backend: DbBackend, kind: Kind, cell: &Cell) -> Result<Option<&str>, String> {
    let storage = cell.storage.as_str();
    if storage == "null" {
        return Ok(None);
    }
    if storage == "infinite" {
        return Err("is an infinite timestamp".to_owned());
    }
    let text = cell.text.as_deref().unwrap_or_default();
    if backend != DbBackend::Sqlite {
        return Ok(Some(text));
    }
    let expected = if kind == Kind::Bool {
        "integer"
    } else {
        "text"
    };
    if storage != expected {
        return Err(format!("is stored as {storage}, not {expected}"));
    }
    match kind {
        Kind::Uuid if text.len() != 36 || uuid::Uuid::try_parse(text).is_err() => {
            Err("is not a UUID (36 characters, with hyphens)".to_owned())
        }
        Kind::Bool if text != "0" && text != "1" => {
            Err(format!("`{text}` is not a boolean (0 or 1)"))
        }
        Kind::Time
            if text.contains('T')
                || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").is_err() =>
        {
            Err(format!(
                "`{}` is not a timestamp as the original writes them (YYYY-MM-DD HH:MM:SS.ffffff)",
                shorten(text)
            ))
        }
        _ => Ok(Some(text)),
    }
}

/// A value quoted in a report: short, so a pasted blob does not flood it.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The rule of a text column, by table and column.
fn check_text_value(
    table: &'static str,
    column: &'static str,
    id: &str,
    text: &str,
    checked: &mut Checked,
    emails: &mut HashMap<String, String>,
) {
    let result: Result<(), String> = match (table, column) {
        (_, "name" | "display_name" | "full_name" | "key") => non_empty_line(column, text),
        (_, "description") => check_text("description", text).map_err(reason),
        ("organizations", "slug") => Slug::parse(text).map(drop).map_err(reason),
        ("users", "username") => Username::parse(text).map(drop).map_err(reason),
        ("users", "email") => match EmailAddress::parse(text) {
            Err(e) => Err(reason(e)),
            Ok(email) => {
                let normal = email.as_str();
                if let Some(other) = emails.insert(normal.to_owned(), id.to_owned()) {
                    Err(format!(
                        "`{normal}` (compared in lower case) is the e-mail of user {other} too"
                    ))
                } else {
                    if normal != text {
                        checked.map(table, id, column, text, normal);
                    }
                    Ok(())
                }
            }
        },
        ("users", "role") => match text {
            // The original's names for them, in some of its versions.
            "admin" => {
                checked.map(table, id, column, text, Role::OrgAdmin.as_str());
                Ok(())
            }
            "user" => {
                checked.map(table, id, column, text, Role::Member.as_str());
                Ok(())
            }
            other => other.parse::<Role>().map(drop).map_err(reason),
        },
        ("connections", "connection_type") => {
            ConnectionType::parse(text).map_err(reason).and_then(|t| {
                if ORIGINAL_SECRET_FIELDS.iter().any(|(k, _)| *k == t.as_str()) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` is not a connection type of the original ({})",
                        shorten(text),
                        ORIGINAL_SECRET_FIELDS
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            })
        }
        ("connections", "scope") => text.parse::<ConnectionScope>().map(drop).map_err(reason),
        ("connections", "test_status") => text
            .parse::<ConnectionTestStatus>()
            .map(drop)
            .map_err(reason),
        ("audit_logs", "action") => AuditAction::parse(text).map(drop).map_err(reason),
        ("audit_logs", "status") => text.parse::<AuditStatus>().map(drop).map_err(reason),
        _ => Ok(()),
    };
    if let Err(why) = result {
        checked.problem(table, id, column, why);
    }
}

fn non_empty_line(column: &'static str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    check_line(column, text).map_err(reason)
}

fn reason(e: curatore_domain::DomainError) -> String {
    match e {
        curatore_domain::DomainError::Invalid { reason, .. } => reason,
    }
}

/// The rule of a JSON column.
fn json_rule(
    table: &str,
    column: &'static str,
    value: &Value,
    connection_type: Option<&str>,
) -> Result<(), String> {
    match (table, column) {
        (_, "settings") => check_settings(value).map_err(reason),
        ("api_keys", "scopes") => match value.as_array() {
            Some(items) if items.iter().all(Value::is_string) => {
                check_json(column, value).map_err(reason)
            }
            _ => Err("must be a list of scope names".to_owned()),
        },
        ("connections", "config") => {
            if !value.is_object() {
                return Err("must be a JSON object".to_owned());
            }
            check_json(column, value).map_err(reason)?;
            for field in secret_fields_of(connection_type.unwrap_or_default()) {
                if value
                    .get(*field)
                    .is_some_and(|v| !v.is_string() && !v.is_null())
                {
                    return Err(format!("its secret `{field}` must be text"));
                }
            }
            Ok(())
        }
        ("connections", "test_result") if !value.is_object() && !value.is_null() => {
            Err("must be a JSON object".to_owned())
        }
        ("connections", "test_result") | ("system_settings", "value") => {
            check_json(column, value).map_err(reason)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(storage: &str, text: &str) -> Cell {
        Cell {
            storage: storage.to_owned(),
            text: Some(text.to_owned()),
        }
    }

    #[test]
    fn sqlite_values_must_be_stored_as_the_original_stores_them() {
        let s = DbBackend::Sqlite;
        assert!(stored(s, Kind::Bool, &cell("integer", "1")).is_ok());
        assert!(stored(s, Kind::Bool, &cell("integer", "2")).is_err());
        assert!(stored(s, Kind::Bool, &cell("text", "true")).is_err());
        assert!(stored(s, Kind::Time, &cell("text", "2026-11-25 13:37:37.378831")).is_ok());
        assert!(stored(s, Kind::Time, &cell("text", "2026-11-25 13:37:37")).is_ok());
        for bad in ["2026-11-25T13:37:37Z", "yesterday", "2026-13-01 00:00:00"] {
            assert!(stored(s, Kind::Time, &cell("text", bad)).is_err(), "{bad}");
        }
        assert!(
            stored(
                s,
                Kind::Uuid,
                &cell("text", "3475a5b0-90a4-452a-8812-c0b15c67262e")
            )
            .is_ok()
        );
        assert!(stored(s, Kind::Uuid, &cell("text", "not-a-uuid")).is_err());
        assert!(stored(s, Kind::Text, &cell("integer", "7")).is_err());
        let pg = DbBackend::Postgres;
        assert!(stored(pg, Kind::Time, &cell("infinite", "infinity")).is_err());
        assert!(stored(pg, Kind::Bool, &cell("text", "true")).is_ok());
    }

    #[test]
    fn roles_of_the_original_are_mapped_and_others_refused() {
        let mut checked = Checked::default();
        let mut emails = HashMap::new();
        for (id, role) in [
            ("a", "admin"),
            ("b", "user"),
            ("c", "viewer"),
            ("d", "root"),
        ] {
            check_text_value("users", "role", id, role, &mut checked, &mut emails);
        }
        assert_eq!(checked.fixes.len(), 2, "{:?}", checked.fixes);
        assert_eq!(checked.fixes[0].value, "org_admin");
        assert_eq!(checked.fixes[1].value, "member");
        assert_eq!(checked.problems.len(), 1, "{:?}", checked.problems);
        assert!(
            checked.problems[0].starts_with("table users, id d, column role:"),
            "{:?}",
            checked.problems
        );
    }

    #[test]
    fn e_mails_are_lower_cased_unless_two_become_one() {
        let mut checked = Checked::default();
        let mut emails = HashMap::new();
        check_text_value(
            "users",
            "email",
            "a",
            "Ann@Example.com",
            &mut checked,
            &mut emails,
        );
        check_text_value(
            "users",
            "email",
            "b",
            "ann@example.com",
            &mut checked,
            &mut emails,
        );
        assert_eq!(checked.fixes.len(), 1);
        assert_eq!(checked.fixes[0].value, "ann@example.com");
        assert_eq!(checked.problems.len(), 1, "{:?}", checked.problems);
    }

    #[test]
    fn json_columns_follow_the_api_rules() {
        assert!(json_rule("users", "settings", &serde_json::json!([1]), None).is_err());
        assert!(
            json_rule(
                "users",
                "settings",
                &serde_json::json!({"a": "b\u{202e}"}),
                None
            )
            .is_err()
        );
        assert!(
            json_rule(
                "api_keys",
                "scopes",
                &serde_json::json!(["users:read"]),
                None
            )
            .is_ok()
        );
        assert!(json_rule("api_keys", "scopes", &serde_json::json!({"a": 1}), None).is_err());
        let config = serde_json::json!({"api_key": {"nested": 1}});
        assert!(json_rule("connections", "config", &config, Some("llm")).is_err());
        assert!(
            json_rule(
                "connections",
                "config",
                &serde_json::json!({"api_key": "x"}),
                Some("llm")
            )
            .is_ok()
        );
    }
}
