//! Settings: the organization's, one's own, and (instance admins) the
//! system's, as forms generated from the settings registry; each key shows
//! its effective value and where it comes from.

use crate::errors::Shown;
use crate::guard::{self, PageError, Signed};
use crate::layout::{self, Layout, Notice};
use actix_web::{HttpResponse, web};
use askama::Template;
use curatore_domain::Role;
use curatore_domain::setting_keys::{Layer, SettingKey, SettingType};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(page))
        .route("/settings/{layer}", web::post().to(save));
}

/// One key in one layer's form.
struct Row {
    key: &'static str,
    description: &'static str,
    /// `boolean`, `number`, `text`, `json`.
    kind: &'static str,
    /// The value stored at this layer ("" when it inherits).
    stored: String,
    effective: String,
    source: &'static str,
    min: String,
    max: String,
    step: &'static str,
}

struct Section {
    /// `organization`, `user`, `system`.
    layer: &'static str,
    title: &'static str,
    hint: &'static str,
    rows: Vec<Row>,
    writable: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    sections: Vec<Section>,
    environment: Vec<(String, String)>,
}

fn kind_of(k: &SettingKey) -> (&'static str, String, String, &'static str) {
    match k.kind {
        SettingType::Boolean => ("boolean", String::new(), String::new(), ""),
        SettingType::Number { min, max } => ("number", min.to_string(), max.to_string(), "any"),
        SettingType::Integer { min, max } => ("number", min.to_string(), max.to_string(), "1"),
        SettingType::Text { .. } => ("text", String::new(), String::new(), ""),
        SettingType::Object(_) => ("json", String::new(), String::new(), ""),
    }
}

fn shown_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn page(signed: Signed, q: web::Query<Done>) -> Result<HttpResponse, PageError> {
    let notice = (q.done.as_deref() == Some("saved")).then(|| Notice::success("Saved."));
    Ok(render(&signed, None, notice).await)
}

async fn render(signed: &Signed, shown: Option<Shown>, notice: Option<Notice>) -> HttpResponse {
    let services = signed.services();
    let settings = services.settings(&signed.ctx);
    let registry = services.setting_registry();
    let effective = settings.effective().await;
    let (effective, failed) = match effective {
        Ok(e) => (Some(e), None),
        Err(e) => (None, Some(Shown::from(e))),
    };
    let resolved = |key: &str| {
        effective
            .as_ref()
            .and_then(|e| e.settings.iter().find(|r| r.key == key))
            .map(|r| (shown_value(&r.value), r.source.as_str()))
            .unwrap_or_default()
    };
    let section = |layer: Layer,
                   stored: Map<String, Value>,
                   title: &'static str,
                   hint: &'static str,
                   writable: bool| {
        let rows = registry
            .keys()
            .iter()
            .filter(|k| k.storable_in(layer))
            .map(|k| {
                let (kind, min, max, step) = kind_of(k);
                let (effective, source) = resolved(k.name);
                Row {
                    key: k.name,
                    description: k.description,
                    kind,
                    stored: stored.get(k.name).map(shown_value).unwrap_or_default(),
                    effective,
                    source,
                    min,
                    max,
                    step,
                }
            })
            .collect();
        Section {
            layer: layer.as_str(),
            title,
            hint,
            rows,
            writable,
        }
    };
    let mut sections = Vec::new();
    if let Ok(org) = settings.organization() {
        sections.push(section(
            Layer::Organization,
            org,
            "Organization",
            "For everyone in this organization, unless they set their own.",
            signed.can(Role::OrgAdmin),
        ));
    }
    if let Ok((Some(_), mine)) = settings.user() {
        sections.push(section(
            Layer::User,
            mine,
            "Your own",
            "For you only; blank inherits the organization's.",
            !signed.open,
        ));
    }
    if crate::layout::instance_admin(signed).await
        && let Ok(system) = settings.system().await
    {
        sections.push(section(
            Layer::System,
            system.stored,
            "System",
            "For every organization of this instance, unless it sets its own.",
            true,
        ));
    }
    let environment = effective
        .as_ref()
        .map(|e| {
            e.settings
                .iter()
                .filter(|r| r.source == Layer::Environment)
                .map(|r| (r.key.to_owned(), shown_value(&r.value)))
                .collect()
        })
        .unwrap_or_default();
    let shown = shown.or(failed);
    let notice = shown.as_ref().map(Notice::from).or(notice);
    let page = SettingsPage {
        layout: Layout::of(signed, "settings", "Settings")
            .await
            .with_notice(notice),
        sections,
        environment,
    };
    layout::page(shown.as_ref(), &page)
}

/// The patch a layer's form sends: a blank field removes the stored value
/// (the key inherits again); others are typed as the registry says.
fn patch_from(
    keys: &[SettingKey],
    layer: Layer,
    stored: &Map<String, Value>,
    form: &HashMap<String, String>,
) -> Result<Value, Shown> {
    let mut patch = Map::new();
    for k in keys.iter().filter(|k| k.storable_in(layer)) {
        let raw = form
            .get(&format!("key.{}", k.name))
            .map(|s| s.trim())
            .unwrap_or_default();
        if raw.is_empty() {
            if stored.contains_key(k.name) {
                patch.insert(k.name.to_owned(), Value::Null);
            }
            continue;
        }
        let value = match k.kind {
            SettingType::Boolean => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(Shown::invalid(format!("{} is true or false.", k.name))),
            },
            SettingType::Integer { .. } => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| Shown::invalid(format!("{} is a whole number.", k.name)))?,
            SettingType::Number { .. } => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| Shown::invalid(format!("{} is a number.", k.name)))?,
            SettingType::Text { .. } => Value::String(raw.to_owned()),
            SettingType::Object(_) => serde_json::from_str(raw)
                .map_err(|_| Shown::invalid(format!("{} is a JSON object.", k.name)))?,
        };
        if stored.get(k.name) != Some(&value) {
            patch.insert(k.name.to_owned(), value);
        }
    }
    Ok(Value::Object(patch))
}

async fn save(
    signed: Signed,
    layer: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    signed.check(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    let services = signed.services();
    let settings = services.settings(&signed.ctx);
    let keys = services.setting_registry().keys();
    let (layer, stored) = match layer.as_str() {
        "organization" => (Layer::Organization, settings.organization()?),
        "user" => (Layer::User, settings.user()?.1),
        "system" => (Layer::System, settings.system().await?.stored),
        _ => {
            return Err(PageError::Shown(Shown::invalid(
                "There is no such settings layer.",
            )));
        }
    };
    let patch = match patch_from(keys, layer, &stored, &form) {
        Ok(p) => p,
        Err(shown) => return Ok(render(&signed, Some(shown), None).await),
    };
    let result = match layer {
        Layer::Organization => settings.merge_organization(patch).await,
        Layer::User => settings.merge_user(patch).await,
        _ => settings.merge_system(patch).await,
    };
    match result {
        // A new request: the page then shows the values as now resolved.
        Ok(_) => Ok(guard::redirect("/console/settings?done=saved")),
        Err(e) => Ok(render(&signed, Some(Shown::from(e)), None).await),
    }
}
