//! A small stand-in for the original's document-processing backend (and for
//! the outside services a connection test reaches): a plain HTTP/1.1 server
//! on 127.0.0.1 that answers CORS as the original's FastAPI `CORSMiddleware`
//! does with its default origins, and every other request with JSON saying
//! who served it.
//!
//! - `POST …/chat/completions`: a chat completion (an LLM connection's test);
//! - `GET /api/v1/system/health`: `{"status": "healthy"}` (an extraction
//!   service's test);
//! - anything else: `{"served_by": "document-backend", "method", "path"}`.
//!
//! Every answer carries `x-served-by: document-backend`. The threads end
//! with the test process.

use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the stand-in answers with in `x-served-by` and `served_by`.
pub const SERVED_BY: &str = "document-backend";

/// A running stand-in.
pub struct StandIn {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// `METHOD /path` of every request received, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Self { base, seen }
    }

    /// The address as `host:port`.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

/// The original's default CORS rule (`CORS_ORIGINS` plus `CORS_ORIGIN_REGEX`
/// `^http://(localhost|127\.0\.0\.1)(:\d+)?$`).
fn allowed(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://localhost")
        .or_else(|| origin.strip_prefix("http://127.0.0.1"))
    else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Serves the requests of one connection (keep-alive) until it closes.
fn serve(mut stream: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = read_head(&mut stream, &mut buf) else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or_default().to_owned();
        let path = first.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        buf.drain(..end + 4);
        while buf.len() < length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..length);
        seen.lock().unwrap().push(format!("{method} {path}"));

        let mut extra = vec![("x-served-by".to_owned(), SERVED_BY.to_owned())];
        let origin = header("origin").filter(|o| allowed(o));
        if let Some(origin) = origin {
            extra.push(("access-control-allow-origin".into(), origin.to_owned()));
            extra.push(("access-control-allow-credentials".into(), "true".into()));
            extra.push(("vary".into(), "Origin".into()));
        }
        let preflight = method == "OPTIONS" && header("access-control-request-method").is_some();
        let (status, body) = if preflight {
            match origin {
                Some(_) => {
                    extra.push((
                        "access-control-allow-methods".into(),
                        "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT".into(),
                    ));
                    let asked = header("access-control-request-headers").unwrap_or_default();
                    extra.push(("access-control-allow-headers".into(), asked.to_owned()));
                    (200, "OK".to_owned())
                }
                None => (400, "Disallowed CORS origin".to_owned()),
            }
        } else if method == "POST" && path.ends_with("/chat/completions") {
            let completion = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}}]});
            (200, completion.to_string())
        } else if method == "GET" && path == "/api/v1/system/health" {
            (200, json!({"status": "healthy"}).to_string())
        } else {
            let body = json!({"served_by": SERVED_BY, "method": method, "path": path});
            (200, body.to_string())
        };
        let mut answer = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            if status == 200 { "OK" } else { "Bad Request" },
            body.len()
        );
        for (k, v) in extra {
            answer.push_str(&format!("{k}: {v}\r\n"));
        }
        answer.push_str("\r\n");
        answer.push_str(&body);
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads until the end of a request's head; its offset in `buf`, or `None`
/// when the connection closed first.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
