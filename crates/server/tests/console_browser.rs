//! The console in a real browser: Debian's headless Chromium driven over
//! the DevTools protocol (`--remote-debugging-pipe`: JSON messages on file
//! descriptors 3 and 4, no WebSocket client needed) against the real
//! server, on both engines. Pages are used as a person would: forms filled
//! and submitted, links followed, htmx doing the swaps, the browser keeping
//! the cookie and enforcing the Content-Security-Policy (any violation
//! fails the test).
//!
//! `CONSOLE_SCREENSHOTS=<dir>` writes a screenshot of each page there
//! (`docs/img` for the documentation).
//!
//! Chromium comes from `scripts/browser-test.sh`. Without it the test is
//! skipped, except under CI (`CI` set), where it fails.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";

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

/// Installed before any page script: records CSP violations (kept across
/// full loads in sessionStorage), and accepts confirmation dialogs.
const PRELUDE: &str = r#"
document.addEventListener("securitypolicyviolation", function (e) {
  var seen = JSON.parse(sessionStorage.getItem("csp") || "[]");
  seen.push(e.violatedDirective + " " + e.blockedURI);
  sessionStorage.setItem("csp", JSON.stringify(seen));
});
window.confirm = function () { return true; };
"#;

/// Headless Chromium and one page (tab) in its own browser context.
struct Browser {
    child: Child,
    input: ChildStdin,
    output: mpsc::Receiver<Value>,
    next_id: u64,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

/// A tab with its own cookies.
struct Tab {
    session: String,
    context: Value,
}

impl Browser {
    fn start(path: &PathBuf) -> Self {
        let profile = tempfile::tempdir().unwrap();
        // The protocol reads commands from fd 3 and writes to fd 4: the
        // shell points them at our pipes, without unsafe code here.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-pipe",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let input = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).unwrap_or(0) > 0 {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    return;
                }
                buf.clear();
            }
        });
        Self {
            child,
            input,
            output,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.input.write_all(&bytes).unwrap();
        self.input.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .output
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method} within 60 s"));
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// A new tab in a browser context of its own (its own cookies).
    fn tab(&mut self) -> Tab {
        let context = self.send(None, "Target.createBrowserContext", json!({}));
        let target = self.send(
            None,
            "Target.createTarget",
            json!({"url": "about:blank", "browserContextId": context["browserContextId"]}),
        );
        let attached = self.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        let s = Some(session.as_str());
        self.send(s, "Page.enable", json!({}));
        self.send(s, "Runtime.enable", json!({}));
        self.send(s, "Log.enable", json!({}));
        self.send(
            s,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": PRELUDE}),
        );
        self.send(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        // Clipboard writes need a focused page.
        self.send(
            s,
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        Tab {
            session,
            context: context["browserContextId"].clone(),
        }
    }

    /// Evaluates `expr` in the tab (awaiting a promise); its value.
    fn eval(&mut self, tab: &Tab, expr: &str) -> Value {
        let r = self.send(
            Some(&tab.session),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is true in the tab.
    fn wait(&mut self, tab: &Tab, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.send(
                Some(&tab.session),
                "Runtime.evaluate",
                json!({"expression": format!("!!({expr})"), "returnByValue": true}),
            );
            if r["result"]["value"] == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.text(tab);
                panic!("waited 30 s for {expr}; the page says: {text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn goto(&mut self, tab: &Tab, url: &str) {
        self.send(Some(&tab.session), "Page.navigate", json!({"url": url}));
        self.wait(
            tab,
            &format!(
                "document.readyState === 'complete' && location.href.startsWith({})",
                json!(url.split('?').next().unwrap())
            ),
        );
        self.settle(tab);
    }

    /// Waits for htmx (once loaded) to have no request in flight.
    fn settle(&mut self, tab: &Tab) {
        self.wait(
            tab,
            "document.readyState === 'complete' && !document.querySelector('.htmx-request')",
        );
    }

    fn text(&mut self, tab: &Tab) -> String {
        self.eval(tab, "document.body ? document.body.innerText : ''")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Fills the fields of the form holding `selector`, by name, and submits
    /// it by clicking its submit button (htmx takes it from there), then
    /// waits until `then` is true.
    fn submit(&mut self, tab: &Tab, form: &str, fields: &[(&str, &str)], then: &str) {
        let fields: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let script = format!(
            r#"(function () {{
  var form = document.querySelector({form});
  if (!form) throw new Error("no form " + {form});
  var fields = {fields};
  for (var name in fields) {{
    var el = form.querySelector('[name="' + name + '"]');
    if (!el) throw new Error("no field " + name);
    if (el.type === "checkbox") el.checked = fields[name] === "on";
    else el.value = fields[name];
  }}
  form.querySelector('button[type="submit"]').click();
  return true;
}})()"#,
            form = json!(form),
            fields = Value::Object(fields),
        );
        self.eval(tab, &script);
        self.wait(tab, then);
        self.settle(tab);
    }

    /// Whether the page shows `text`.
    fn shows(&mut self, tab: &Tab, text: &str) -> bool {
        self.text(tab).contains(text)
    }

    fn csp_violations(&mut self, tab: &Tab) -> String {
        self.eval(tab, "sessionStorage.getItem('csp') || '[]'")
            .as_str()
            .unwrap_or("[]")
            .to_owned()
    }

    /// axe-core's serious and critical violations on the page, as
    /// `page: rule (impact): target…`.
    fn axe(&mut self, tab: &Tab, page: &str) -> Vec<String> {
        const AXE: &str = include_str!("assets/axe.min.js");
        if self.eval(tab, "typeof window.axe") != json!("object") {
            self.eval(tab, &format!("{AXE}\n;true"));
        }
        let found = self.eval(
            tab,
            r#"axe.run(document, {resultTypes: ["violations"]}).then(function (r) {
  return r.violations
    .filter(function (v) { return v.impact === "serious" || v.impact === "critical"; })
    .map(function (v) {
      return v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map(function (n) { return n.target.join(" "); }).join(", ");
    });
})"#,
        );
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("{page}: {}", v.as_str().unwrap()))
            .collect()
    }

    fn screenshot(&mut self, tab: &Tab, name: &str) {
        let Some(dir) = std::env::var_os("CONSOLE_SCREENSHOTS") else {
            return;
        };
        let shot = self.send(
            Some(&tab.session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("console-{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

on_both!(the_console_in_a_real_browser);

async fn the_console_in_a_real_browser(db: TestDatabase) {
    let Some(path) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing under CI: run scripts/browser-test.sh"
        );
        eprintln!("SKIPPED: no chromium (scripts/browser-test.sh installs it)");
        return;
    };
    // Screenshots once, from the SQLite run.
    let shots = db.url().starts_with("sqlite");
    let server = start(&db);
    let stub = support::stand_in::StandIn::start();
    let base = server.base.clone();
    let mut b = Browser::start(&path);
    let admin = b.tab();
    // Every page is checked by axe-core, and photographed (once).
    let mut a11y: Vec<String> = Vec::new();
    let mut snap = |b: &mut Browser, tab: &Tab, name: &str| {
        a11y.extend(b.axe(tab, name));
        if shots {
            b.screenshot(tab, name);
        }
    };

    // Sign in.
    b.goto(&admin, &format!("{base}/"));
    b.wait(&admin, "location.pathname === '/console/login'");
    snap(&mut b, &admin, "sign-in");
    b.submit(
        &admin,
        "form[action='/console/login']",
        &[("login", "admin"), ("password", ADMIN_PASSWORD)],
        "document.querySelector('h1') && document.querySelector('h1').textContent === 'Overview'",
    );
    assert!(b.shows(&admin, "Latest audit entries"));
    snap(&mut b, &admin, "overview");

    // Invite a member; the temporary password is shown once.
    b.goto(&admin, &format!("{base}/console/users"));
    b.submit(
        &admin,
        "form[method='post'][action='/console/users']",
        &[
            ("email", "ivy@example.test"),
            ("username", "ivy"),
            ("role", "member"),
        ],
        "document.getElementById('revealed-value')",
    );
    let temporary = b
        .eval(
            &admin,
            "document.getElementById('revealed-value').textContent.trim()",
        )
        .as_str()
        .unwrap()
        .to_owned();
    assert!(b.shows(&admin, "ivy is invited."));
    snap(&mut b, &admin, "users");

    // Create an API key with one scope, copy it, use it, revoke it.
    b.send(
        None,
        "Browser.grantPermissions",
        json!({
            "origin": base,
            "browserContextId": admin.context,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
        }),
    );
    b.goto(&admin, &format!("{base}/console/api-keys"));
    b.submit(
        &admin,
        "form[action='/console/api-keys']",
        &[
            ("name", "reporting"),
            ("expires_in_days", "30"),
            ("scope:users:read", "on"),
        ],
        "document.getElementById('revealed-value')",
    );
    let key = b
        .eval(
            &admin,
            "document.getElementById('revealed-value').textContent.trim()",
        )
        .as_str()
        .unwrap()
        .to_owned();
    b.eval(
        &admin,
        "document.querySelector('[data-copy]').click(), true",
    );
    b.wait(
        &admin,
        "document.querySelector('[data-copy]').textContent === 'Copied'",
    );
    let copied = b.eval(&admin, "navigator.clipboard.readText()");
    assert_eq!(
        copied.as_str(),
        Some(key.as_str()),
        "the copy button copies the key"
    );
    snap(&mut b, &admin, "api-keys");
    let users_api = "/api/v1/organizations/me/users";
    assert_eq!(
        server.get_with(users_api, &[("x-api-key", &key)]).status,
        200
    );
    b.eval(
        &admin,
        "document.querySelector(\"form[action$='/revoke'] button\").click(), true",
    );
    b.wait(
        &admin,
        "document.body.innerText.includes('The key is revoked')",
    );
    assert_eq!(
        server.get_with(users_api, &[("x-api-key", &key)]).status,
        401
    );

    // An llm connection through the generated form, tested against a stand-in.
    b.goto(&admin, &format!("{base}/console/connections/new?type=llm"));
    snap(&mut b, &admin, "connection-form");
    let base_url = format!("{}/v1", stub.base);
    b.submit(
        &admin,
        "form[action='/console/connections/new']",
        &[
            ("name", "Stub LLM"),
            ("config.api_key", "sk-browser"),
            ("config.model", "gpt-stub"),
            ("config.base_url", &base_url),
            ("config.timeout", "5"),
        ],
        "document.body.innerText.includes('is created')",
    );
    b.submit(
        &admin,
        "form[action$='/test']",
        &[],
        "document.body.innerText.includes('The test passed.')",
    );
    b.submit(
        &admin,
        "form[action$='/default']",
        &[],
        "document.body.innerText.includes('is the default llm connection')",
    );
    snap(&mut b, &admin, "connection");
    b.goto(&admin, &format!("{base}/console/connections"));
    assert!(b.shows(&admin, "healthy"));
    snap(&mut b, &admin, "connections");

    // Settings: one's own value, and the effective source changes.
    b.goto(&admin, &format!("{base}/console/settings"));
    let source = "document.querySelector(\"form[action='/console/settings/user'] select[name='key.auto_optimize']\").closest('tr').lastElementChild.textContent.trim()";
    assert_eq!(b.eval(&admin, source), json!("organization"));
    b.submit(
        &admin,
        "form[action='/console/settings/user']",
        &[("key.auto_optimize", "false")],
        "document.body.innerText.includes('Saved.')",
    );
    assert_eq!(b.eval(&admin, source), json!("user"));
    snap(&mut b, &admin, "settings");

    // The audit log: filter, open an entry.
    b.goto(&admin, &format!("{base}/console/audit"));
    // The filter swaps only the results (htmx), not the page around them.
    b.eval(
        &admin,
        "document.querySelector('h1').dataset.kept = 'yes', true",
    );
    b.submit(
        &admin,
        "form[action='/console/audit']",
        &[("action", "api_key_revoked")],
        "location.search.includes('action=api_key_revoked')",
    );
    let rows = b.eval(
        &admin,
        "document.querySelectorAll('#audit-results tbody tr').length",
    );
    assert_eq!(rows, json!(1), "{}", b.text(&admin));
    assert_eq!(
        b.eval(&admin, "document.querySelector('h1').dataset.kept"),
        json!("yes")
    );
    snap(&mut b, &admin, "audit");
    b.eval(
        &admin,
        "document.querySelector('#audit-results tbody a').click(), true",
    );
    b.wait(
        &admin,
        "document.querySelector('h1').textContent === 'Audit entry'",
    );
    assert!(b.shows(&admin, "api_key_revoked"));
    snap(&mut b, &admin, "audit-entry");
    b.goto(&admin, &format!("{base}/console/organizations"));
    snap(&mut b, &admin, "organizations");

    // The invitee: the temporary password leads to the change page.
    let ivy = b.tab();
    b.goto(&ivy, &format!("{base}/console/login"));
    b.submit(
        &ivy,
        "form[action='/console/login']",
        &[("login", "ivy"), ("password", &temporary)],
        "location.pathname === '/console/password'",
    );
    snap(&mut b, &ivy, "change-password");
    b.submit(
        &ivy,
        "form[action='/console/password']",
        &[
            ("current", &temporary),
            ("password", "ivy-own-password-1"),
            ("confirm", "ivy-own-password-1"),
        ],
        "document.body.innerText.includes('Your password is changed.')",
    );
    b.goto(&ivy, &format!("{base}/console/api-keys"));
    assert!(b.shows(&ivy, "Create a key"), "a member creates keys");
    assert!(!b.shows(&ivy, "Every key of the organization"));

    // The admin makes ivy a viewer: ivy's session loses the write actions.
    b.goto(&admin, &format!("{base}/console/users?q=ivy"));
    b.submit(
        &admin,
        "form[action$='/role']",
        &[("role", "viewer")],
        "document.body.innerText.includes('ivy is now viewer.')",
    );
    // A role change ends the user's sessions: ivy's next page is the sign-in form.
    b.send(
        Some(&ivy.session),
        "Page.navigate",
        json!({"url": format!("{base}/console/api-keys")}),
    );
    b.wait(
        &ivy,
        "location.pathname === '/console/login' && document.readyState === 'complete'",
    );
    b.submit(
        &ivy,
        "form[action='/console/login']",
        &[
            ("login", "ivy@example.test"),
            ("password", "ivy-own-password-1"),
        ],
        "document.querySelector('h1') && document.querySelector('h1').textContent === 'Overview'",
    );
    b.goto(&ivy, &format!("{base}/console/api-keys"));
    assert!(!b.shows(&ivy, "Create a key"), "{}", b.text(&ivy));
    b.goto(&ivy, &format!("{base}/console/connections"));
    assert!(b.shows(&ivy, "Stub LLM"));
    let writes = b.eval(
        &ivy,
        "document.querySelectorAll(\"main form[method='post']\").length",
    );
    assert_eq!(writes, json!(0), "a viewer sees no write action");
    assert!(!b.shows(&ivy, "Create a connection"));

    // Sign out everywhere: the next page is the sign-in form.
    b.goto(&ivy, &format!("{base}/console/profile"));
    snap(&mut b, &ivy, "profile");
    b.submit(
        &ivy,
        "form[action='/console/logout-everywhere']",
        &[],
        "location.pathname === '/console/login'",
    );
    b.send(
        Some(&ivy.session),
        "Page.navigate",
        json!({"url": format!("{base}/console/connections")}),
    );
    b.wait(
        &ivy,
        "location.pathname === '/console/login' && document.readyState === 'complete'",
    );

    // axe-core found nothing serious or critical on any page.
    assert!(a11y.is_empty(), "accessibility: {a11y:#?}");

    // No page broke the Content-Security-Policy.
    assert_eq!(b.csp_violations(&admin), "[]");
    assert_eq!(b.csp_violations(&ivy), "[]");
    let logged: Vec<&Value> = b
        .events
        .iter()
        .filter(|e| e.to_string().contains("Content Security Policy"))
        .collect();
    assert!(logged.is_empty(), "{logged:?}");

    // The check itself works: an image from elsewhere is a violation.
    let control = b.tab();
    b.goto(&control, &format!("{base}/console/login"));
    b.eval(
        &control,
        "document.body.insertAdjacentHTML('beforeend', '<img src=\"http://192.0.2.1/x.png\">'), true",
    );
    b.wait(&control, "sessionStorage.getItem('csp') !== null");
    assert!(b.csp_violations(&control).contains("img-src"));
    // And axe-core does run: that image has no alternative text.
    let found = b.axe(&control, "control");
    assert!(found.iter().any(|v| v.contains("image-alt")), "{found:?}");
}
