//! Who is signed in, and what every console answer carries: the security
//! headers, the session cookie's rotation, and the refusal of cross-site
//! writes.

use crate::Console;
use crate::errors::Shown;
use crate::session::{self, LOGIN_COOKIE, SESSION_COOKIE};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use curatore_domain::{Role, Secret};
use curatore_service::{Client, Credentials, RequestContext, ServiceError, Services};
use curatore_web::ErrorCode;
use std::future::Future;
use std::pin::Pin;

/// No inline script or style, nothing from elsewhere, no framing.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// A `Set-Cookie` a handler or extractor wants on the answer.
#[derive(Clone)]
pub(crate) struct SetCookie(pub(crate) Vec<String>);

pub(crate) fn set_cookie(req: &HttpRequest, value: String) {
    let mut ext = req.extensions_mut();
    if let Some(SetCookie(list)) = ext.get_mut::<SetCookie>() {
        list.push(value);
    } else {
        ext.insert(SetCookie(vec![value]));
    }
}

/// Middleware of the `/console` scope.
pub(crate) async fn console_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() == Method::POST && is_cross_site(req.request()) {
        let res = error_page(
            StatusCode::FORBIDDEN,
            "This form was sent from another site, so it was refused.",
        );
        let mut res = req.into_response(res);
        secure_headers(res.headers_mut(), true);
        return Ok(res);
    }
    let res = next.call(req).await?;
    let mut res = res.map_into_boxed_body();
    let cookies = res.request().extensions().get::<SetCookie>().cloned();
    if let Some(SetCookie(list)) = cookies {
        for c in list {
            if let Ok(v) = HeaderValue::from_str(&c) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
    let is_asset = res.request().path().starts_with("/console/static/");
    secure_headers(res.headers_mut(), !is_asset);
    Ok(res)
}

fn secure_headers(h: &mut header::HeaderMap, no_store: bool) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if no_store {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// A write from another site: the browser says so (`Sec-Fetch-Site`), or
/// the `Origin` is not this host.
fn is_cross_site(req: &HttpRequest) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(host) = h.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let bare = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    bare != Some(host)
}

/// A minimal page for answers made before any page could be (refusals).
pub(crate) fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let page = crate::layout::ErrorPage {
        status: status.as_u16(),
        message: message.to_owned(),
        assets: crate::assets::urls(),
    };
    crate::layout::html(status, &page)
}

/// Where a request comes from, as the services take it.
pub(crate) fn client_of(req: &HttpRequest, services: &Services) -> Client {
    Client {
        request_id: req
            .extensions()
            .get::<curatore_web::RequestId>()
            .map(|r| r.as_str().to_owned()),
        ip: curatore_web::client::client_ip(req, services.trusted_proxies()),
        user_agent: curatore_web::client::user_agent(req),
    }
}

/// Whether the browser reached us over HTTPS: our own TLS, or a trusted
/// proxy saying so (`X-Forwarded-Proto` from anyone else is ignored).
pub(crate) fn is_secure(req: &HttpRequest, services: &Services) -> bool {
    if req.app_config().secure() {
        return true;
    }
    let trusted = req
        .peer_addr()
        .is_some_and(|a| services.trusted_proxies().contains(&a.ip()));
    trusted
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The value of our cookie `name` (under either of its names).
pub(crate) fn read_cookie(req: &HttpRequest, name: &str, secure: bool) -> Option<String> {
    let wanted = session::cookie_name(name, secure);
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == wanted)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// Why a console request cannot be served as asked.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in (or the session ended): to the sign-in page, clearing
    /// the cookie if one was sent.
    SignIn { clear: Option<String> },
    /// Signed in with a temporary password: to the change-password page.
    ChangePassword,
    /// A failure to show.
    Shown(Shown),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn { .. } => f.write_str("sign in"),
            Self::ChangePassword => f.write_str("change password"),
            Self::Shown(s) => f.write_str(&s.message),
        }
    }
}

impl From<ServiceError> for PageError {
    fn from(err: ServiceError) -> Self {
        Self::Shown(Shown::from(err))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } | Self::ChangePassword => StatusCode::SEE_OTHER,
            Self::Shown(s) => {
                StatusCode::from_u16(s.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn { clear } => {
                let mut res = redirect("/console/login");
                if let Some(c) = clear
                    && let Ok(v) = HeaderValue::from_str(c)
                {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
                res
            }
            Self::ChangePassword => redirect("/console/password"),
            Self::Shown(s) => error_page(self.status_code(), &s.message),
        }
    }
}

/// 303 to `to` (after a form, GET; htmx follows it and swaps the page).
pub(crate) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The signed-in caller of a console page.
pub(crate) struct Signed {
    pub(crate) console: Console,
    pub(crate) ctx: RequestContext,
    /// The session's synchronizer token (empty with authentication off).
    pub(crate) csrf: String,
    /// Authentication is off: the default organization, read-only.
    pub(crate) open: bool,
    /// The cookie as sent (to end the session).
    pub(crate) cookie: Option<String>,
    pub(crate) secure: bool,
}

impl Signed {
    pub(crate) fn services(&self) -> &Services {
        self.console.services()
    }

    pub(crate) fn role(&self) -> Role {
        self.ctx.principal().role()
    }

    /// Whether the caller may change things at the `role` level.
    pub(crate) fn can(&self, role: Role) -> bool {
        !self.open && self.role().satisfies(role)
    }

    /// Refuses a write without this session's token, and any write with
    /// authentication off (the console is read-only then).
    pub(crate) fn check(&self, token: &str) -> Result<(), PageError> {
        if self.open {
            return Err(PageError::Shown(Shown {
                status: 403,
                message: "Authentication is off: the console is read-only.".into(),
                code: ErrorCode::Forbidden.as_str(),
            }));
        }
        if self.csrf.is_empty() || !session::same(token, &self.csrf) {
            return Err(PageError::Shown(Shown {
                status: 403,
                message: "This form has expired or did not come from this console; reload the page and try again.".into(),
                code: ErrorCode::Forbidden.as_str(),
            }));
        }
        Ok(())
    }
}

/// A signed-in caller who may still have to change a temporary password.
pub(crate) struct Pending(pub(crate) Signed);

impl FromRequest for Signed {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let signed = resolve(&req).await?;
            if signed.ctx.principal().must_change_password() {
                return Err(PageError::ChangePassword);
            }
            Ok(signed)
        })
    }
}

impl FromRequest for Pending {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(&req).await.map(Pending) })
    }
}

pub(crate) fn console(req: &HttpRequest) -> Result<Console, PageError> {
    req.app_data::<web::Data<Console>>()
        .map(|c| c.get_ref().clone())
        .ok_or_else(|| PageError::Shown(Shown::from(&curatore_web::ApiError::internal())))
}

async fn resolve(req: &HttpRequest) -> Result<Signed, PageError> {
    let console = console(req)?;
    let services = console.services();
    let client = client_of(req, services);
    let secure = is_secure(req, services);
    if !services.auth_enabled() {
        let ctx = services.authenticate(Credentials::None, client).await?;
        return Ok(Signed {
            console: console.clone(),
            ctx,
            csrf: String::new(),
            open: true,
            cookie: None,
            secure,
        });
    }
    let Some(cookie) = read_cookie(req, SESSION_COOKIE, secure) else {
        return Err(PageError::SignIn { clear: None });
    };
    let ended = || PageError::SignIn {
        clear: Some(session::cookie(SESSION_COOKIE, "", secure, Some(0))),
    };
    let cached = console.sessions().get(&cookie);
    let fresh = cached.is_none();
    let (mut access, mut successor) = match cached {
        Some(cached) => (cached.access_token, cached.successor),
        None => {
            let (access, new) = rotate(&console, &client, &cookie, secure).await?;
            (access, Some(new))
        }
    };
    let mut ctx = services
        .authenticate_pending(Credentials::Bearer(access.clone()), client.clone())
        .await;
    if !fresh && ctx.as_ref().is_err_and(|e| code_of(e).status() == 401) {
        // The cached access token no longer works (a password change, a
        // role change): the session may still, through its refresh token.
        console.sessions().forget(&cookie);
        let current = successor.clone().unwrap_or_else(|| cookie.clone());
        let (a, new) = rotate(&console, &client, &current, secure).await?;
        access = a;
        successor = Some(new);
        ctx = services
            .authenticate_pending(Credentials::Bearer(access.clone()), client)
            .await;
    }
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(e) if code_of(&e).status() == 401 || code_of(&e) == ErrorCode::OrganizationInactive => {
            console.sessions().forget(&cookie);
            return Err(ended());
        }
        Err(e) => return Err(e.into()),
    };
    let cookie = match successor {
        Some(new) => {
            set_cookie(req, session::cookie(SESSION_COOKIE, &new, secure, None));
            new
        }
        None => cookie,
    };
    let csrf = ctx
        .principal()
        .session_id()
        .map(|sid| session::csrf_token(console.csrf_key(), sid))
        .unwrap_or_default();
    Ok(Signed {
        console: console.clone(),
        ctx,
        csrf,
        open: false,
        cookie: Some(cookie),
        secure,
    })
}

/// Rotates the refresh token `cookie`: the new access token and cookie.
async fn rotate(
    console: &Console,
    client: &Client,
    cookie: &str,
    secure: bool,
) -> Result<(String, String), PageError> {
    let refreshed = console
        .services()
        .anonymous(client)
        .refresh(&Secret::new(cookie.to_owned()))
        .await;
    match refreshed {
        Ok(s) => {
            let new = s.refresh_token.expose().to_owned();
            console
                .sessions()
                .put(&new, Some(cookie), &s.access_token, s.expires_in);
            Ok((s.access_token, new))
        }
        Err(e) if code_of(&e).status() == 401 => Err(PageError::SignIn {
            clear: Some(session::cookie(SESSION_COOKIE, "", secure, Some(0))),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The sign-in form's double-submit token: the cookie's, or a new one set
/// on the answer.
pub(crate) fn login_token(req: &HttpRequest, secure: bool) -> String {
    if let Some(t) = read_cookie(req, LOGIN_COOKIE, secure) {
        return t;
    }
    let t = session::random_token();
    set_cookie(req, session::cookie(LOGIN_COOKIE, &t, secure, None));
    t
}

/// The wire code of a service failure (the API's one mapping).
pub(crate) fn code_of(err: &ServiceError) -> ErrorCode {
    curatore_web::wire(err).0
}
