//! Organizations (instance administrators): list, create with a first
//! admin, rename, deactivate and reactivate.

use crate::errors::Shown;
use crate::guard::{PageError, Signed};
use crate::layout::{self, Layout, Notice};
use actix_web::{HttpResponse, web};
use askama::Template;
use curatore_domain::{OrganizationId, Secret};
use curatore_service::{NewAdmin, NewTenant, TenantChanges};
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/organizations", web::get().to(list))
        .route("/organizations", web::post().to(create))
        .route("/organizations/{id}", web::post().to(change));
}

const PAGE: u64 = 100;

struct Row {
    id: String,
    name: String,
    display_name: String,
    slug: String,
    active: bool,
    mine: bool,
    created: String,
}

struct Revealed {
    label: &'static str,
    value: String,
    note: String,
}

#[derive(Template)]
#[template(path = "organizations.html")]
struct OrgsPage {
    layout: Layout,
    rows: Vec<Row>,
    q: String,
    next: Option<String>,
    revealed: Option<Revealed>,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    q: String,
}

async fn render(
    signed: &Signed,
    query: ListQuery,
    shown: Option<Shown>,
    success: Option<String>,
    revealed: Option<Revealed>,
) -> HttpResponse {
    let listed = signed
        .services()
        .organizations(&signed.ctx)
        .search(
            Some(query.q.as_str()),
            Some(query.cursor.as_str()).filter(|c| !c.is_empty()),
            PAGE,
        )
        .await;
    let mine = signed.ctx.organization_id();
    let (rows, next, failed) = match listed {
        Ok(page) => {
            let q = query.q.trim();
            let next = page.next_cursor.map(|c| {
                if q.is_empty() {
                    format!("/console/organizations?cursor={}", crate::forms::q(&c))
                } else {
                    format!(
                        "/console/organizations?q={}&cursor={}",
                        crate::forms::q(q),
                        crate::forms::q(&c)
                    )
                }
            });
            let rows = page
                .items
                .into_iter()
                .map(|o| Row {
                    id: o.id.to_string(),
                    mine: o.id == mine,
                    name: o.name,
                    display_name: o.display_name,
                    slug: o.slug.as_str().to_owned(),
                    active: o.is_active,
                    created: o.created_at.format("%Y-%m-%d").to_string(),
                })
                .collect();
            (rows, next, None)
        }
        Err(e) => (Vec::new(), None, Some(Shown::from(e))),
    };
    let shown = shown.or(failed);
    let notice = shown
        .as_ref()
        .map(Notice::from)
        .or(success.map(Notice::success));
    let page = OrgsPage {
        layout: Layout::of(signed, "organizations", "Organizations")
            .await
            .with_notice(notice),
        rows,
        q: query.q,
        next,
        revealed,
    };
    layout::page(shown.as_ref(), &page)
}

async fn list(signed: Signed, q: web::Query<ListQuery>) -> Result<HttpResponse, PageError> {
    Ok(render(&signed, q.into_inner(), None, None, None).await)
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    admin_email: String,
    #[serde(default)]
    admin_username: String,
    #[serde(default)]
    admin_password: String,
}

/// A generated first password: 24 letters and digits (~142 bits).
fn generated_password() -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

async fn create(signed: Signed, form: web::Form<CreateForm>) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let form = form.into_inner();
    let generated = form.admin_password.is_empty();
    let password = if generated {
        generated_password()
    } else {
        form.admin_password.clone()
    };
    let display = form.display_name.trim();
    let result = signed
        .services()
        .organizations(&signed.ctx)
        .create(NewTenant {
            name: form.name.trim().to_owned(),
            slug: form.slug.trim().to_owned(),
            display_name: (!display.is_empty()).then(|| display.to_owned()),
            admin: NewAdmin {
                email: form.admin_email.trim().to_owned(),
                username: form.admin_username.trim().to_owned(),
                full_name: None,
                password: Secret::new(password.clone()),
            },
        })
        .await;
    Ok(match result {
        Ok((org, admin)) => {
            let revealed = generated.then(|| Revealed {
                label: "First admin's password",
                value: password,
                note: format!(
                    "Give it to {} yourself; it is shown only this once. They can change it on their profile.",
                    admin.username.as_str()
                ),
            });
            let done = format!(
                "{} is created with {} as its admin.",
                org.name,
                admin.username.as_str()
            );
            render(&signed, ListQuery::default(), None, Some(done), revealed).await
        }
        Err(e) => {
            render(
                &signed,
                ListQuery::default(),
                Some(Shown::from(e)),
                None,
                None,
            )
            .await
        }
    })
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    active: String,
}

async fn change(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id: OrganizationId = super::path_id(&id, "No such organization.")?;
    let display = form.display_name.trim();
    let changes = TenantChanges {
        display_name: (!display.is_empty()).then(|| display.to_owned()),
        is_active: crate::forms::flag(Some(form.active.as_str())),
        ..TenantChanges::default()
    };
    let result = signed
        .services()
        .organizations(&signed.ctx)
        .update(id, changes)
        .await;
    Ok(match result {
        Ok(org) => {
            let state = if org.is_active {
                "active"
            } else {
                "deactivated"
            };
            let done = format!("{} ({}) is {state}.", org.display_name, org.slug.as_str());
            render(&signed, ListQuery::default(), None, Some(done), None).await
        }
        Err(e) => {
            render(
                &signed,
                ListQuery::default(),
                Some(Shown::from(e)),
                None,
                None,
            )
            .await
        }
    })
}
