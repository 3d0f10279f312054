//! Runs the real `curatore-server` binary on a random port and talks HTTP to it.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub mod stand_in;

const BINARY: &str = env!("CARGO_BIN_EXE_curatore-server");

/// Defines two tests that run `scenario` (an `async fn(TestDatabase)`):
/// `<scenario>::on_sqlite` and `<scenario>::on_postgres` (the latter is
/// skipped only as `TestDatabase::postgres` allows).
#[allow(unused_macros)]
macro_rules! on_both {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$scenario(::curatore_test_support::TestDatabase::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let Some(db) = ::curatore_test_support::TestDatabase::postgres().await else {
                    return;
                };
                super::$scenario(db).await;
            }
        }
    )+};
}
#[allow(unused_imports)]
pub(crate) use on_both;

/// A command for the server binary with a clean, explicit environment: no
/// `.env` or `config/` from the repository, JSON logs, port 0, small pools.
pub fn command(
    database_url: &str,
    config_dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Command {
    let mut cmd = Command::new(BINARY);
    cmd.env_clear()
        .current_dir(config_dir)
        .env("CURATORE_CONFIG_DIR", config_dir)
        .env("DATABASE_URL", database_url)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "info")
        .env("DB_POOL_SIZE", "2")
        .env("DB_MAX_OVERFLOW", "6")
        .env("DB_CONNECT_TIMEOUT_SECONDS", "2")
        .env("DB_STARTUP_RETRY_SECONDS", "5")
        .env("SHUTDOWN_TIMEOUT_SECONDS", "10")
        .env("HEALTH_CACHE_SECONDS", "0")
        // PostgreSQL with ENABLE_AUTH=true refuses to start without it; a
        // test that wants none passes it empty.
        .env(
            "SECRETS_ENCRYPTION_KEY",
            "test:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        );
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the binary to completion (for start-up failures and subcommands).
pub fn run(database_url: &str, extra: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = command(database_url, dir.path(), extra)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start curatore-server");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("poll").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() >= deadline {
            // Not left behind when the test fails.
            let _ = child.kill();
            let _ = child.wait();
            panic!("curatore-server did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `inner` run through `program` (`program ARGS… INNER INNER_ARGS…`), with
/// `inner`'s folder and environment.
fn wrapped(inner: &Command, program: impl AsRef<std::ffi::OsStr>, args: &[String]) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .args(args)
        .arg(inner.get_program())
        .args(inner.get_args());
    if let Some(cwd) = inner.get_current_dir() {
        cmd.current_dir(cwd);
    }
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    cmd
}

/// Signs `who` in; the `Authorization` header value of their access token.
pub fn login(server: &Server, who: &str, password: &str) -> String {
    let r = server.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&serde_json::json!({"email_or_username": who, "password": password})),
    );
    assert_eq!(r.status, 200, "login as {who}: {r:?}");
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

/// A finished command's standard output and error, for messages and `contains`.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running server.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
    /// The threads reading stdout and stderr; they end at EOF.
    readers: Vec<JoinHandle<()>>,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the uniform error shape and returns its code.
    pub fn error_code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "error without JSON content type: {self:?}"
        );
        let body = self.json();
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code in {body}"));
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "no error.message in {body}"
        );
        code.to_owned()
    }
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    })
}

/// The `message` of a JSON log line.
pub fn message(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    v["fields"]["message"].as_str().map(str::to_owned)
}

impl Server {
    /// Starts the server and waits until it listens.
    pub fn start(database_url: &str, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cmd = command(database_url, dir.path(), extra);
        Self::spawn(cmd, dir)
    }

    /// Starts the server with its soft open-file limit lowered to `soft`
    /// (the hard limit unchanged), through util-linux's `prlimit`; `None`
    /// when `prlimit` is not installed.
    pub fn start_with_open_file_limit(
        database_url: &str,
        extra: &[(&str, &str)],
        soft: u64,
    ) -> Option<Self> {
        let prlimit = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("prlimit"))
                .find(|path| path.is_file())
        })?;
        let dir = tempfile::tempdir().expect("temp dir");
        let inner = command(database_url, dir.path(), extra);
        let cmd = wrapped(&inner, prlimit, &[format!("--nofile={soft}:")]);
        Some(Self::spawn(cmd, dir))
    }

    /// Starts the server with SIGXFSZ ignored (through `sh`'s `trap`), so
    /// that a write past a file-size limit lowered later (`prlimit` on
    /// [`Server::pid`]) fails with EFBIG, as on a full disk, instead of
    /// killing the process.
    pub fn start_ignoring_file_size_signal(database_url: &str, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let inner = command(database_url, dir.path(), extra);
        let script = "trap '' XFSZ; exec \"$0\" \"$@\"";
        let cmd = wrapped(&inner, "sh", &["-c".to_owned(), script.to_owned()]);
        Self::spawn(cmd, dir)
    }

    fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start curatore-server");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), lines.clone()),
            collect(child.stderr.take().unwrap(), lines.clone()),
        ];
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let mut server = Self {
            child,
            base: String::new(),
            lines,
            readers,
            agent,
            _dir: dir,
        };
        let line = server.wait_for_log(Duration::from_secs(60), |m| {
            m.starts_with("Listening on http://")
        });
        server.base = message(&line)
            .unwrap()
            .trim_start_matches("Listening on ")
            .to_owned();
        server
    }

    /// Every line the server printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a log line whose message matches; panics with the log on timeout.
    pub fn wait_for_log(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let mut found = None;
        self.wait_until(timeout, "the expected log line", |lines| {
            found = lines
                .iter()
                .find(|l| message(l).is_some_and(|m| pred(&m)))
                .cloned();
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits until `condition` holds for the lines logged so far; panics
    /// with the log when the server exits first or `timeout` passes.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut condition: impl FnMut(&[String]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(&self.logs()) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                self.drain_logs();
                panic!(
                    "server exited ({status}) before {what}; log:\n{}",
                    self.logs().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "{what} not seen within {timeout:?}; log:\n{}",
                self.logs().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// After the process has exited: waits for the log readers to reach the
    /// end of its output, so that `logs` holds every line.
    fn drain_logs(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for reader in std::mem::take(&mut self.readers) {
            while !reader.is_finished() {
                assert!(
                    Instant::now() < deadline,
                    "the server's output did not end within 10 s of its exit \
                     (a child process holding it open?)"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            reader.join().expect("log reader");
        }
    }

    fn finish(mut res: ureq::http::Response<ureq::Body>) -> Reply {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = res.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::finish(req.call().expect("GET"))
    }

    /// Sends a body with an explicit content type.
    pub fn send(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Reply {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_vec())
            .unwrap();
        Self::finish(self.agent.run(request).expect("request"))
    }

    /// Any request: headers, and an optional JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        self.call_at(&self.base, method, path, headers, body)
    }

    /// [`Server::call`] sent to another address (a proxy in front of it).
    pub fn call_at(
        &self,
        base: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let bytes = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                serde_json::to_vec(json).unwrap()
            }
            None => Vec::new(),
        };
        Self::finish(
            self.agent
                .run(request.body(bytes).unwrap())
                .expect("request"),
        )
    }

    /// The same agent, for requests from other threads.
    pub fn agent(&self) -> ureq::Agent {
        self.agent.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the process catches SIGTERM (on Linux, its `SigCgt` in
    /// `/proc`): the server logs "Listening on" before its handler is in
    /// place, and a SIGTERM in between meets the default action.
    fn wait_for_sigterm_handler(&mut self) {
        if !cfg!(target_os = "linux") {
            return;
        }
        const SIGTERM_BIT: u64 = 1 << (15 - 1);
        let status = format!("/proc/{}/status", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let caught = std::fs::read_to_string(&status)
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("SigCgt:"))
                        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
                })
                .is_some_and(|mask| mask & SIGTERM_BIT != 0);
            if caught || self.child.try_wait().unwrap().is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not install its SIGTERM handler within 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM (once the server handles it) and waits for the exit.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>) {
        self.wait_for_sigterm_handler();
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        self.drain_logs();
        (status, self.logs())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{name} {pid} failed");
}

/// The original web UI's origin (its Next.js dev server).
pub const UI_ORIGIN: &str = "http://localhost:3000";

/// The browser may read this answer from the UI's origin: the CORS headers.
pub fn assert_cors(r: &Reply) {
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(UI_ORIGIN),
        "no CORS origin on {r:?}"
    );
    assert_eq!(
        r.header("access-control-allow-credentials"),
        Some("true"),
        "{r:?}"
    );
}

/// Every message logged, for `contains` assertions.
pub fn messages(lines: &[String]) -> Vec<String> {
    lines.iter().filter_map(|l| message(l)).collect()
}
