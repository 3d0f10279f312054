//! What every page shares: the navigation the caller's role allows, who is
//! signed in, the CSRF token for its forms, and one notice.

use crate::assets::{self, Urls};
use crate::errors::Shown;
use crate::guard::Signed;
use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;
use curatore_domain::Role;

/// One entry of the main navigation.
#[derive(Debug, Clone)]
pub(crate) struct NavItem {
    pub(crate) key: &'static str,
    pub(crate) label: &'static str,
    pub(crate) href: &'static str,
}

/// A message at the top of the page.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    /// `error` or `success`.
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    /// The error code, for those who report it.
    pub(crate) code: &'static str,
}

impl Notice {
    pub(crate) fn success(message: impl Into<String>) -> Self {
        Self {
            kind: "success",
            message: message.into(),
            code: "",
        }
    }
}

impl From<&Shown> for Notice {
    fn from(s: &Shown) -> Self {
        Self {
            kind: "error",
            message: s.message.clone(),
            code: s.code,
        }
    }
}

/// The frame of every page.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) section: &'static str,
    pub(crate) nav: Vec<NavItem>,
    pub(crate) who: String,
    pub(crate) org: String,
    pub(crate) role: String,
    pub(crate) csrf: String,
    pub(crate) open: bool,
    pub(crate) notice: Option<Notice>,
    pub(crate) assets: Urls,
}

impl Layout {
    /// The frame of a page outside a session (sign-in, reset).
    pub(crate) fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            section: "",
            nav: Vec::new(),
            who: String::new(),
            org: String::new(),
            role: String::new(),
            csrf: String::new(),
            open: false,
            notice: None,
            assets: assets::urls(),
        }
    }

    /// The frame of a page of `section` for the signed-in caller.
    pub(crate) async fn of(signed: &Signed, section: &'static str, title: &str) -> Self {
        let p = signed.ctx.principal();
        let admin = p.role().satisfies(Role::OrgAdmin);
        let pending = p.must_change_password();
        let mut nav = Vec::new();
        if !pending {
            nav.push(item("overview", "Overview", "/console"));
            if admin {
                nav.push(item("users", "Users", "/console/users"));
            }
            if !signed.open {
                nav.push(item("api-keys", "API keys", "/console/api-keys"));
            }
            nav.push(item("connections", "Connections", "/console/connections"));
            nav.push(item("settings", "Settings", "/console/settings"));
            if admin {
                nav.push(item("audit", "Audit log", "/console/audit"));
            }
            if instance_admin(signed).await {
                nav.push(item(
                    "organizations",
                    "Organizations",
                    "/console/organizations",
                ));
            }
            if !signed.open {
                nav.push(item("profile", "Profile", "/console/profile"));
            }
        }
        let who = match p.user() {
            Some(u) => u.username.as_str().to_owned(),
            None => "anonymous (authentication off)".to_owned(),
        };
        Self {
            title: title.to_owned(),
            section,
            nav,
            who,
            org: p.organization().name.clone(),
            role: p.role().as_str().to_owned(),
            csrf: signed.csrf.clone(),
            open: signed.open,
            notice: None,
            assets: assets::urls(),
        }
    }

    #[must_use]
    pub(crate) fn with_notice(mut self, notice: Option<Notice>) -> Self {
        self.notice = notice;
        self
    }
}

/// Whether the caller administers the instance (sees every organization).
pub(crate) async fn instance_admin(signed: &Signed) -> bool {
    !signed.open
        && signed.ctx.principal().role().satisfies(Role::OrgAdmin)
        && signed
            .services()
            .organizations(&signed.ctx)
            .is_instance_admin()
            .await
            .unwrap_or(false)
}

fn item(key: &'static str, label: &'static str, href: &'static str) -> NavItem {
    NavItem { key, label, href }
}

/// The page for answers made before a page could be.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) assets: Urls,
}

/// Renders `page` with `status`.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(body),
        Err(e) => {
            tracing::error!("console template failed: {e}");
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .body("<!doctype html><title>Error</title><p>The page could not be drawn; it is in the server's log.</p>")
        }
    }
}

/// Renders `page` with 200, or with the status of the failure it shows.
pub(crate) fn page(shown: Option<&Shown>, page: &impl Template) -> HttpResponse {
    let status = shown
        .and_then(|s| StatusCode::from_u16(s.status).ok())
        .unwrap_or(StatusCode::OK);
    html(status, page)
}
