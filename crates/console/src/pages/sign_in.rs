//! Signing in and out, and setting a password with a reset link.

use crate::errors::Shown;
use crate::forms::Csrf;
use crate::guard::{self, PageError, Pending, client_of, is_secure, login_token, read_cookie};
use crate::layout::{self, Layout, Notice};
use crate::session::{self, LOGIN_COOKIE, SESSION_COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use curatore_domain::Secret;
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/reset", web::get().to(reset_page))
        .route("/reset", web::post().to(reset));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    token: String,
    login: String,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn login_page(req: HttpRequest, q: web::Query<Done>) -> Result<HttpResponse, PageError> {
    let console = guard::console(&req)?;
    if !console.services().auth_enabled() {
        return Ok(guard::redirect("/console"));
    }
    let secure = is_secure(&req, console.services());
    let page = LoginPage {
        layout: Layout::anonymous("Sign in").with_notice(super::done_notice(q.done.as_deref())),
        token: login_token(&req, secure),
        login: String::new(),
    };
    Ok(layout::html(actix_web::http::StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(req: HttpRequest, form: web::Form<LoginForm>) -> Result<HttpResponse, PageError> {
    let console = guard::console(&req)?;
    let services = console.services();
    let secure = is_secure(&req, services);
    let form = form.into_inner();
    let again = |shown: Shown, req: &HttpRequest| {
        let page = LoginPage {
            layout: Layout::anonymous("Sign in").with_notice(Some(Notice::from(&shown))),
            token: login_token(req, secure),
            login: form.login.clone(),
        };
        layout::page(Some(&shown), &page)
    };
    let expected = read_cookie(&req, LOGIN_COOKIE, secure).unwrap_or_default();
    if expected.is_empty() || !session::same(&expected, &form.csrf) {
        let shown = Shown {
            status: 403,
            message: "This sign-in form has expired; please try again.".into(),
            code: "forbidden",
        };
        return Ok(again(shown, &req));
    }
    let client = client_of(&req, services);
    let password = Secret::new(form.password.clone());
    match services
        .anonymous(&client)
        .login(&form.login, &password)
        .await
    {
        Ok(s) => {
            let refresh = s.refresh_token.expose().to_owned();
            console
                .sessions()
                .put(&refresh, None, &s.access_token, s.expires_in);
            guard::set_cookie(
                &req,
                session::cookie(SESSION_COOKIE, &refresh, secure, None),
            );
            guard::set_cookie(&req, session::cookie(LOGIN_COOKIE, "", secure, Some(0)));
            let to = if s.user.password_change_required {
                "/console/password"
            } else {
                "/console"
            };
            Ok(guard::redirect(to))
        }
        Err(e) => Ok(again(Shown::from(e), &req)),
    }
}

async fn logout(
    req: HttpRequest,
    Pending(signed): Pending,
    form: web::Form<Csrf>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    signed.services().account(&signed.ctx).logout().await?;
    if let Some(cookie) = &signed.cookie {
        signed.console.sessions().forget(cookie);
    }
    guard::set_cookie(
        &req,
        session::cookie(SESSION_COOKIE, "", signed.secure, Some(0)),
    );
    Ok(guard::redirect("/console/login?done=signed-out"))
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    reset_token: String,
}

#[derive(Deserialize)]
struct ResetQuery {
    #[serde(default)]
    token: String,
}

async fn reset_page(
    req: HttpRequest,
    q: web::Query<ResetQuery>,
) -> Result<HttpResponse, PageError> {
    let console = guard::console(&req)?;
    let secure = is_secure(&req, console.services());
    let page = ResetPage {
        layout: Layout::anonymous("Set a new password"),
        token: login_token(&req, secure),
        reset_token: q.into_inner().token,
    };
    Ok(layout::html(actix_web::http::StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    reset_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

async fn reset(req: HttpRequest, form: web::Form<ResetForm>) -> Result<HttpResponse, PageError> {
    let console = guard::console(&req)?;
    let services = console.services();
    let secure = is_secure(&req, services);
    let form = form.into_inner();
    let expected = read_cookie(&req, LOGIN_COOKIE, secure).unwrap_or_default();
    let result = if expected.is_empty() || !session::same(&expected, &form.csrf) {
        Err(Shown {
            status: 403,
            message: "This form has expired; please try again.".into(),
            code: "forbidden",
        })
    } else if form.password != form.confirm {
        Err(Shown::invalid("The two passwords differ."))
    } else {
        let client = client_of(&req, services);
        services
            .anonymous(&client)
            .redeem_reset_token(
                &Secret::new(form.reset_token.clone()),
                &Secret::new(form.password.clone()),
            )
            .await
            .map_err(Shown::from)
    };
    match result {
        Ok(()) => Ok(guard::redirect("/console/login?done=reset")),
        Err(shown) => {
            let page = ResetPage {
                layout: Layout::anonymous("Set a new password")
                    .with_notice(Some(Notice::from(&shown))),
                token: login_token(&req, secure),
                reset_token: form.reset_token,
            };
            Ok(layout::page(Some(&shown), &page))
        }
    }
}
