//! Audit log: filters, keyset paging, one entry, exports.

use crate::errors::Shown;
use crate::forms::q;
use crate::guard::{PageError, Signed};
use crate::layout::{self, Layout};
use actix_web::{HttpResponse, web};
use askama::Template;
use curatore_domain::AuditLogEntry;
use curatore_service::{AuditLogQuery, MAX_AUDIT_LIMIT};
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list))
        .route("/audit/export", web::get().to(export))
        .route("/audit/{id}", web::get().to(detail));
}

/// An entry as a table row shows it.
pub(crate) struct EntryRow {
    pub(crate) id: String,
    pub(crate) at: String,
    pub(crate) when: String,
    pub(crate) action: String,
    pub(crate) status: String,
    pub(crate) failed: bool,
    pub(crate) user: String,
    pub(crate) entity: String,
    pub(crate) ip: String,
}

impl From<AuditLogEntry> for EntryRow {
    fn from(e: AuditLogEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: q(&e.created_at.to_rfc3339()),
            when: e.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            action: e.action.as_str().to_owned(),
            status: e.status.as_str().to_owned(),
            failed: e.status.as_str() == "failure",
            user: e.user_id.map(|u| u.to_string()).unwrap_or_default(),
            entity: match (e.entity_type, e.entity_id) {
                (Some(t), Some(id)) => format!("{t} {id}"),
                (Some(t), None) => t,
                _ => String::new(),
            },
            ip: e.ip_address.unwrap_or_default(),
        }
    }
}

/// The filters, as the form sends them.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    action: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    entity_type: String,
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    format: String,
}

fn some(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// A time from `<input type="datetime-local">` (no zone: UTC) or RFC 3339.
fn instant(v: &str) -> Option<String> {
    let v = some(v)?;
    let with_zone = v.ends_with('Z') || v.rfind(['+', '-']).is_some_and(|i| i > 10);
    Some(match (with_zone, v.len()) {
        (true, _) => v,
        (false, 16) => format!("{v}:00Z"),
        (false, _) => format!("{v}Z"),
    })
}

impl Filters {
    /// The typed query, parsed as the API parses its query string (each
    /// bad value refused naming its parameter).
    fn query(&self, limit: u64) -> Result<AuditLogQuery, Shown> {
        let mut pairs = Vec::new();
        let mut add = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                pairs.push((k.to_owned(), v));
            }
        };
        add("action", some(&self.action));
        add("user_id", some(&self.user_id));
        add("entity_type", some(&self.entity_type));
        add("entity_id", some(&self.entity_id));
        add("status", some(&self.status));
        add("since", instant(&self.since));
        add("until", instant(&self.until));
        add("limit", Some(limit.to_string()));
        add("cursor", some(&self.cursor));
        curatore_web::audit_query(pairs).map_err(|e| Shown::from(&e))
    }

    /// The filters as a query string (without the cursor).
    fn encoded(&self) -> String {
        [
            ("action", &self.action),
            ("user_id", &self.user_id),
            ("entity_type", &self.entity_type),
            ("entity_id", &self.entity_id),
            ("status", &self.status),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", q(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    f: Filters,
    audit: Vec<EntryRow>,
    next: Option<String>,
    filters: String,
    first_page: bool,
    /// The failure, inside the results (what a partial update swaps in).
    error: String,
}

const PAGE: u64 = 50;

async fn list(signed: Signed, f: web::Query<Filters>) -> Result<HttpResponse, PageError> {
    let f = f.into_inner();
    let result = match f.query(PAGE) {
        Ok(query) => signed
            .services()
            .audit_log(&signed.ctx)
            .list(&query)
            .await
            .map_err(Shown::from),
        Err(shown) => Err(shown),
    };
    let (audit, next, shown) = match result {
        Ok(page) => (
            page.items.into_iter().map(EntryRow::from).collect(),
            page.next_cursor.map(|c| c.to_string()),
            None,
        ),
        Err(shown) => (Vec::new(), None, Some(shown)),
    };
    let filters = f.encoded();
    let next = next.map(|c| {
        if filters.is_empty() {
            format!("/console/audit?cursor={}", q(&c))
        } else {
            format!("/console/audit?{filters}&cursor={}", q(&c))
        }
    });
    let page = AuditPage {
        error: shown
            .as_ref()
            .map(|s| s.message.clone())
            .unwrap_or_default(),
        layout: Layout::of(&signed, "audit", "Audit log").await,
        first_page: f.cursor.is_empty(),
        f,
        audit,
        next,
        filters,
    };
    Ok(layout::page(shown.as_ref(), &page))
}

#[derive(Template)]
#[template(path = "audit_entry.html")]
struct EntryPage {
    layout: Layout,
    e: Option<EntryDetail>,
}

struct EntryDetail {
    row: EntryRow,
    organization: String,
    user_agent: String,
    error: String,
    details: String,
}

#[derive(Deserialize)]
struct At {
    #[serde(default)]
    at: String,
}

/// One entry, found by its time (the list's key) and id.
async fn detail(
    signed: Signed,
    id: web::Path<String>,
    at: web::Query<At>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let since = chrono::DateTime::parse_from_rfc3339(&at.at)
        .map_err(|_| {
            PageError::Shown(Shown::invalid("This link to an audit entry is incomplete."))
        })?
        .with_timezone(&chrono::Utc);
    let until = since + chrono::Duration::milliseconds(1);
    let query = AuditLogQuery {
        since: Some(since),
        until: Some(until),
        limit: Some(MAX_AUDIT_LIMIT),
        ..AuditLogQuery::default()
    };
    let page = signed
        .services()
        .audit_log(&signed.ctx)
        .list(&query)
        .await?;
    let e = page
        .items
        .into_iter()
        .find(|e| e.id.to_string() == id)
        .map(|e| EntryDetail {
            organization: e.organization_id.map(|o| o.to_string()).unwrap_or_default(),
            user_agent: e.user_agent.clone().unwrap_or_default(),
            error: e.error_message.clone().unwrap_or_default(),
            details: e
                .details
                .as_ref()
                .and_then(|d| serde_json::to_string_pretty(d).ok())
                .unwrap_or_default(),
            row: EntryRow::from(e),
        });
    let status = if e.is_some() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::NOT_FOUND
    };
    let page = EntryPage {
        layout: Layout::of(&signed, "audit", "Audit entry").await,
        e,
    };
    Ok(layout::html(status, &page))
}

/// Every matching entry as NDJSON or CSV, streamed a page at a time: the
/// API's export, the same bytes.
async fn export(signed: Signed, f: web::Query<Filters>) -> Result<HttpResponse, PageError> {
    let f = f.into_inner();
    let csv = f.format == "csv";
    let query = f.query(MAX_AUDIT_LIMIT).map_err(PageError::Shown)?;
    let services = signed.services().clone();
    Ok(curatore_web::audit_export_response(services, signed.ctx, query, csv).await?)
}
