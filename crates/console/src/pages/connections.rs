//! Connections: list with health; create and edit through a form generated
//! from the type's `config_schema`; test; set default. Connections from
//! the environment are read-only.

use crate::errors::Shown;
use crate::forms::Csrf;
use crate::guard::{PageError, Signed};
use crate::layout::{self, Layout, Notice};
use actix_web::{HttpResponse, web};
use askama::Template;
use curatore_domain::{Connection, ConnectionId, ConnectionScope, Role};
use curatore_service::{
    ConnectionQuery, ConnectionTypeInfo, ConnectionUpdate, NewConnectionRequest, TestOutcome,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/connections", web::get().to(list))
        .route("/connections/new", web::get().to(new_form))
        .route("/connections/new", web::post().to(create))
        .route("/connections/{id}", web::get().to(edit_form))
        .route("/connections/{id}", web::post().to(update))
        .route("/connections/{id}/test", web::post().to(test))
        .route("/connections/{id}/default", web::post().to(set_default));
}

/// The marker the service shows for a stored secret.
const REDACTED: &str = "***REDACTED***";

struct Row {
    id: String,
    name: String,
    connection_type: String,
    default: bool,
    active: bool,
    status: String,
    tested: String,
    managed: bool,
    managed_by: String,
}

struct TypeRow {
    name: &'static str,
    display: &'static str,
    description: &'static str,
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    types: Vec<TypeRow>,
    can_write: bool,
    next: Option<String>,
}

fn status_of(c: &Connection) -> String {
    c.test_status
        .map_or_else(|| "not_tested".to_owned(), |s| s.as_str().to_owned())
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    skip: u64,
}

const PAGE: u64 = 100;

async fn list(signed: Signed, q: web::Query<ListQuery>) -> Result<HttpResponse, PageError> {
    let connections = signed.services().connections(&signed.ctx);
    let listed = connections
        .list(ConnectionQuery {
            skip: q.skip,
            limit: PAGE,
            ..ConnectionQuery::default()
        })
        .await;
    let types = connections
        .types()
        .unwrap_or_default()
        .into_iter()
        .map(|t| TypeRow {
            name: t.type_name,
            display: t.display_name,
            description: t.description,
        })
        .collect();
    let (rows, next, shown) = match listed {
        Ok(page) => {
            let next = (page.items.len() as u64 == PAGE)
                .then(|| format!("/console/connections?skip={}", q.skip + PAGE));
            let mut rows: Vec<Row> = page
                .items
                .into_iter()
                .map(|c| Row {
                    id: c.id.to_string(),
                    status: status_of(&c),
                    tested: c
                        .last_tested_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default(),
                    name: c.name,
                    connection_type: c.connection_type.as_str().to_owned(),
                    default: c.is_default,
                    active: c.is_active,
                    managed: c.is_managed,
                    managed_by: c.managed_by.unwrap_or_default(),
                })
                .collect();
            rows.sort_by(|a, b| a.connection_type.cmp(&b.connection_type));
            (rows, next, None)
        }
        Err(e) => (Vec::new(), None, Some(Shown::from(e))),
    };
    let page = ListPage {
        layout: Layout::of(&signed, "connections", "Connections")
            .await
            .with_notice(shown.as_ref().map(Notice::from)),
        rows,
        types,
        can_write: signed.can(Role::OrgAdmin),
        next,
    };
    Ok(layout::page(shown.as_ref(), &page))
}

/// One field of a generated form.
struct Field {
    name: String,
    label: String,
    help: String,
    /// `text`, `url`, `password`, `number`, `checkbox`, `select`, `json`.
    kind: &'static str,
    required: bool,
    value: String,
    checked: bool,
    options: Vec<String>,
    /// A secret already stored (leave blank to keep it).
    stored: bool,
    min: String,
    max: String,
    step: &'static str,
}

/// The form's fields from the type's schema, filled from `config` (the
/// stored, redacted configuration) or the schema's defaults.
fn fields(schema: &Value, config: Option<&Value>) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
            let secret = p.get("writeOnly").and_then(Value::as_bool) == Some(true)
                || p.get("format").and_then(Value::as_str) == Some("password");
            let options: Vec<String> = p
                .get("enum")
                .and_then(Value::as_array)
                .map(|e| e.iter().map(plain).collect())
                .unwrap_or_default();
            let current = config.and_then(|c| c.get(name));
            let stored = secret && current.is_some_and(|v| v.as_str() == Some(REDACTED));
            let value = current.or_else(|| p.get("default"));
            let kind = if secret {
                "password"
            } else if !options.is_empty() {
                "select"
            } else {
                match ty {
                    "boolean" => "checkbox",
                    "integer" | "number" => "number",
                    "object" | "array" => "json",
                    _ if p.get("format").and_then(Value::as_str) == Some("uri") => "url",
                    _ => "text",
                }
            };
            Field {
                name: name.clone(),
                label: p
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_owned(),
                help: p
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                kind,
                required: required.contains(&name.as_str()) && !stored,
                value: match (secret, value) {
                    (true, _) | (_, None) => String::new(),
                    (false, Some(v)) if kind == "json" => v.to_string(),
                    (false, Some(v)) => plain(v),
                },
                checked: value.and_then(Value::as_bool).unwrap_or(false),
                options,
                stored,
                min: p.get("minimum").map(plain).unwrap_or_default(),
                max: p.get("maximum").map(plain).unwrap_or_default(),
                step: if ty == "integer" { "1" } else { "any" },
            }
        })
        .collect()
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The configuration a form sends, typed as the schema says. Blank
/// optional fields are left out; a blank secret is left out too (on edit:
/// the stored one is kept).
fn config_from(schema: &Value, form: &HashMap<String, String>) -> Result<Value, Shown> {
    let mut out = Map::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(Value::Object(out));
    };
    for (name, p) in props {
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
        let key = format!("config.{name}");
        let raw = form.get(&key).map(|s| s.trim()).unwrap_or_default();
        let label = p.get("title").and_then(Value::as_str).unwrap_or(name);
        let value = match ty {
            "boolean" => Value::Bool(form.contains_key(&key)),
            _ if raw.is_empty() => continue,
            "integer" => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| Shown::invalid(format!("{label} must be a whole number.")))?,
            "number" => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| Shown::invalid(format!("{label} must be a number.")))?,
            "object" | "array" => serde_json::from_str(raw)
                .map_err(|_| Shown::invalid(format!("{label} must be JSON.")))?,
            _ => Value::String(raw.to_owned()),
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

#[derive(Template)]
#[template(path = "connection_form.html")]
struct FormPage {
    layout: Layout,
    /// `None`: a new connection.
    id: Option<String>,
    type_name: String,
    type_display: String,
    name: String,
    description: String,
    default: bool,
    active: bool,
    managed: bool,
    managed_by: String,
    status: String,
    fields: Vec<Field>,
    can_write: bool,
    test: Option<TestView>,
}

struct TestView {
    success: bool,
    message: String,
    error: String,
    details: String,
}

impl From<&TestOutcome> for TestView {
    fn from(t: &TestOutcome) -> Self {
        Self {
            success: t.success,
            message: t.message.clone(),
            error: t.error.clone().unwrap_or_default(),
            details: serde_json::to_string_pretty(&t.details).unwrap_or_default(),
        }
    }
}

fn type_info(signed: &Signed, name: &str) -> Result<ConnectionTypeInfo, PageError> {
    signed
        .services()
        .connections(&signed.ctx)
        .types()?
        .into_iter()
        .find(|t| t.type_name == name)
        .ok_or_else(|| PageError::Shown(Shown::invalid("There is no such connection type.")))
}

#[derive(Deserialize)]
struct NewQuery {
    #[serde(default, rename = "type")]
    type_name: String,
}

async fn new_form(signed: Signed, q: web::Query<NewQuery>) -> Result<HttpResponse, PageError> {
    let info = type_info(&signed, &q.type_name)?;
    let page = FormPage {
        layout: Layout::of(&signed, "connections", "New connection").await,
        id: None,
        type_name: info.type_name.to_owned(),
        type_display: info.display_name.to_owned(),
        name: String::new(),
        description: String::new(),
        default: false,
        active: true,
        managed: false,
        managed_by: String::new(),
        status: String::new(),
        fields: fields(&info.schema, None),
        can_write: signed.can(Role::OrgAdmin),
        test: None,
    };
    Ok(layout::html(actix_web::http::StatusCode::OK, &page))
}

async fn show(
    signed: &Signed,
    connection: Connection,
    shown: Option<Shown>,
    success: Option<String>,
    test: Option<TestView>,
) -> Result<HttpResponse, PageError> {
    let info = type_info(signed, connection.connection_type.as_str())?;
    let notice = shown
        .as_ref()
        .map(Notice::from)
        .or(success.map(Notice::success));
    let page = FormPage {
        layout: Layout::of(signed, "connections", &connection.name)
            .await
            .with_notice(notice),
        id: Some(connection.id.to_string()),
        type_name: info.type_name.to_owned(),
        type_display: info.display_name.to_owned(),
        status: status_of(&connection),
        fields: fields(&info.schema, Some(&connection.config)),
        name: connection.name,
        description: connection.description.unwrap_or_default(),
        default: connection.is_default,
        active: connection.is_active,
        managed: connection.is_managed,
        managed_by: connection.managed_by.unwrap_or_default(),
        can_write: signed.can(Role::OrgAdmin),
        test,
    };
    Ok(layout::page(shown.as_ref(), &page))
}

fn connection_id(raw: &str) -> Result<ConnectionId, PageError> {
    super::path_id(raw, "No such connection.")
}

async fn edit_form(signed: Signed, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let id = connection_id(&id)?;
    let connection = signed.services().connections(&signed.ctx).get(id).await?;
    show(&signed, connection, None, None, None).await
}

fn field<'a>(form: &'a HashMap<String, String>, k: &str) -> &'a str {
    form.get(k).map(String::as_str).unwrap_or_default().trim()
}

async fn create(
    signed: Signed,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    signed.check(field(&form, "csrf"))?;
    let info = type_info(&signed, field(&form, "type"))?;
    let config = match config_from(&info.schema, &form) {
        Ok(c) => c,
        Err(shown) => return new_again(&signed, &info, &form, shown).await,
    };
    let description = field(&form, "description");
    let result = signed
        .services()
        .connections(&signed.ctx)
        .create(NewConnectionRequest {
            name: field(&form, "name").to_owned(),
            description: (!description.is_empty()).then(|| description.to_owned()),
            connection_type: info.type_name.to_owned(),
            config,
            is_default: form.contains_key("is_default"),
            scope: ConnectionScope::Organization,
            test_on_save: form.contains_key("test_on_save"),
        })
        .await;
    match result {
        Ok(saved) => {
            let test = saved.test.as_ref().map(TestView::from);
            let done = format!("The connection {} is created.", saved.connection.name);
            show(&signed, saved.connection, None, Some(done), test).await
        }
        Err(e) => new_again(&signed, &info, &form, Shown::from(e)).await,
    }
}

/// The new-connection form again, as it was sent (secrets blank), with the failure.
async fn new_again(
    signed: &Signed,
    info: &ConnectionTypeInfo,
    form: &HashMap<String, String>,
    shown: Shown,
) -> Result<HttpResponse, PageError> {
    let sent: Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("config.")?.to_owned(),
                Value::String(v.clone()),
            ))
        })
        .collect();
    let page = FormPage {
        layout: Layout::of(signed, "connections", "New connection")
            .await
            .with_notice(Some(Notice::from(&shown))),
        id: None,
        type_name: info.type_name.to_owned(),
        type_display: info.display_name.to_owned(),
        name: field(form, "name").to_owned(),
        description: field(form, "description").to_owned(),
        default: form.contains_key("is_default"),
        active: true,
        managed: false,
        managed_by: String::new(),
        status: String::new(),
        fields: fields(&info.schema, Some(&Value::Object(sent))),
        can_write: signed.can(Role::OrgAdmin),
        test: None,
    };
    Ok(layout::page(Some(&shown), &page))
}

async fn update(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    signed.check(field(&form, "csrf"))?;
    let id = connection_id(&id)?;
    let connections = signed.services().connections(&signed.ctx);
    let current = connections.get(id).await?;
    let info = type_info(&signed, current.connection_type.as_str())?;
    let config = match config_from(&info.schema, &form) {
        Ok(c) => c,
        Err(shown) => return show(&signed, current, Some(shown), None, None).await,
    };
    let description = field(&form, "description");
    let result = connections
        .update(
            id,
            ConnectionUpdate {
                name: Some(field(&form, "name").to_owned()),
                description: Some((!description.is_empty()).then(|| description.to_owned())),
                config: Some(config),
                is_active: Some(form.contains_key("is_active")),
                test_on_save: form.contains_key("test_on_save"),
                ..ConnectionUpdate::default()
            },
        )
        .await;
    match result {
        Ok(saved) => {
            let test = saved.test.as_ref().map(TestView::from);
            show(&signed, saved.connection, None, Some("Saved.".into()), test).await
        }
        Err(e) => show(&signed, current, Some(Shown::from(e)), None, None).await,
    }
}

async fn test(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<Csrf>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id = connection_id(&id)?;
    let connections = signed.services().connections(&signed.ctx);
    let result = connections.test(id).await;
    let connection = connections.get(id).await?;
    match result {
        Ok(report) => {
            let view = TestView::from(&report.outcome);
            let done = if report.outcome.success {
                "The test passed."
            } else {
                "The test failed."
            };
            show(&signed, connection, None, Some(done.into()), Some(view)).await
        }
        Err(e) => show(&signed, connection, Some(Shown::from(e)), None, None).await,
    }
}

async fn set_default(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<Csrf>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id = connection_id(&id)?;
    let connections = signed.services().connections(&signed.ctx);
    match connections.set_default(id).await {
        Ok(c) => {
            let done = format!(
                "{} is the default {} connection.",
                c.name,
                c.connection_type.as_str()
            );
            show(&signed, c, None, Some(done), None).await
        }
        Err(e) => {
            let c = connections.get(id).await?;
            show(&signed, c, Some(Shown::from(e)), None, None).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["api_key", "model"],
            "properties": {
                "api_key": {"type": "string", "title": "API Key", "writeOnly": true},
                "model": {"type": "string", "title": "Model"},
                "timeout": {"type": "integer", "minimum": 1, "default": 60},
                "verify_ssl": {"type": "boolean", "default": true},
                "mode": {"type": "string", "enum": ["a", "b"]}
            }
        })
    }

    #[test]
    fn fields_follow_the_schema() {
        let f = fields(&schema(), Some(&json!({"api_key": REDACTED, "model": "m"})));
        let by = |n: &str| f.iter().find(|x| x.name == n).unwrap();
        assert_eq!(by("api_key").kind, "password");
        assert!(by("api_key").stored && !by("api_key").required && by("api_key").value.is_empty());
        assert!(by("model").required);
        assert_eq!(by("timeout").kind, "number");
        assert_eq!(by("timeout").value, "60");
        assert_eq!(by("verify_ssl").kind, "checkbox");
        assert!(by("verify_ssl").checked);
        assert_eq!(by("mode").kind, "select");
        assert_eq!(by("mode").options, ["a", "b"]);
    }

    #[test]
    fn the_form_is_typed_and_blank_secrets_are_left_out() {
        let form: HashMap<String, String> = [
            ("config.api_key", ""),
            ("config.model", "m"),
            ("config.timeout", "30"),
            ("config.mode", "b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = config_from(&schema(), &form).unwrap();
        assert_eq!(
            c,
            json!({"model": "m", "timeout": 30, "verify_ssl": false, "mode": "b"})
        );
        let bad: HashMap<String, String> = [("config.timeout".to_owned(), "soon".to_owned())]
            .into_iter()
            .collect();
        assert!(config_from(&schema(), &bad).is_err());
    }
}
