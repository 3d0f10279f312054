//! Profile: one's own account; the change-password page a temporary
//! password leads to; signing out everywhere.

use crate::errors::Shown;
use crate::forms::Csrf;
use crate::guard::{self, PageError, Pending, Signed};
use crate::layout::{self, Layout, Notice};
use crate::session::{self, SESSION_COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use curatore_domain::Secret;
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/profile", web::get().to(profile))
        .route("/password", web::get().to(password_page))
        .route("/password", web::post().to(change_password))
        .route("/logout-everywhere", web::post().to(logout_everywhere));
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    username: String,
    email: String,
    full_name: String,
    role: String,
    last_login: String,
    forced: bool,
}

async fn render(signed: &Signed, section: &'static str, shown: Option<Shown>) -> HttpResponse {
    let p = signed.ctx.principal();
    let forced = p.must_change_password();
    let (username, email, full_name, last_login) = match p.user() {
        Some(u) => (
            u.username.as_str().to_owned(),
            u.email.as_str().to_owned(),
            u.full_name.clone().unwrap_or_default(),
            u.last_login_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
        ),
        None => Default::default(),
    };
    let notice = shown.as_ref().map(Notice::from).or_else(|| {
        forced.then(|| Notice {
            kind: "error",
            message:
                "You signed in with a temporary password: choose your own before anything else."
                    .into(),
            code: "",
        })
    });
    let page = ProfilePage {
        layout: Layout::of(
            signed,
            section,
            if forced {
                "Set your password"
            } else {
                "Profile"
            },
        )
        .await
        .with_notice(notice),
        username,
        email,
        full_name,
        role: p.role().as_str().to_owned(),
        last_login,
        forced,
    };
    layout::page(shown.as_ref(), &page)
}

async fn profile(signed: Signed) -> Result<HttpResponse, PageError> {
    if signed.open {
        return Ok(guard::redirect("/console"));
    }
    Ok(render(&signed, "profile", None).await)
}

async fn password_page(Pending(signed): Pending) -> Result<HttpResponse, PageError> {
    if signed.open {
        return Ok(guard::redirect("/console"));
    }
    Ok(render(&signed, "profile", None).await)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

async fn change_password(
    Pending(signed): Pending,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    if form.password != form.confirm {
        return Ok(render(
            &signed,
            "profile",
            Some(Shown::invalid("The two new passwords differ.")),
        )
        .await);
    }
    let result = signed
        .services()
        .account(&signed.ctx)
        .change_password(
            &Secret::new(form.current.clone()),
            &Secret::new(form.password.clone()),
        )
        .await;
    match result {
        Ok(()) => Ok(guard::redirect("/console?done=password")),
        Err(e) => Ok(render(&signed, "profile", Some(Shown::from(e))).await),
    }
}

async fn logout_everywhere(
    req: HttpRequest,
    Pending(signed): Pending,
    form: web::Form<Csrf>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    signed
        .services()
        .account(&signed.ctx)
        .logout_everywhere()
        .await?;
    if let Some(cookie) = &signed.cookie {
        signed.console.sessions().forget(cookie);
    }
    guard::set_cookie(
        &req,
        session::cookie(SESSION_COOKIE, "", signed.secure, Some(0)),
    );
    Ok(guard::redirect("/console/login?done=signed-out-everywhere"))
}
