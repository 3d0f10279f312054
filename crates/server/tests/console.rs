//! The administration console, black-box against the real server on both
//! engines: its session cookie, CSRF, security headers, the forced password
//! change, and pages acting through the same services as the API.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::json;
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

fn start(db: &TestDatabase) -> Server {
    Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    )
}

/// A browser of sorts: keeps the console's cookies, follows no redirect.
struct Browser<'a> {
    server: &'a Server,
    agent: ureq::Agent,
    cookies: Vec<(String, String)>,
}

#[derive(Debug)]
struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the hidden input `name` (the first one).
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl<'a> Browser<'a> {
    fn new(server: &'a Server) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Self {
            server,
            agent,
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, page: &Page) {
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            let expired = c.contains("Max-Age=0");
            if !expired && !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Page {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server.base));
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                b.into_bytes()
            }
            None => Vec::new(),
        };
        let mut res = self.agent.run(req.body(bytes).unwrap()).expect("request");
        let page = Page {
            status: res.status().as_u16(),
            headers: res
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: res.body_mut().read_to_string().unwrap_or_default(),
        };
        self.keep(&page);
        page
    }

    fn get(&mut self, path: &str) -> Page {
        self.request("GET", path, &[], None)
    }

    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let origin = self.server.base.clone();
        self.request("POST", path, &[("origin", &origin)], Some(form(fields)))
    }

    /// Signs in through the form; answers the redirect.
    fn sign_in(&mut self, login: &str, password: &str) -> Page {
        let page = self.get("/console/login");
        assert_eq!(page.status, 200, "{page:?}");
        let token = page.hidden("csrf");
        self.post(
            "/console/login",
            &[("csrf", &token), ("login", login), ("password", password)],
        )
    }

    /// The CSRF token of a signed-in page.
    fn csrf(&mut self) -> String {
        let page = self.get("/console/profile");
        assert_eq!(page.status, 200, "{page:?}");
        page.hidden("csrf")
    }
}

fn assert_security_headers(page: &Page) {
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
}

on_both!(
    sign_in_session_and_sign_out,
    csrf_and_cross_site_posts_are_refused
);

/// The sign-in form sets an HttpOnly, SameSite=Strict, host-only cookie
/// holding an opaque reference (not a JWT); pages need it; sign-out ends
/// the session on the server, so the same cookie no longer works.
async fn sign_in_session_and_sign_out(db: TestDatabase) {
    let server = start(&db);
    let mut b = Browser::new(&server);
    let root = b.get("/");
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/console"));
    let anonymous = b.get("/console");
    assert_eq!(anonymous.status, 303, "{anonymous:?}");
    assert_eq!(anonymous.header("location"), Some("/console/login"));

    let login = b.get("/console/login");
    assert_security_headers(&login);
    assert!(
        login.body.contains("<label>Username or e-mail"),
        "{}",
        login.body
    );

    let wrong = b.sign_in("admin", "not-the-password");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(
        wrong
            .body
            .contains("username, e-mail address or password is wrong"),
        "{}",
        wrong.body
    );
    assert!(!b.cookies.iter().any(|(k, _)| k == "curatore_console"));

    let ok = b.sign_in("admin", ADMIN_PASSWORD);
    assert_eq!(ok.status, 303, "{ok:?}");
    assert_eq!(ok.header("location"), Some("/console"));
    let session = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("curatore_console="))
        .expect("session cookie")
        .to_owned();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(
        session.contains("Path=/") && !session.to_lowercase().contains("domain="),
        "{session}"
    );
    // Over plain HTTP from an untrusted peer: not Secure, and no JWT in it.
    assert!(!session.contains("Secure"), "{session}");
    let value = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    assert_eq!(
        value.matches('.').count(),
        0,
        "an opaque reference, not a JWT: {value}"
    );

    let overview = b.get("/console");
    assert_eq!(overview.status, 200, "{overview:?}");
    assert_security_headers(&overview);
    assert!(overview.body.contains("<h1>Overview</h1>"));
    assert!(overview.body.contains("Latest audit entries"));
    assert!(
        overview.body.contains(">login<"),
        "the sign-in is in the trail"
    );
    assert_eq!(overview.header("cache-control"), Some("no-store"));

    // The page's assets: content-hashed names, cached for good.
    let css = overview
        .body
        .split("href=\"/console/static/")
        .nth(1)
        .unwrap();
    let css = css.split('"').next().unwrap();
    let asset = b.get(&format!("/console/static/{css}"));
    assert_eq!(asset.status, 200);
    assert!(asset.header("cache-control").unwrap().contains("immutable"));
    assert!(asset.body.contains("prefers-color-scheme: dark"));

    let kept = b.cookies.clone();
    let token = b.csrf();
    let out = b.post("/console/logout", &[("csrf", &token)]);
    assert_eq!(out.status, 303, "{out:?}");
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("curatore_console=;"))
    );
    // The old cookie, replayed: the session is over on the server.
    b.cookies = kept;
    let replay = b.get("/console");
    assert_eq!(replay.status, 303, "{replay:?}");
    assert_eq!(replay.header("location"), Some("/console/login"));
}

/// A post without the session's token, with another site's Origin, or that
/// the browser marks cross-site, is refused before anything happens.
async fn csrf_and_cross_site_posts_are_refused(db: TestDatabase) {
    let server = start(&db);
    let mut b = Browser::new(&server);
    assert_eq!(b.sign_in("admin", ADMIN_PASSWORD).status, 303);
    let token = b.csrf();

    let missing = b.post("/console/logout-everywhere", &[("csrf", "")]);
    assert_eq!(missing.status, 403, "{missing:?}");
    assert!(
        missing.body.contains("did not come from this console"),
        "{}",
        missing.body
    );
    let wrong = b.post("/console/logout-everywhere", &[("csrf", "forged")]);
    assert_eq!(wrong.status, 403);

    let cross = b.request(
        "POST",
        "/console/logout-everywhere",
        &[("origin", "http://evil.example")],
        Some(form(&[("csrf", &token)])),
    );
    assert_eq!(cross.status, 403, "{cross:?}");
    assert!(cross.body.contains("from another site"), "{}", cross.body);
    assert_security_headers(&cross);
    let fetch_site = b.request(
        "POST",
        "/console/logout-everywhere",
        &[("sec-fetch-site", "cross-site")],
        Some(form(&[("csrf", &token)])),
    );
    assert_eq!(fetch_site.status, 403);

    // None of these ended the session; the real form does.
    assert_eq!(b.get("/console").status, 200);
    let all = b.post("/console/logout-everywhere", &[("csrf", &token)]);
    assert_eq!(all.status, 303, "{all:?}");
    assert_eq!(b.get("/console").status, 303);
}

on_both!(temporary_password_leads_to_the_change_page);

/// An invited user's temporary password signs in to the change-password
/// page only; after the change every page opens.
async fn temporary_password_leads_to_the_change_page(db: TestDatabase) {
    let server = start(&db);
    let auth = support::login(&server, "admin", ADMIN_PASSWORD);
    let r = server.call(
        "POST",
        "/api/v1/organizations/me/users",
        &[("authorization", &auth)],
        Some(&json!({"email": "newbie@example.test", "username": "newbie", "role": "member"})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let temporary = r.json()["temporary_password"].as_str().unwrap().to_owned();

    let mut b = Browser::new(&server);
    let first = b.sign_in("newbie@example.test", &temporary);
    assert_eq!(first.status, 303, "{first:?}");
    assert_eq!(first.header("location"), Some("/console/password"));
    let elsewhere = b.get("/console/users");
    assert_eq!(elsewhere.status, 303);
    assert_eq!(elsewhere.header("location"), Some("/console/password"));
    let page = b.get("/console/password");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("temporary password"), "{}", page.body);
    let token = page.hidden("csrf");
    let differ = b.post(
        "/console/password",
        &[
            ("csrf", &token),
            ("current", &temporary),
            ("password", "a-new-long-password-1"),
            ("confirm", "other"),
        ],
    );
    assert_eq!(differ.status, 400);
    let changed = b.post(
        "/console/password",
        &[
            ("csrf", &token),
            ("current", &temporary),
            ("password", "a-new-long-password-1"),
            ("confirm", "a-new-long-password-1"),
        ],
    );
    assert_eq!(changed.status, 303, "{changed:?}");
    let overview = b.get("/console?done=password");
    assert_eq!(overview.status, 200, "{overview:?}");
    assert!(overview.body.contains("Your password is changed."));
    // A member sees no audit log.
    assert!(!overview.body.contains("Latest audit entries"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_off_the_console_is_read_only_with_a_banner() {
    let db = TestDatabase::sqlite();
    let server = Server::start(&db.url(), &[("ENABLE_AUTH", "false")]);
    let mut b = Browser::new(&server);
    let page = b.get("/console");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Authentication is off"), "{}", page.body);
    assert!(!page.body.contains("action=\"/console/logout\""));
    let post = b.post("/console/logout-everywhere", &[("csrf", "")]);
    assert_eq!(post.status, 403, "{post:?}");
    assert!(post.body.contains("read-only"), "{}", post.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_enabled_false_serves_no_console() {
    let db = TestDatabase::sqlite();
    let server = Server::start(&db.url(), &[("CONSOLE_ENABLED", "false")]);
    let r = server.get("/console");
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    let out = support::run(&db.url(), &[("CONSOLE_ENABLED", "false")], &["config"]);
    let text = support::output_text(&out);
    assert!(text.contains("CONSOLE_ENABLED"), "{text}");
}
