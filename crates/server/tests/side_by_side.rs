//! The side-by-side deployment, black-box on both engines: nginx with
//! `deploy/side-by-side/nginx.conf` (only its three addresses changed) in
//! front of the real server and a stand-in for the original's
//! document-processing backend. From the UI's origin (`http://localhost:3000`)
//! through the proxy: each path of the path table reaches its side, with
//! CORS answered (preflights included) on both; then the requests of the
//! original UI's sign-in, connections, settings, System Health, invite and
//! Admin Settings pages, none of which fails on our side.
//!
//! nginx comes from `scripts/proxy-test.sh` (which installs Debian's `nginx`
//! when missing; `scripts/test.sh` calls it). Without it the test is
//! skipped, except under CI (`CI` set), where it fails.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::stand_in::{SERVED_BY, StandIn};
use support::{Reply, Server, assert_cors, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const UI: &str = support::UI_ORIGIN;
const CONFIG: &str = include_str!("../../../deploy/side-by-side/nginx.conf");

/// nginx: `NGINX` if set, else `nginx` on `PATH`, else Debian's `/usr/sbin/nginx`.
fn nginx() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NGINX") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
}

/// The shipped configuration with its three addresses replaced; each must
/// be there exactly once, so the file and this test cannot drift apart.
fn configuration(listen: u16, curatore: &str, documents: &str) -> String {
    let mut config = CONFIG.to_owned();
    for (from, to) in [
        (
            "listen 127.0.0.1:8000;",
            format!("listen 127.0.0.1:{listen};"),
        ),
        ("server 127.0.0.1:8002;", format!("server {curatore};")),
        ("server 127.0.0.1:8001;", format!("server {documents};")),
    ] {
        assert_eq!(config.matches(from).count(), 1, "`{from}` in nginx.conf");
        config = config.replace(from, &to);
    }
    config
}

/// nginx in the foreground with the shipped file included in a minimal main
/// configuration (its own pid, logs and temporary files in a temporary
/// directory); killed on drop.
struct Proxy {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Proxy {
    fn start(binary: &Path, curatore: &str, documents: &str) -> Self {
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let d = dir.path().display();
            std::fs::write(
                dir.path().join("curatore-side-by-side.conf"),
                configuration(port, curatore, documents),
            )
            .unwrap();
            let main = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 include {d}/curatore-side-by-side.conf;\n}}\n"
            );
            std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
            let error_log = dir.path().join("error.log");
            let mut child = Command::new(binary)
                .arg("-e")
                .arg(&error_log)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        child,
                        base: format!("http://127.0.0.1:{port}"),
                        dir,
                    };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = std::fs::read_to_string(&error_log).unwrap_or_default();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("nginx did not start: {last_error}");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking()
            && let Ok(log) = std::fs::read_to_string(self.dir.path().join("error.log"))
        {
            eprintln!("nginx error.log:\n{log}");
        }
    }
}

/// The deployment: our server, the stand-in, nginx in front of both.
struct SideBySide {
    server: Server,
    documents: StandIn,
    proxy: Proxy,
}

impl SideBySide {
    /// `None` (the test skipped) when nginx is missing outside CI.
    fn start(db: &TestDatabase) -> Option<Self> {
        let Some(binary) = nginx() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "nginx is missing under CI: run scripts/proxy-test.sh --install-only"
            );
            eprintln!("SKIPPED: no nginx (scripts/proxy-test.sh installs it)");
            return None;
        };
        let server = Server::start(
            &db.url(),
            &[
                ("ENABLE_AUTH", "true"),
                ("JWT_SECRET_KEY", SECRET),
                ("ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("TRUSTED_PROXIES", "127.0.0.1"),
            ],
        );
        let documents = StandIn::start();
        let proxy = Proxy::start(
            &binary,
            server.base.trim_start_matches("http://"),
            documents.address(),
        );
        Some(Self {
            server,
            documents,
            proxy,
        })
    }

    /// A request as the UI's browser sends it to the proxy: its `Origin`,
    /// and the bearer token when given.
    fn ui(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("origin", UI)];
        if let Some(auth) = auth.as_deref() {
            headers.push(("authorization", auth));
        }
        self.server
            .call_at(&self.proxy.base, method, path, &headers, body)
    }

    /// The browser's preflight for `method` on `path`, through the proxy.
    fn preflight(&self, method: &str, path: &str) -> Reply {
        self.server.call_at(
            &self.proxy.base,
            "OPTIONS",
            path,
            &[
                ("origin", UI),
                ("access-control-request-method", method),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
            None,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Curatore,
    Documents,
}

fn side(r: &Reply) -> Side {
    if r.header("x-served-by") == Some(SERVED_BY) {
        Side::Documents
    } else {
        assert!(
            r.header("x-request-id").is_some(),
            "neither side's mark: {r:?}"
        );
        Side::Curatore
    }
}

fn str_field<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {v}"))
}

/// The path table of docs/switching-from-the-original.md: method, path,
/// and the side that must answer it.
const PATHS: &[(&str, &str, Side)] = &[
    ("GET", "/api/v1/health", Side::Curatore),
    ("POST", "/api/v1/auth/login", Side::Curatore),
    ("GET", "/api/v1/auth/me", Side::Curatore),
    ("GET", "/api/v1/users", Side::Curatore),
    ("POST", "/api/v1/users/invite", Side::Curatore),
    ("GET", "/api/v1/organizations/me", Side::Curatore),
    ("GET", "/api/v1/api-keys", Side::Curatore),
    ("GET", "/api/v1/connections", Side::Curatore),
    ("GET", "/api/v1/connections/types", Side::Curatore),
    ("GET", "/api/v1/settings/organization", Side::Curatore),
    ("GET", "/api/v1/settings/schema", Side::Curatore),
    ("GET", "/api/v1/audit-logs", Side::Curatore),
    ("GET", "/api/v1/llm/status", Side::Curatore),
    ("GET", "/api/v1/extractor/status", Side::Curatore),
    ("GET", "/api/v1/system/health", Side::Curatore),
    ("GET", "/api/v1/system/health/backend", Side::Curatore),
    ("GET", "/api/v1/system/health/database", Side::Curatore),
    ("GET", "/api/v1/system/health/comprehensive", Side::Curatore),
    ("GET", "/api/v1/system/health/llm", Side::Curatore),
    ("GET", "/api/v1/system/health/extraction", Side::Curatore),
    ("GET", "/api/v1/system/health/sharepoint", Side::Curatore),
    ("GET", "/api/auth/me", Side::Curatore),
    ("GET", "/livez", Side::Curatore),
    ("GET", "/openapi.json", Side::Curatore),
    ("GET", "/docs/", Side::Curatore),
    ("GET", "/api/v1/system/health/redis", Side::Documents),
    ("GET", "/api/v1/system/health/celery", Side::Documents),
    ("GET", "/api/v1/system/health/docling", Side::Documents),
    ("GET", "/api/v1/config/supported-formats", Side::Documents),
    ("GET", "/api/v1/config/defaults", Side::Documents),
    ("GET", "/api/v1/system/queues", Side::Documents),
    (
        "GET",
        "/api/v1/system/queues/summary?batch_id=b1",
        Side::Documents,
    ),
    ("POST", "/api/v1/system/reset", Side::Documents),
    ("GET", "/api/v1/documents/uploaded", Side::Documents),
    ("POST", "/api/v1/documents/upload", Side::Documents),
    ("GET", "/api/v1/documents/doc-1/result", Side::Documents),
    ("DELETE", "/api/v1/documents/doc-1", Side::Documents),
    ("GET", "/api/v1/jobs/job-1", Side::Documents),
    ("GET", "/api/v1/healthz", Side::Documents),
    ("GET", "/api/v1/usersettings", Side::Documents),
];

async fn each_path_reaches_its_side_with_cors(db: TestDatabase) {
    let Some(d) = SideBySide::start(&db) else {
        return;
    };
    for &(method, path, expected) in PATHS {
        let r = d.ui(method, path, None, None);
        assert_eq!(side(&r), expected, "{method} {path}: {r:?}");
        assert_cors(&r);
        // The browser's preflight reaches the same side and is allowed.
        let p = d.preflight(method, path);
        assert_eq!(side(&p), expected, "preflight {method} {path}: {p:?}");
        assert_eq!(p.status, 200, "preflight {method} {path}: {p:?}");
        assert_cors(&p);
        let methods = p.header("access-control-allow-methods").unwrap_or_default();
        assert!(methods.contains(method), "{method} {path}: {p:?}");
        let headers = p
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(headers.contains("authorization"), "{path}: {p:?}");
    }
    // The stand-in saw exactly the document side's requests (preflights too).
    let seen = d.documents.seen.lock().unwrap().clone();
    let expected = PATHS
        .iter()
        .filter(|(_, _, s)| *s == Side::Documents)
        .count();
    assert_eq!(seen.len(), 2 * expected, "{seen:?}");
    // Another origin gets no permission from either side.
    for path in ["/api/v1/auth/me", "/api/v1/documents/uploaded"] {
        let r = d.server.call_at(
            &d.proxy.base,
            "GET",
            path,
            &[("origin", "http://evil.example")],
            None,
        );
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
    }
    // Our server reads the client's address from the proxy's
    // X-Forwarded-For (TRUSTED_PROXIES=127.0.0.1): the audit trail shows it.
    let r = d.server.call_at(
        &d.proxy.base,
        "POST",
        "/api/v1/auth/login",
        &[("origin", UI), ("x-forwarded-for", "203.0.113.7")],
        Some(&json!({"email_or_username": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let token = str_field(&r.json(), "access_token").to_owned();
    let trail = d
        .ui(
            "GET",
            "/api/v1/audit-logs?action=login&limit=1",
            Some(&token),
            None,
        )
        .json();
    assert_eq!(trail["items"][0]["ip_address"], "203.0.113.7", "{trail}");
    d.server.stop();
}

/// What the original UI's pages ask, in the side-by-side deployment: none
/// of our answers is an error the page would show.
async fn the_original_uis_pages_through_the_proxy(db: TestDatabase) {
    let Some(d) = SideBySide::start(&db) else {
        return;
    };
    // Sign-in page: the preflight, the login, the profile, the health poll.
    assert_eq!(d.preflight("POST", "/api/v1/auth/login").status, 200);
    let r = d.ui(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"email_or_username": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let admin = str_field(&r.json(), "access_token").to_owned();
    let me = d.ui("GET", "/api/v1/auth/me", Some(&admin), None);
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json()["organization_name"], "Default Organization");
    let health = d.ui("GET", "/api/v1/health", None, None).json();
    assert_eq!(health["status"], "healthy", "{health}");

    // Settings page, before any connection: answered without a token.
    for path in ["/api/v1/llm/status", "/api/v1/extractor/status"] {
        let r = d.ui("GET", path, None, None);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_cors(&r);
        assert_eq!(r.json()["connected"], false, "{r:?}");
    }

    // Connections page: the types, then an LLM and an extraction service
    // (the stand-in answers their tests), tested on save, listed healthy.
    let types = d.ui("GET", "/api/v1/connections/types", Some(&admin), None);
    assert_eq!(types.status, 200, "{types:?}");
    let model_url = format!("{}/v1", d.documents.base);
    for (name, kind, config) in [
        (
            "Model",
            "llm",
            json!({"api_key": "sk-side-by-side", "model": "gpt-x", "base_url": model_url}),
        ),
        (
            "Extractor",
            "extraction",
            json!({"service_url": d.documents.base}),
        ),
    ] {
        let r = d.ui(
            "POST",
            "/api/v1/connections",
            Some(&admin),
            Some(
                &json!({"name": name, "connection_type": kind, "config": config,
                         "is_default": true, "test_on_save": true}),
            ),
        );
        assert_eq!(r.status, 201, "{r:?}");
        assert_cors(&r);
        assert_eq!(r.json()["health_status"], "healthy", "{r:?}");
        assert!(!r.body.contains("sk-side-by-side"), "{r:?}");
    }
    let list = d
        .ui("GET", "/api/v1/connections", Some(&admin), None)
        .json();
    assert_eq!(list["total"], 2, "{list}");

    // Settings page after: connected, with endpoint and model, no secret.
    let r = d.ui("GET", "/api/v1/llm/status", None, None);
    let status = r.json();
    assert_eq!(status["connected"], true, "{status}");
    assert_eq!(status["model"], "gpt-x", "{status}");
    assert_eq!(status["endpoint"], json!(model_url), "{status}");
    assert!(status["response_time"].is_number(), "{status}");
    assert!(!r.body.contains("sk-side-by-side"), "{r:?}");
    assert_eq!(
        d.ui("GET", "/api/v1/extractor/status", None, None).json()["connected"],
        true
    );
    assert_eq!(
        d.ui("GET", "/api/v1/health", None, None).json()["llm_connected"],
        true
    );

    // System Health page: eight cards, fetched without a token; ours are
    // healthy or not configured, Redis/Celery/Docling the document side's.
    for (component, from, status) in [
        ("backend", Side::Curatore, "healthy"),
        ("database", Side::Curatore, "healthy"),
        ("llm", Side::Curatore, "healthy"),
        ("extraction", Side::Curatore, "healthy"),
        ("sharepoint", Side::Curatore, "not_configured"),
        ("redis", Side::Documents, ""),
        ("celery", Side::Documents, ""),
        ("docling", Side::Documents, ""),
    ] {
        let r = d.ui(
            "GET",
            &format!("/api/v1/system/health/{component}"),
            None,
            None,
        );
        assert_eq!(r.status, 200, "{component}: {r:?}");
        assert_cors(&r);
        assert_eq!(side(&r), from, "{component}: {r:?}");
        if from == Side::Curatore {
            let card = r.json();
            assert_eq!(card["status"], status, "{component}: {card}");
            str_field(&card, "message");
        }
    }
    let llm = d.ui("GET", "/api/v1/system/health/llm", None, None).json();
    assert_eq!(llm["message"], "Connected to gpt-x", "{llm}");
    assert_eq!(llm["model"], "gpt-x", "{llm}");

    // The invite form: roles `user` and `admin`; the invited user signs in
    // with the temporary password shown once.
    assert_eq!(d.preflight("POST", "/api/v1/users/invite").status, 200);
    let mut temporary = Vec::new();
    for (email, ui_role, role) in [
        ("new.user@example.test", "user", "member"),
        ("new.admin@example.test", "admin", "org_admin"),
    ] {
        let r = d.ui(
            "POST",
            "/api/v1/users/invite",
            Some(&admin),
            Some(&json!({"email": email, "role": ui_role, "full_name": "Invited", "send_email": false})),
        );
        assert_eq!(r.status, 201, "{ui_role}: {r:?}");
        assert_cors(&r);
        let body = r.json();
        assert_eq!(body["user"]["role"], role, "{body}");
        temporary.push((email, str_field(&body, "temporary_password").to_owned()));
    }
    for (email, password) in &temporary {
        let r = d.ui(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email_or_username": email, "password": password})),
        );
        assert_eq!(r.status, 200, "{email}: {r:?}");
        assert_eq!(r.json()["password_change_required"], true, "{r:?}");
    }

    // Admin Settings: the seeded values load; a change saves and is read back.
    let r = d.ui("GET", "/api/v1/settings/organization", Some(&admin), None);
    assert_eq!(r.status, 200, "{r:?}");
    let mut edited = r.json()["settings"].clone();
    assert_eq!(
        edited,
        json!({"quality_thresholds": {"conversion": 70, "clarity": 7, "completeness": 7,
               "relevance": 7, "markdown": 7}, "auto_optimize": false})
    );
    let user = d.ui("GET", "/api/v1/settings/user", Some(&admin), None);
    assert_eq!(user.status, 200, "{user:?}");
    edited["auto_optimize"] = json!(true);
    assert_eq!(
        d.preflight("PUT", "/api/v1/settings/organization").status,
        200
    );
    let r = d.ui(
        "PUT",
        "/api/v1/settings/organization",
        Some(&admin),
        Some(&json!({ "settings": edited })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_cors(&r);
    let r = d.ui("GET", "/api/v1/settings/organization", Some(&admin), None);
    assert_eq!(r.json()["settings"], edited, "{r:?}");
    d.server.stop();
}

on_both!(
    each_path_reaches_its_side_with_cors,
    the_original_uis_pages_through_the_proxy
);
