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
    // The session goes on after the change.
    let keys = b.get("/console/api-keys");
    assert_eq!(keys.status, 200, "{keys:?}\n{:#?}", server.logs());
    assert!(keys.body.contains("Create a key"));
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
    assert!(
        page.body.contains("Rows per table"),
        "public health details"
    );

    // HEALTH_DETAILS=authenticated: nobody authenticates, nobody sees them.
    let hidden_db = TestDatabase::sqlite();
    let hidden = Server::start(
        &hidden_db.url(),
        &[
            ("ENABLE_AUTH", "false"),
            ("HEALTH_DETAILS", "authenticated"),
        ],
    );
    let page = Browser::new(&hidden).get("/console");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Rows per table"), "{}", page.body);
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

/// The text of the element with `id` (its first text run).
fn by_id(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {}", page.body))
        + marker.len();
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].trim().to_owned()
}

/// The id in the first `action="/console/<what>/<id>/..."` after `after`.
fn action_id(page: &Page, what: &str, after: &str) -> String {
    let from = page
        .body
        .find(after)
        .unwrap_or_else(|| panic!("no {after} in {}", page.body));
    let marker = format!("action=\"/console/{what}/");
    let start = page.body[from..].find(&marker).unwrap() + from + marker.len();
    let end = page.body[start..].find(['/', '"']).unwrap() + start;
    page.body[start..end].to_owned()
}

on_both!(admin_pages_act_through_the_services);

/// An administrator invites a user (the temporary password shown once),
/// creates and revokes an API key (refused by the API afterwards), creates
/// an `llm` connection through the generated form and tests it against a
/// stand-in, makes it the default, saves an organization setting (its
/// source changes), and finds each action in the audit log; a viewer sees
/// none of the write actions.
async fn admin_pages_act_through_the_services(db: TestDatabase) {
    let server = start(&db);
    let stub = support::stand_in::StandIn::start();
    let mut b = Browser::new(&server);
    assert_eq!(b.sign_in("admin", ADMIN_PASSWORD).status, 303);
    let token = b.csrf();

    // Users: invite, the password shown once with a copy button.
    let users = b.get("/console/users");
    assert_eq!(users.status, 200, "{users:?}");
    assert!(
        users.body.contains("You cannot change your own role"),
        "self rule shown"
    );
    let invited = b.post(
        "/console/users",
        &[
            ("csrf", &token),
            ("email", "vera@example.test"),
            ("username", "vera"),
            ("role", "viewer"),
        ],
    );
    assert_eq!(invited.status, 200, "{invited:?}");
    assert!(invited.body.contains("vera is invited."));
    assert!(invited.body.contains("data-copy=\"revealed-value\""));
    let vera_password = by_id(&invited, "revealed-value");
    assert!(vera_password.len() >= 16, "{vera_password}");
    let again = b.post(
        "/console/users",
        &[
            ("csrf", &token),
            ("email", "vera@example.test"),
            ("username", "vera2"),
        ],
    );
    assert_eq!(again.status, 409, "{again:?}");
    assert!(
        again.body.contains("e-mail address is already in use"),
        "{}",
        again.body
    );
    let searched = b.get("/console/users?q=ver");
    assert!(searched.body.contains("vera@example.test") && !searched.body.contains(">admin@"));
    let filtered = b.get("/console/users?role=org_admin&active=true");
    assert!(!filtered.body.contains("vera@example.test"));

    // API keys: create with a scope, use it, revoke it, see it refused.
    let keys = b.get("/console/api-keys");
    assert_eq!(keys.status, 200);
    assert!(
        keys.body.contains("name=\"scope:users:read\""),
        "scopes from the registry"
    );
    let created = b.post(
        "/console/api-keys",
        &[
            ("csrf", &token),
            ("name", "reporting"),
            ("expires_in_days", "30"),
            ("scope:users:read", "on"),
        ],
    );
    assert_eq!(created.status, 200, "{created:?}");
    let key = by_id(&created, "revealed-value");
    let listed = server.get_with("/api/v1/organizations/me/users", &[("x-api-key", &key)]);
    assert_eq!(listed.status, 200, "{listed:?}");
    let key_id = action_id(&created, "api-keys", "reporting</td>");
    let revoked = b.post(
        &format!("/console/api-keys/{key_id}/revoke"),
        &[("csrf", &token)],
    );
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert!(revoked.body.contains("revoked"));
    let refused = server.get_with("/api/v1/organizations/me/users", &[("x-api-key", &key)]);
    assert_eq!(refused.status, 401, "{refused:?}");

    // Connections: the form from the llm schema, created, tested, default.
    let form = b.get("/console/connections/new?type=llm");
    assert_eq!(form.status, 200, "{form:?}");
    assert!(
        form.body
            .contains("name=\"config.api_key\" type=\"password\""),
        "{}",
        form.body
    );
    assert!(
        form.body
            .contains("name=\"config.verify_ssl\" value=\"true\" checked")
    );
    assert!(
        form.body
            .contains("name=\"config.timeout\" type=\"number\"")
    );
    let base_url = format!("{}/v1", stub.base);
    let saved = b.post(
        "/console/connections/new",
        &[
            ("csrf", &token),
            ("type", "llm"),
            ("name", "Stub LLM"),
            ("config.api_key", "sk-console"),
            ("config.model", "gpt-stub"),
            ("config.base_url", &base_url),
            ("config.timeout", "5"),
        ],
    );
    assert_eq!(saved.status, 200, "{saved:?}");
    assert!(
        saved.body.contains("The connection Stub LLM is created."),
        "{}",
        saved.body
    );
    assert!(
        !saved.body.contains("sk-console"),
        "the secret is never shown back"
    );
    assert!(saved.body.contains("stored: leave blank to keep"));
    let id = action_id(&saved, "connections", "<h1>");
    let tested = b.post(
        &format!("/console/connections/{id}/test"),
        &[("csrf", &token)],
    );
    assert_eq!(tested.status, 200, "{tested:?}");
    assert!(tested.body.contains("The test passed."), "{}", tested.body);
    let default = b.post(
        &format!("/console/connections/{id}/default"),
        &[("csrf", &token)],
    );
    assert!(
        default.body.contains("is the default llm connection"),
        "{}",
        default.body
    );
    // Saving with the secret left blank keeps it: the test still passes.
    let edited = b.post(
        &format!("/console/connections/{id}"),
        &[
            ("csrf", &token),
            ("name", "Stub LLM"),
            ("config.api_key", ""),
            ("config.model", "gpt-stub-2"),
            ("config.base_url", &base_url),
            ("is_active", "true"),
            ("test_on_save", "true"),
        ],
    );
    assert_eq!(edited.status, 200, "{edited:?}");
    assert!(
        edited.body.contains("Test: <span class=\"ok\">passed"),
        "{}",
        edited.body
    );
    let overview = b.get("/console");
    assert!(
        overview.body.contains("Stub LLM"),
        "the default connection on the overview"
    );

    // Settings: an organization value changes the effective source.
    let settings = b.get("/console/settings");
    assert_eq!(settings.status, 200, "{settings:?}");
    assert!(
        settings.body.contains("name=\"key.auto_optimize\""),
        "{}",
        settings.body
    );
    let saved = b.post(
        "/console/settings/organization",
        &[("csrf", &token), ("key.auto_optimize", "false")],
    );
    assert_eq!(saved.status, 303, "{saved:?}");
    let after = b.get("/console/settings?done=saved");
    assert!(after.body.contains("Saved."));

    // Audit log: each action is there; filters and one entry.
    let audit = b.get("/console/audit?action=api_key_created");
    assert_eq!(audit.status, 200, "{audit:?}");
    assert!(audit.body.contains(">api_key_created<"));
    assert!(!audit.body.contains(">login<"));
    for action in [
        "register",
        "api_key_revoked",
        "create_connection",
        "test_connection",
        "set_default_connection",
        "update_organization_settings",
    ] {
        let page = b.get(&format!("/console/audit?action={action}"));
        assert!(
            page.body.contains(&format!(">{action}<")),
            "{action}: {}",
            page.body
        );
    }
    let at = audit.body.find("?at=").unwrap();
    let link_start = audit.body[..at].rfind("href=\"").unwrap() + 6;
    let link_end = audit.body[link_start..].find('"').unwrap() + link_start;
    let link = audit.body[link_start..link_end].replace("&amp;", "&");
    let entry = b.get(&link);
    assert_eq!(entry.status, 200, "{entry:?}");
    assert!(
        entry.body.contains("<h1>Audit entry</h1>"),
        "{link}: {}",
        entry.body
    );
    assert!(
        entry.body.contains("api_key_created"),
        "{link}: {}",
        entry.body
    );
    let csv = b.get("/console/audit/export?format=csv&action=api_key_created");
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("id,created_at,"), "{}", csv.body);
    assert_eq!(csv.body.lines().count(), 2, "{}", csv.body);
    let bad = b.get("/console/audit?user_id=nope");
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("user_id"),
        "the message names the parameter"
    );

    // Organizations (the default organization's admin is an instance admin).
    let orgs = b.get("/console/organizations");
    assert_eq!(orgs.status, 200, "{orgs:?}");
    let made = b.post(
        "/console/organizations",
        &[
            ("csrf", &token),
            ("name", "Acme"),
            ("slug", "acme"),
            ("admin_email", "boss@acme.test"),
            ("admin_username", "acmeboss"),
            ("admin_password", ""),
        ],
    );
    assert_eq!(made.status, 200, "{made:?}");
    assert!(
        made.body
            .contains("Acme is created with acmeboss as its admin.")
    );
    let boss_password = by_id(&made, "revealed-value");
    let found = b.get("/console/organizations?q=acm");
    assert!(found.body.contains("<td>acme</td>"), "{}", found.body);
    assert!(!found.body.contains("<td>default</td>"));

    // The new organization's admin signs in to their own organization.
    let mut boss = Browser::new(&server);
    assert_eq!(boss.sign_in("acmeboss", &boss_password).status, 303);
    let theirs = boss.get("/console");
    assert!(theirs.body.contains("Acme"), "{}", theirs.body);
    assert!(!theirs.body.contains("href=\"/console/organizations\""));

    // A viewer: read-only pages, no write action.
    let mut v = Browser::new(&server);
    let first = v.sign_in("vera", &vera_password);
    assert_eq!(first.header("location"), Some("/console/password"));
    let page = v.get("/console/password");
    let vt = page.hidden("csrf");
    let changed = v.post(
        "/console/password",
        &[
            ("csrf", &vt),
            ("current", &vera_password),
            ("password", "vera-own-password-1"),
            ("confirm", "vera-own-password-1"),
        ],
    );
    assert_eq!(changed.status, 303, "{changed:?}");
    let conns = v.get("/console/connections");
    assert_eq!(conns.status, 200, "{conns:?}");
    assert!(conns.body.contains("Stub LLM"));
    assert!(
        !conns.body.contains("/console/connections/new"),
        "no create for a viewer"
    );
    let one = v.get(&format!("/console/connections/{id}"));
    assert!(!one.body.contains("/test\""), "no test button for a viewer");
    let keys = v.get("/console/api-keys");
    assert!(!keys.body.contains("Create key"), "a viewer creates no key");
    let nav = v.get("/console");
    assert!(
        !nav.body.contains("href=\"/console/users\"")
            && !nav.body.contains("href=\"/console/audit\"")
    );
    let forbidden = v.post(
        &format!("/console/connections/{id}/default"),
        &[("csrf", &vt)],
    );
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    assert!(
        forbidden.body.contains("Your role does not allow this."),
        "{}",
        forbidden.body
    );
}

on_both!(a_reset_token_sets_a_new_password);

/// The reset token an admin issues in the console (shown once) sets a new
/// password at `/console/reset?token=…`, once.
async fn a_reset_token_sets_a_new_password(db: TestDatabase) {
    let server = start(&db);
    let mut admin = Browser::new(&server);
    assert_eq!(admin.sign_in("admin", ADMIN_PASSWORD).status, 303);
    let token = admin.csrf();
    let invited = admin.post(
        "/console/users",
        &[
            ("csrf", &token),
            ("email", "rita@example.test"),
            ("username", "rita"),
        ],
    );
    assert_eq!(invited.status, 200, "{invited:?}");
    let id = action_id(&invited, "users", "rita@example.test");
    let issued = admin.post(&format!("/console/users/{id}/reset"), &[("csrf", &token)]);
    assert_eq!(issued.status, 200, "{issued:?}");
    assert!(issued.body.contains("A reset token is issued."));
    let reset = by_id(&issued, "revealed-value");

    let mut rita = Browser::new(&server);
    let page = rita.get(&format!("/console/reset?token={}", urlencode(&reset)));
    assert_eq!(page.status, 200);
    assert_eq!(page.hidden("reset_token"), reset);
    let csrf = page.hidden("csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("reset_token", reset.as_str()),
        ("password", "rita-chosen-password-1"),
        ("confirm", "rita-chosen-password-1"),
    ];
    let done = rita.post("/console/reset", &fields);
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.header("location"), Some("/console/login?done=reset"));
    // Once only.
    let page = rita.get("/console/reset");
    let fields = [
        ("csrf", page.hidden("csrf")),
        ("reset_token", reset.clone()),
        ("password", "another-password-12".into()),
        ("confirm", "another-password-12".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = rita.post("/console/reset", &fields);
    assert_eq!(again.status, 400, "{again:?}");
    assert!(
        again
            .body
            .contains("reset link is unknown, already used or expired"),
        "{}",
        again.body
    );
    let signed = rita.sign_in("rita", "rita-chosen-password-1");
    assert_eq!(signed.status, 303, "{signed:?}");
    assert_eq!(signed.header("location"), Some("/console"));
}

/// Behind a trusted proxy that says HTTPS the cookies are `__Host-` and
/// `Secure`; the same header from anyone else changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_https_proxy_the_cookie_is_secure() {
    let db = TestDatabase::sqlite();
    let server = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let mut b = Browser::new(&server);
    let https = [("x-forwarded-proto", "https")];
    let login = b.request("GET", "/console/login", &https, None);
    assert!(
        login.set_cookies()[0].starts_with("__Host-curatore_console_login="),
        "{login:?}"
    );
    let csrf = login.hidden("csrf");
    let origin = server.base.clone();
    let signed = b.request(
        "POST",
        "/console/login",
        &[("x-forwarded-proto", "https"), ("origin", &origin)],
        Some(form(&[
            ("csrf", &csrf),
            ("login", "admin"),
            ("password", ADMIN_PASSWORD),
        ])),
    );
    assert_eq!(signed.status, 303, "{signed:?}");
    let session = signed
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-curatore_console="))
        .expect("the __Host- session cookie");
    assert!(
        session.contains("; Secure") && session.contains("Path=/"),
        "{session}"
    );
    assert_eq!(b.request("GET", "/console", &https, None).status, 200);

    // Without a trusted proxy, the header is not believed.
    let plain_db = TestDatabase::sqlite();
    let plain = Server::start(
        &plain_db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let mut p = Browser::new(&plain);
    let login = p.request("GET", "/console/login", &https, None);
    assert!(
        login.set_cookies()[0].starts_with("curatore_console_login="),
        "{login:?}"
    );
    assert!(!login.set_cookies()[0].contains("Secure"));
}
