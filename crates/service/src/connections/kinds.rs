//! Connection types: what a configuration looks like and how it is tested.
//! The registry is built at start-up and held by [`Services`](crate::Services),
//! so a service embedding Curatore can register its own types.

use super::config;
use super::outbound::{Answer, Body, Outbound, OutboundError, Request};
use curatore_domain::ConnectionTestStatus;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The outcome of testing a connection. Scrubbed of every secret before it
/// is stored or shown.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestOutcome {
    /// Whether the service answered as expected.
    pub success: bool,
    /// `healthy`, `unhealthy` (or `not_tested`).
    pub status: ConnectionTestStatus,
    /// One line for people.
    pub message: String,
    /// What was learnt (status code, latency, model, …).
    pub details: Value,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

impl TestOutcome {
    /// A passed test.
    pub fn healthy(message: impl Into<String>, details: Value) -> Self {
        Self {
            success: true,
            status: ConnectionTestStatus::Healthy,
            message: message.into(),
            details,
            error: None,
        }
    }

    /// A failed test.
    pub fn unhealthy(message: impl Into<String>, error: impl Into<String>, details: Value) -> Self {
        Self {
            success: false,
            status: ConnectionTestStatus::Unhealthy,
            message: message.into(),
            details,
            error: Some(error.into()),
        }
    }

    /// The outcome with every value of `secrets` replaced by the marker,
    /// wherever and in whatever encoding it appears (an upstream body may
    /// echo a key back, URL-encoded or cut short), and confined to what a
    /// stored result may hold (see [`TestOutcome::confined`]).
    pub fn scrubbed(self, secrets: &[String]) -> Self {
        let scrubber = config::Scrubber::new(secrets);
        Self {
            success: self.success,
            status: self.status,
            message: scrubber.text(&self.message),
            details: scrubber.value(&self.details),
            error: self.error.map(|e| scrubber.text(&e)),
        }
        .confined()
    }

    /// The outcome reduced to our own classification, whoever wrote it (a
    /// type registered by an embedding service included): `error` a fixed
    /// reason code ([`reason`]; anything else becomes `test_failed`),
    /// `details` only numbers and booleans (the remote's HTTP status, the
    /// time taken), the message at most [`MESSAGE_MAX`] characters. No
    /// remote body, URL or text derived from a secret survives it.
    pub fn confined(self) -> Self {
        Self {
            success: self.success,
            status: self.status,
            message: self.message.chars().take(MESSAGE_MAX).collect(),
            details: confined_details(&self.details),
            error: self.error.map(|e| {
                if is_reason_code(&e) {
                    e
                } else {
                    reason::TEST_FAILED.to_owned()
                }
            }),
        }
    }
}

/// The longest message a stored test result keeps.
pub const MESSAGE_MAX: usize = 200;

/// Why a test failed: the fixed codes a result's `error` holds.
pub mod reason {
    /// No answer in time.
    pub const TIMEOUT: &str = "timeout";
    /// The address is one this server may not call.
    pub const ADDRESS_REFUSED: &str = "address_refused";
    /// The URL cannot be used.
    pub const INVALID_URL: &str = "invalid_url";
    /// No connection could be made, or the exchange broke off.
    pub const UNREACHABLE: &str = "unreachable";
    /// HTTP 401 or 403.
    pub const CREDENTIALS_REFUSED: &str = "credentials_refused";
    /// HTTP 404.
    pub const ENDPOINT_NOT_FOUND: &str = "endpoint_not_found";
    /// Another HTTP status outside 2xx.
    pub const HTTP_ERROR: &str = "http_error";
    /// 2xx, but not the answer the test expects.
    pub const UNEXPECTED_RESPONSE: &str = "unexpected_response";
    /// The token endpoint answered without an access token.
    pub const NO_ACCESS_TOKEN: &str = "no_access_token";
    /// What any other text given as an error becomes.
    pub const TEST_FAILED: &str = "test_failed";

    /// Every code above.
    pub const ALL: &[&str] = &[
        TIMEOUT,
        ADDRESS_REFUSED,
        INVALID_URL,
        UNREACHABLE,
        CREDENTIALS_REFUSED,
        ENDPOINT_NOT_FOUND,
        HTTP_ERROR,
        UNEXPECTED_RESPONSE,
        NO_ACCESS_TOKEN,
        TEST_FAILED,
    ];

    /// The code `text` names, if it is one of ours.
    pub fn known(text: &str) -> Option<&'static str> {
        ALL.iter().copied().find(|c| *c == text)
    }
}

/// Whether `text` has the shape of a reason code: 1 to 40 of `a-z`, `0-9`, `_`.
pub fn is_reason_code(text: &str) -> bool {
    (1..=40).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Only the top-level numbers and booleans of `details`.
fn confined_details(details: &Value) -> Value {
    Value::Object(
        details
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, v)| (v.is_number() || v.is_boolean()) && is_reason_code(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// A stored test result as answers show it: confined as
/// [`TestOutcome::confined`] confines a new one, so a result recorded by an
/// older version (which kept part of the remote's answer) shows nothing more.
pub fn shown_test_result(stored: &Value) -> Value {
    let Some(o) = stored.as_object() else {
        return json!({});
    };
    let mut shown = serde_json::Map::new();
    for key in ["success", "status", "tested_at"] {
        if let Some(v) = o.get(key) {
            shown.insert(key.to_owned(), v.clone());
        }
    }
    if let Some(m) = o.get("message").and_then(Value::as_str) {
        shown.insert(
            "message".into(),
            json!(m.chars().take(MESSAGE_MAX).collect::<String>()),
        );
    }
    shown.insert(
        "details".into(),
        confined_details(o.get("details").unwrap_or(&Value::Null)),
    );
    let error = match o.get("error") {
        Some(Value::String(e)) if is_reason_code(e) => json!(e),
        Some(Value::Null) | None => Value::Null,
        Some(_) => json!(reason::TEST_FAILED),
    };
    shown.insert("error".into(), error);
    Value::Object(shown)
}

/// The future a test returns.
pub type TestFuture<'a> = Pin<Box<dyn Future<Output = TestOutcome> + Send + 'a>>;

/// A kind of connection.
pub trait ConnectionKind: Send + Sync + 'static {
    /// The stored name (`llm`).
    fn type_name(&self) -> &'static str;
    /// What people call it ("LLM API").
    fn display_name(&self) -> &'static str;
    /// One sentence.
    fn description(&self) -> &'static str;
    /// The JSON Schema of its configuration; secret fields carry
    /// `"writeOnly": true` (or `"format": "password"`), at any depth.
    fn schema(&self) -> Value;
    /// A valid configuration with placeholders and no real secret.
    fn example_config(&self) -> Value;
    /// Checks a configuration: defaults filled, unknown keys dropped, the bad
    /// field named. By default, against [`ConnectionKind::schema`].
    ///
    /// # Errors
    /// A message naming the field.
    fn validate(&self, config: &Value) -> Result<Value, String> {
        config::validate(&self.schema(), config)
    }
    /// The secret fields, from the schema.
    fn secret_fields(&self) -> Vec<config::FieldPath> {
        config::secret_paths(&self.schema())
    }
    /// The fields that decide where the secrets are sent, from the schema:
    /// marked `"x-secret-destination": true`, or `"format": "uri"` unless
    /// marked `false` ([`config::DESTINATION_MARK`]). Changing one while
    /// keeping a stored secret is refused: the secret must be sent again.
    fn destination_fields(&self) -> Vec<config::FieldPath> {
        config::destination_paths(&self.schema())
    }
    /// Tests a validated, open configuration against the service.
    fn test<'a>(&'a self, config: &'a Value, http: &'a Outbound) -> TestFuture<'a>;
}

/// The known connection types, by name.
#[derive(Clone, Default)]
pub struct ConnectionRegistry {
    kinds: BTreeMap<&'static str, Arc<dyn ConnectionKind>>,
}

impl std::fmt::Debug for ConnectionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl ConnectionRegistry {
    /// The original's three types: `llm`, `extraction`, `sharepoint`.
    pub fn builtin() -> Self {
        let mut r = Self::default();
        r.register(Arc::new(Llm));
        r.register(Arc::new(Extraction));
        r.register(Arc::new(SharePoint));
        r
    }

    /// Adds (or replaces) a type.
    pub fn register(&mut self, kind: Arc<dyn ConnectionKind>) {
        self.kinds.insert(kind.type_name(), kind);
    }

    /// The type called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ConnectionKind>> {
        self.kinds.get(name)
    }

    /// Every type, by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn ConnectionKind>> {
        self.kinds.values()
    }
}

fn timeout_of(config: &Value) -> Duration {
    Duration::from_secs(config.get("timeout").and_then(Value::as_u64).unwrap_or(60))
}

fn verify_of(config: &Value) -> bool {
    config
        .get("verify_ssl")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn text<'v>(config: &'v Value, key: &str) -> &'v str {
    config.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

fn timing(answer: &Answer) -> Value {
    json!({"status_code": answer.status, "response_time_ms": answer.elapsed.as_millis() as u64})
}

/// A request that got no answer: a fixed message and reason, nothing of
/// the error's own text (which may name the URL).
fn failed(what: &str, e: &OutboundError) -> TestOutcome {
    let (message, code) = match e {
        OutboundError::Timeout(_) => (format!("{what} did not answer in time"), reason::TIMEOUT),
        OutboundError::Refused(_) => (
            format!("{what} is at an address this server may not call"),
            reason::ADDRESS_REFUSED,
        ),
        OutboundError::InvalidUrl(_) => (
            format!("the URL of {what} cannot be used"),
            reason::INVALID_URL,
        ),
        OutboundError::Failed(_) => (format!("cannot reach {what}"), reason::UNREACHABLE),
    };
    TestOutcome::unhealthy(message, code, json!({}))
}

/// An answer outside 2xx: its status and timing, never its body.
fn http_failure(what: &str, answer: &Answer) -> TestOutcome {
    let (message, code) = match answer.status {
        401 | 403 => (
            format!("{what} refused the credentials (HTTP {})", answer.status),
            reason::CREDENTIALS_REFUSED,
        ),
        404 => (
            format!("{what} has no such endpoint (HTTP 404)"),
            reason::ENDPOINT_NOT_FOUND,
        ),
        s => (format!("{what} answered HTTP {s}"), reason::HTTP_ERROR),
    };
    TestOutcome::unhealthy(message, code, timing(answer))
}

/// A 2xx answer that is not what the test expects: its status and timing.
fn unexpected(message: &str, answer: &Answer) -> TestOutcome {
    TestOutcome::unhealthy(message, reason::UNEXPECTED_RESPONSE, timing(answer))
}

/// `llm`: an OpenAI-compatible chat-completions API.
pub struct Llm;

impl ConnectionKind for Llm {
    fn type_name(&self) -> &'static str {
        "llm"
    }
    fn display_name(&self) -> &'static str {
        "LLM API"
    }
    fn description(&self) -> &'static str {
        "An OpenAI-compatible LLM API (OpenAI, Ollama, LM Studio, OpenWebUI, ...)"
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["api_key", "model", "base_url"],
            "properties": {
                "api_key": {"type": "string", "title": "API Key", "description": "The API's key", "minLength": 1, "writeOnly": true, "format": "password"},
                "model": {"type": "string", "title": "Model", "description": "Model name, e.g. gpt-4o-mini", "minLength": 1},
                "base_url": {"type": "string", "title": "Base URL", "description": "e.g. https://api.openai.com/v1", "format": "uri", "x-secret-destination": true},
                "timeout": {"type": "integer", "title": "Timeout (seconds)", "minimum": 1, "maximum": 600, "default": 60},
                "verify_ssl": {"type": "boolean", "title": "Verify SSL", "default": true}
            }
        })
    }
    fn example_config(&self) -> Value {
        json!({"api_key": "<your API key>", "model": "gpt-4o-mini", "base_url": "https://api.openai.com/v1", "timeout": 60, "verify_ssl": true})
    }
    fn test<'a>(&'a self, config: &'a Value, http: &'a Outbound) -> TestFuture<'a> {
        Box::pin(async move {
            let model = text(config, "model");
            let url = join(text(config, "base_url"), "chat/completions");
            let answer = http
                .send(Request {
                    post: true,
                    url: &url,
                    headers: vec![(
                        "authorization",
                        format!("Bearer {}", text(config, "api_key")),
                    )],
                    body: Some(Body::Json(json!({
                        "model": model,
                        "messages": [{"role": "user", "content": "Reply with OK."}],
                        "max_tokens": 5
                    }))),
                    timeout: timeout_of(config),
                    verify_tls: verify_of(config),
                })
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => return failed("the LLM API", &e),
            };
            if !(200..300).contains(&answer.status) {
                return http_failure("the LLM API", &answer);
            }
            match answer.json() {
                Some(body) if body.get("choices").is_some_and(Value::is_array) => {
                    TestOutcome::healthy("the LLM API answered a chat completion", timing(&answer))
                }
                _ => unexpected("the LLM API's answer is not a chat completion", &answer),
            }
        })
    }
}

/// `extraction`: the document extraction service.
pub struct Extraction;

impl ConnectionKind for Extraction {
    fn type_name(&self) -> &'static str {
        "extraction"
    }
    fn display_name(&self) -> &'static str {
        "Extraction Service"
    }
    fn description(&self) -> &'static str {
        "The document extraction service (text and structure from uploaded files)"
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["service_url"],
            "properties": {
                "service_url": {"type": "string", "title": "Service URL", "format": "uri", "x-secret-destination": true},
                "timeout": {"type": "integer", "title": "Timeout (seconds)", "minimum": 1, "maximum": 600, "default": 60},
                "api_key": {"type": "string", "title": "API Key", "writeOnly": true, "format": "password"},
                "verify_ssl": {"type": "boolean", "title": "Verify SSL", "default": true}
            }
        })
    }
    fn example_config(&self) -> Value {
        json!({"service_url": "http://extraction:8010", "timeout": 60, "verify_ssl": true})
    }
    fn test<'a>(&'a self, config: &'a Value, http: &'a Outbound) -> TestFuture<'a> {
        Box::pin(async move {
            let url = join(text(config, "service_url"), "api/v1/system/health");
            let mut headers = Vec::new();
            if let Some(key) = config
                .get("api_key")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
            {
                headers.push(("x-api-key", key.to_owned()));
            }
            let answer = match http
                .send(Request {
                    post: false,
                    url: &url,
                    headers,
                    body: None,
                    timeout: timeout_of(config),
                    verify_tls: verify_of(config),
                })
                .await
            {
                Ok(a) => a,
                Err(e) => return failed("the extraction service", &e),
            };
            if !(200..300).contains(&answer.status) {
                return http_failure("the extraction service", &answer);
            }
            match answer.json() {
                Some(body) if body.is_object() => {
                    TestOutcome::healthy("the extraction service is healthy", timing(&answer))
                }
                _ => unexpected(
                    "the extraction service's health answer is not JSON",
                    &answer,
                ),
            }
        })
    }
}

/// `sharepoint`: Microsoft Graph with client credentials.
pub struct SharePoint;

impl ConnectionKind for SharePoint {
    fn type_name(&self) -> &'static str {
        "sharepoint"
    }
    fn display_name(&self) -> &'static str {
        "Microsoft SharePoint"
    }
    fn description(&self) -> &'static str {
        "SharePoint Online through Microsoft Graph (application permissions)"
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["tenant_id", "client_id", "client_secret"],
            "properties": {
                "tenant_id": {"type": "string", "title": "Tenant ID", "minLength": 1, "x-secret-destination": true},
                "client_id": {"type": "string", "title": "Client ID", "minLength": 1},
                "client_secret": {"type": "string", "title": "Client Secret", "minLength": 1, "writeOnly": true, "format": "password"},
                "graph_base_url": {"type": "string", "title": "Graph base URL", "format": "uri", "default": "https://graph.microsoft.com/v1.0", "x-secret-destination": true},
                "graph_scope": {"type": "string", "title": "Graph scope", "default": "https://graph.microsoft.com/.default"},
                "authority_url": {"type": "string", "title": "Authority URL", "description": "Where tokens come from (national clouds differ)", "format": "uri", "default": "https://login.microsoftonline.com", "x-secret-destination": true}
            }
        })
    }
    fn example_config(&self) -> Value {
        json!({
            "tenant_id": "00000000-0000-0000-0000-000000000000",
            "client_id": "00000000-0000-0000-0000-000000000000",
            "client_secret": "<your client secret>",
            "graph_base_url": "https://graph.microsoft.com/v1.0",
            "graph_scope": "https://graph.microsoft.com/.default"
        })
    }
    fn test<'a>(&'a self, config: &'a Value, http: &'a Outbound) -> TestFuture<'a> {
        Box::pin(async move {
            let timeout = Duration::from_secs(30);
            let token_url = join(
                text(config, "authority_url"),
                &format!("{}/oauth2/v2.0/token", text(config, "tenant_id")),
            );
            let token = match http
                .send(Request {
                    post: true,
                    url: &token_url,
                    headers: vec![],
                    body: Some(Body::Form(vec![
                        ("grant_type".into(), "client_credentials".into()),
                        ("client_id".into(), text(config, "client_id").into()),
                        ("client_secret".into(), text(config, "client_secret").into()),
                        ("scope".into(), text(config, "graph_scope").into()),
                    ])),
                    timeout,
                    verify_tls: true,
                })
                .await
            {
                Ok(a) => a,
                Err(e) => return failed("the Microsoft identity platform", &e),
            };
            if !(200..300).contains(&token.status) {
                return http_failure("the Microsoft identity platform", &token);
            }
            let Some(access) = token.json().and_then(|b| {
                b.get("access_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }) else {
                return TestOutcome::unhealthy(
                    "the token answer holds no access token",
                    reason::NO_ACCESS_TOKEN,
                    timing(&token),
                );
            };
            let graph = match http
                .send(Request {
                    post: false,
                    url: &join(text(config, "graph_base_url"), "sites/root"),
                    headers: vec![("authorization", format!("Bearer {access}"))],
                    body: None,
                    timeout,
                    verify_tls: true,
                })
                .await
            {
                Ok(a) => a,
                Err(e) => return failed("Microsoft Graph", &e),
            };
            // The access token is a secret too: never let it out.
            let outcome = if (200..300).contains(&graph.status) {
                TestOutcome::healthy("authenticated and reached Microsoft Graph", timing(&graph))
            } else {
                http_failure("Microsoft Graph", &graph)
            };
            outcome.scrubbed(&[access])
        })
    }
}

/// A connection type declared by its schema alone, for an embedding service
/// whose type needs no test of ours: validation, sealing and redaction come
/// from the schema (mark secret fields `"writeOnly": true`); a test answers
/// `not_tested`. Implement [`ConnectionKind`] for a type with a real test.
///
/// ```
/// use curatore_service::{ConnectionRegistry, DeclaredKind};
/// use serde_json::json;
/// let mut registry = ConnectionRegistry::builtin();
/// registry.register(std::sync::Arc::new(DeclaredKind {
///     type_name: "vector_store",
///     display_name: "Vector store",
///     description: "Where document embeddings are kept.",
///     schema: json!({"type": "object", "required": ["url", "api_key"], "properties": {
///         "url": {"type": "string", "format": "uri"},
///         "api_key": {"type": "string", "writeOnly": true, "minLength": 1}}}),
///     example_config: json!({"url": "https://vectors.example.com", "api_key": "…"}),
/// }));
/// let kind = registry.get("vector_store").unwrap();
/// assert_eq!(kind.secret_fields(), vec![vec!["api_key".to_owned()]]);
/// ```
#[derive(Debug, Clone)]
pub struct DeclaredKind {
    /// The stored name.
    pub type_name: &'static str,
    /// What people call it.
    pub display_name: &'static str,
    /// One sentence.
    pub description: &'static str,
    /// The JSON Schema of its configuration.
    pub schema: Value,
    /// A valid configuration with placeholders and no real secret.
    pub example_config: Value,
}

impl DeclaredKind {
    /// A type called `type_name`, shown as `display_name`, whose
    /// configuration `schema` describes; its example configuration is the
    /// schema's defaults.
    pub fn new(type_name: &'static str, display_name: &'static str, schema: Value) -> Self {
        let example_config = Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .filter_map(|(k, p)| p.get("default").map(|d| (k.clone(), d.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        );
        Self {
            type_name,
            display_name,
            description: display_name,
            schema,
            example_config,
        }
    }
}

impl ConnectionKind for DeclaredKind {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn display_name(&self) -> &'static str {
        self.display_name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn schema(&self) -> Value {
        self.schema.clone()
    }

    fn example_config(&self) -> Value {
        self.example_config.clone()
    }

    fn test<'a>(&'a self, _config: &'a Value, _http: &'a Outbound) -> TestFuture<'a> {
        Box::pin(async move {
            TestOutcome {
                success: false,
                status: ConnectionTestStatus::NotTested,
                message: format!("{} connections declare no test", self.type_name),
                details: json!({}),
                error: None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_holds_only_our_classification() {
        let o = TestOutcome {
            success: false,
            status: ConnectionTestStatus::Unhealthy,
            message: "m".repeat(500),
            details: json!({"status_code": 401, "body": "echo", "nested": {"a": 1}, "ok": true}),
            error: Some("HTTP 401: {\"echo\": \"sk-123\"}".into()),
        }
        .confined();
        assert_eq!(o.error.as_deref(), Some(reason::TEST_FAILED));
        assert_eq!(o.details, json!({"status_code": 401, "ok": true}));
        assert_eq!(o.message.chars().count(), MESSAGE_MAX);
        let stored = json!({"success": false, "status": "unhealthy", "message": "x",
            "error": "HTTP 401: body", "details": {"status_code": 401, "service_status": "sk-1"},
            "tested_at": "2026-01-01T00:00:00Z"});
        let shown = shown_test_result(&stored);
        assert_eq!(shown["error"], reason::TEST_FAILED);
        assert_eq!(shown["details"], json!({"status_code": 401}));
        assert_eq!(shown["tested_at"], stored["tested_at"]);
        assert_eq!(reason::known("timeout"), Some(reason::TIMEOUT));
        assert_eq!(reason::known("made_up"), None);
    }
}
