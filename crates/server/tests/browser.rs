//! A real browser against the real server: headless Chromium loads a page
//! served from another origin (another port on 127.0.0.1) whose script signs
//! in, reads `/auth/me` and lists the users through `fetch` with the bearer
//! token, as the original's web UI does; the test reads the page's DOM. With
//! CORS switched off the same page must fail, so the test proves the headers
//! are what lets it through.
//!
//! Chromium comes from `scripts/browser-test.sh` (which installs Debian's
//! `chromium` when missing). Without it the test is skipped, except under CI
//! (`CI` set), where it fails.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// One engine is enough here: the scenarios on both engines are in ui_contract.rs.
#[allow(unused_macros)]
mod support;

use curatore_test_support::TestDatabase;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Server;

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

/// The browser: `CHROMIUM` if set, else the first of the usual names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&paths).map(move |dir| dir.join(name)))
        .find(|path| path.is_file())
}

/// The page: what the UI's login, profile and users pages do, reported in
/// `#result` as `OK …` or `FAIL …`.
fn page(api: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>ui</title></head>
<body><pre id="result">PENDING</pre>
<script>
const api = "{api}/api/v1";
async function json(res) {{
  const body = await res.json();
  if (!res.ok) throw new Error(res.status + " " + (body.detail || JSON.stringify(body)));
  return body;
}}
(async () => {{
  try {{
    const login = await json(await fetch(api + "/auth/login", {{
      method: "POST",
      headers: {{ "Content-Type": "application/json" }},
      body: JSON.stringify({{ email_or_username: "admin", password: "{ADMIN_PASSWORD}" }}),
    }}));
    const auth = {{ Authorization: "Bearer " + login.access_token }};
    const me = await json(await fetch(api + "/auth/me", {{ headers: auth, cache: "no-store" }}));
    const users = await json(await fetch(api + "/users", {{ headers: auth, cache: "no-store" }}));
    const created = await json(await fetch(api + "/connections", {{
      method: "POST",
      headers: {{ ...auth, "Content-Type": "application/json" }},
      body: JSON.stringify({{ name: "From the browser", connection_type: "llm", test_on_save: false,
        config: {{ api_key: "sk-browser", model: "m", base_url: "http://127.0.0.1:9/v1" }} }}),
    }}));
    let shown = "none";
    const denied = await fetch(api + "/auth/me");
    if (denied.status === 401) shown = (await denied.json()).detail;
    document.getElementById("result").textContent =
      "OK me=" + me.username + " org=" + me.organization_name + " role=" + me.role +
      " users=" + users.users.length + " total=" + users.total +
      " connection=" + created.connection_type + ":" + created.health_status + ":" + created.config.api_key +
      " unauthorized_detail=" + shown;
  }} catch (e) {{
    document.getElementById("result").textContent = "FAIL " + e;
  }}
}})();
</script></body></html>"#
    )
}

/// Serves `html` for every request on 127.0.0.1 (another origin than the
/// API's); answers the base URL. The thread ends with the process.
fn serve_page(html: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    base
}

/// Loads `url` in headless Chromium and answers the text of `#result`.
fn run_page(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut dom = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut dom)
        .unwrap();
    let start = dom
        .find("<pre id=\"result\">")
        .unwrap_or_else(|| panic!("no result in the page: {dom}"));
    let rest = &dom[start + "<pre id=\"result\">".len()..];
    rest[..rest.find("</pre>").unwrap()].to_owned()
}

fn start(db: &TestDatabase, extra: &[(&'static str, &'static str)]) -> Server {
    let mut env = vec![
        ("ENABLE_AUTH", "true"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    env.extend_from_slice(extra);
    Server::start(&db.url(), &env)
}

#[test]
fn the_ui_in_a_real_browser_from_another_origin() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing under CI: run scripts/browser-test.sh"
        );
        eprintln!("SKIPPED: no chromium (scripts/browser-test.sh installs it)");
        return;
    };
    // The defaults: any port of 127.0.0.1 may call the API.
    let db = TestDatabase::sqlite();
    let server = start(&db, &[]);
    let origin = serve_page(page(&server.base));
    assert_ne!(origin, server.base, "another origin");
    let result = run_page(&browser, &origin);
    eprintln!("page from {origin} against {}: {result}", server.base);
    assert!(
        result.starts_with(
            "OK me=admin org=Default Organization role=org_admin users=1 total=1 connection=llm:unknown:***REDACTED***"
        ),
        "{result}"
    );
    assert!(
        result.ends_with(
            "unauthorized_detail=authentication required: send a bearer token or an API key"
        ),
        "the browser reads the 401's detail: {result}"
    );

    // The same page against a server that allows no origin: the browser
    // refuses to hand the answers to the script.
    let closed_db = TestDatabase::sqlite();
    let closed = start(
        &closed_db,
        &[("CORS_ORIGINS", ""), ("CORS_ORIGIN_REGEX", "")],
    );
    let origin = serve_page(page(&closed.base));
    let result = run_page(&browser, &origin);
    eprintln!("the same page without CORS: {result}");
    assert!(result.starts_with("FAIL TypeError"), "{result}");
}
