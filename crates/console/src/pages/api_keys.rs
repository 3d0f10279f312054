//! API keys: one's own and (admins) the organization's; create with
//! scopes from the registry and an expiry, the key shown once; rename;
//! revoke.

use crate::errors::Shown;
use crate::forms::Csrf;
use crate::guard::{PageError, Signed};
use crate::layout::{self, Layout, Notice};
use actix_web::{HttpResponse, web};
use askama::Template;
use curatore_domain::{ApiKeyId, Role};
use curatore_service::{KeyQuery, MAX_EXPIRY_DAYS, NewKey};
use serde::Deserialize;
use std::collections::HashMap;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api-keys", web::get().to(list))
        .route("/api-keys", web::post().to(create))
        .route("/api-keys/{id}/rename", web::post().to(rename))
        .route("/api-keys/{id}/revoke", web::post().to(revoke));
}

const PAGE: u64 = 100;

#[derive(Debug, Default, Clone, Deserialize)]
struct Filters {
    #[serde(default)]
    all: String,
    #[serde(default)]
    skip: u64,
}

struct Row {
    id: String,
    name: String,
    prefix: String,
    owner: String,
    scopes: String,
    active: bool,
    expires: String,
    last_used: String,
    created: String,
}

struct Revealed {
    label: &'static str,
    value: String,
    note: String,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    layout: Layout,
    all: bool,
    is_admin: bool,
    can_create: bool,
    rows: Vec<Row>,
    scopes: Vec<String>,
    max_days: u32,
    next: Option<String>,
    revealed: Option<Revealed>,
}

async fn render(
    signed: &Signed,
    f: Filters,
    shown: Option<Shown>,
    success: Option<String>,
    revealed: Option<Revealed>,
) -> HttpResponse {
    let is_admin = signed.can(Role::OrgAdmin);
    let all = is_admin && f.all == "true";
    let listed = signed
        .services()
        .api_keys(&signed.ctx)
        .list(KeyQuery {
            everyone: all,
            skip: f.skip,
            limit: PAGE,
            ..KeyQuery::default()
        })
        .await;
    let me = signed.ctx.principal().user_id();
    let (rows, next, listed_error) = match listed {
        Ok(page) => {
            let more = page.items.len() as u64 == PAGE;
            let rows = page
                .items
                .into_iter()
                .map(|k| Row {
                    id: k.id.to_string(),
                    name: k.name,
                    prefix: k.prefix,
                    owner: match k.user_id {
                        None => "organization".into(),
                        Some(u) if Some(u) == me => "you".into(),
                        Some(u) => u.to_string(),
                    },
                    scopes: if k.scopes.is_empty() {
                        "all the owner's role allows".into()
                    } else {
                        k.scopes.join(", ")
                    },
                    active: k.is_active,
                    expires: k
                        .expires_at
                        .map(|t| t.format("%Y-%m-%d").to_string())
                        .unwrap_or_else(|| "never".into()),
                    last_used: k
                        .last_used_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into()),
                    created: k.created_at.format("%Y-%m-%d").to_string(),
                })
                .collect();
            let next =
                more.then(|| format!("/console/api-keys?all={}&skip={}", all, f.skip + PAGE));
            (rows, next, None)
        }
        Err(e) => (Vec::new(), None, Some(Shown::from(e))),
    };
    let shown = shown.or(listed_error);
    let notice = shown
        .as_ref()
        .map(Notice::from)
        .or(success.map(Notice::success));
    let page = KeysPage {
        layout: Layout::of(signed, "api-keys", "API keys")
            .await
            .with_notice(notice),
        all,
        is_admin,
        can_create: signed.can(Role::Member),
        rows,
        scopes: signed.services().scopes().scopes(),
        max_days: MAX_EXPIRY_DAYS,
        next,
        revealed,
    };
    layout::page(shown.as_ref(), &page)
}

async fn list(signed: Signed, f: web::Query<Filters>) -> Result<HttpResponse, PageError> {
    Ok(render(&signed, f.into_inner(), None, None, None).await)
}

/// The form's fields by name: `name`, `expires_in_days`, `csrf` and one
/// `scope:<name>` per ticked scope.
async fn create(
    signed: Signed,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    signed.check(field("csrf"))?;
    let expires = field("expires_in_days").trim();
    let expires_in_days = if expires.is_empty() {
        None
    } else {
        match expires.parse::<u32>() {
            Ok(days) => Some(days),
            Err(_) => {
                let shown = Shown::invalid(format!(
                    "The expiry is a number of days from 1 to {MAX_EXPIRY_DAYS}, or blank for never."
                ));
                return Ok(render(&signed, Filters::default(), Some(shown), None, None).await);
            }
        }
    };
    let mut scopes: Vec<String> = form
        .keys()
        .filter_map(|k| k.strip_prefix("scope:"))
        .map(str::to_owned)
        .collect();
    scopes.sort();
    let result = signed
        .services()
        .api_keys(&signed.ctx)
        .create(NewKey {
            name: field("name").trim().to_owned(),
            expires_in_days,
            expires_days: None,
            scopes,
        })
        .await;
    Ok(match result {
        Ok(created) => {
            let revealed = Revealed {
                label: "New API key",
                value: created.secret.expose().to_owned(),
                note: "Copy it now: it is shown only this once and stored only as a digest. Send it as X-API-Key.".into(),
            };
            let done = format!("The key {} is created.", created.key.name);
            render(
                &signed,
                Filters::default(),
                None,
                Some(done),
                Some(revealed),
            )
            .await
        }
        Err(e) => {
            render(
                &signed,
                Filters::default(),
                Some(Shown::from(e)),
                None,
                None,
            )
            .await
        }
    })
}

fn key_id(raw: &str) -> Result<ApiKeyId, PageError> {
    super::path_id(raw, "No such key.")
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn rename(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<RenameForm>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id = key_id(&id)?;
    let result = signed
        .services()
        .api_keys(&signed.ctx)
        .rename(id, form.name.trim())
        .await;
    Ok(match result {
        Ok(k) => {
            render(
                &signed,
                Filters::default(),
                None,
                Some(format!("Renamed to {}.", k.name)),
                None,
            )
            .await
        }
        Err(e) => {
            render(
                &signed,
                Filters::default(),
                Some(Shown::from(e)),
                None,
                None,
            )
            .await
        }
    })
}

async fn revoke(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<Csrf>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id = key_id(&id)?;
    let result = signed.services().api_keys(&signed.ctx).revoke(id).await;
    Ok(match result {
        Ok(()) => {
            render(
                &signed,
                Filters::default(),
                None,
                Some("The key is revoked; it stops working at once.".into()),
                None,
            )
            .await
        }
        Err(e) => {
            render(
                &signed,
                Filters::default(),
                Some(Shown::from(e)),
                None,
                None,
            )
            .await
        }
    })
}
