//! `GET /api/v1/audit-logs/export`: every matching audit entry, streamed as
//! NDJSON or CSV, a page of at most 1,000 at a time, so the server's memory
//! does not grow with the trail.

use super::audit_logs::audit_query;
use crate::auth::Caller;
use crate::dto::AuditLogBody;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use curatore_domain::AuditLogEntry;
use curatore_service::{AuditLogPage, AuditLogQuery, MAX_AUDIT_LIMIT, RequestContext, Services};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/audit-logs/export").get(export));
}

#[derive(Clone, Copy)]
enum Format {
    Ndjson,
    Csv,
}

const CSV_HEADER: &str = "id,created_at,organization_id,user_id,action,entity_type,entity_id,status,error_message,ip_address,user_agent,details\n";

/// The format of the export, as documented.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[allow(dead_code, reason = "describes the query string")]
struct ExportFormat {
    /// `ndjson` (default) or `csv`.
    #[cfg_attr(feature = "openapi", param(pattern = "^(ndjson|csv)$"))]
    format: Option<String>,
}

/// The chunks a producer task sends, as the stream actix writes out.
struct Chunks(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Same filters as the list (`action`, `user_id`, `entity_type`,
/// `entity_id`, `status`, `since`, `until`), plus `format=ndjson|csv`
/// (default `ndjson`); no `limit` or `cursor`: everything is sent.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/api/v1/audit-logs/export", tag = "audit",
    params(super::audit_logs::AuditFilters, ExportFormat),
    responses((status = 200, description = "Every matching entry, streamed: one JSON object per line (ndjson) or CSV with a header row",
        content((String = "application/x-ndjson"), (String = "text/csv"))))))]
async fn export(
    state: web::Data<AppState>,
    Caller(ctx): Caller,
    pairs: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let (format, rest) = split_format(pairs.into_inner())?;
    let query = audit_query(rest)?;
    if query.limit.is_some() || query.cursor.is_some() {
        return Err(ApiError::query(
            "the export sends every matching entry: leave out `limit` and `cursor`",
        ));
    }
    Ok(export_response(
        state.services().clone(),
        ctx,
        query,
        matches!(format, Format::Csv),
    )
    .await?)
}

/// The export's answer: every entry `query` matches (its `limit` and
/// `cursor` are ignored), streamed as NDJSON or (`csv`) CSV, a page at a
/// time. The first page is read before answering, so a refusal is an
/// error rather than a broken stream. The console's export links use it
/// too, so both give the same bytes.
///
/// # Errors
/// As [`curatore_service::AuditLog::list`].
pub async fn export_response(
    services: Services,
    ctx: RequestContext,
    mut query: AuditLogQuery,
    csv: bool,
) -> Result<HttpResponse, curatore_service::ServiceError> {
    let format = if csv { Format::Csv } else { Format::Ndjson };
    query.limit = Some(MAX_AUDIT_LIMIT);
    query.cursor = None;
    let page = services.audit_log(&ctx).list(&query).await?;
    let rx = stream_pages(services, ctx, query, page, format);
    let (content_type, name) = match format {
        Format::Ndjson => ("application/x-ndjson", "audit-log.ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "audit-log.csv"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(Chunks(rx)))
}

/// Renders `page` and every page after it into a bounded channel, fetching
/// the next page only when the client has taken the last (so memory stays
/// flat however long the trail); a client that goes away ends it.
fn stream_pages(
    services: Services,
    ctx: RequestContext,
    mut query: AuditLogQuery,
    mut page: AuditLogPage,
    format: Format,
) -> mpsc::Receiver<Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel(4);
    actix_web::rt::spawn(async move {
        if matches!(format, Format::Csv) && tx.send(Ok(Bytes::from(CSV_HEADER))).await.is_err() {
            return;
        }
        loop {
            let chunk = render(&page.items, format);
            // A client that went away ends the export.
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            let Some(cursor) = page.next_cursor.take() else {
                return;
            };
            query.cursor = Some(cursor);
            page = match services.audit_log(&ctx).list(&query).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "audit export stopped");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
        }
    });
    rx
}

fn split_format(pairs: Vec<(String, String)>) -> Result<(Format, Vec<(String, String)>), ApiError> {
    let mut format = None;
    let mut rest = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        if key != "format" {
            rest.push((key, value));
            continue;
        }
        let parsed = match value.as_str() {
            "ndjson" => Format::Ndjson,
            "csv" => Format::Csv,
            _ => {
                return Err(ApiError::query(
                    "query parameter `format` must be ndjson or csv",
                ));
            }
        };
        if format.replace(parsed).is_some() {
            return Err(ApiError::query(
                "query parameter `format` is given more than once",
            ));
        }
    }
    Ok((format.unwrap_or(Format::Ndjson), rest))
}

fn render(entries: &[AuditLogEntry], format: Format) -> Bytes {
    let mut out = String::with_capacity(entries.len() * 256);
    for entry in entries {
        match format {
            Format::Ndjson => {
                let body = AuditLogBody::from(entry.clone());
                if let Ok(line) = serde_json::to_string(&body) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            Format::Csv => csv_row(&mut out, entry),
        }
    }
    Bytes::from(out)
}

fn csv_row(out: &mut String, e: &AuditLogEntry) {
    let details = e.details.as_ref().map(|d| d.to_string());
    let cells: [Option<String>; 12] = [
        Some(e.id.as_uuid().to_string()),
        Some(e.created_at.to_rfc3339()),
        e.organization_id.map(|o| o.as_uuid().to_string()),
        e.user_id.map(|u| u.as_uuid().to_string()),
        Some(e.action.as_str().to_owned()),
        e.entity_type.clone(),
        e.entity_id.map(|i| i.to_string()),
        Some(e.status.as_str().to_owned()),
        e.error_message.clone(),
        e.ip_address.clone(),
        e.user_agent.clone(),
        details,
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(text) = cell {
            csv_cell(out, text);
        }
    }
    out.push('\n');
}

/// RFC 4180 quoting, and a leading `'` before `= + - @` (and tab or CR) so
/// a spreadsheet does not run a cell as a formula (OWASP "CSV injection").
fn csv_cell(out: &mut String, text: &str) {
    let guarded = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = guarded || text.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;
    use crate::testing::{admin, app, state};
    use actix_web::test::{self, TestRequest};

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let cell = |t: &str| {
            let mut s = String::new();
            csv_cell(&mut s, t);
            s
        };
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+2"), "\"'=1+2\"");
    }

    #[actix_web::test]
    async fn the_export_streams_every_entry_as_ndjson_and_csv() {
        let (db, state) = state().await;
        // More than one page (1,000) of entries, so the export pages on.
        let raw = crate::testing::database(&db).await;
        let org = raw
            .system()
            .organizations()
            .first()
            .await
            .unwrap()
            .unwrap()
            .id;
        let tx = raw.begin().await.unwrap();
        for i in 0..1_100 {
            tx.tenant(org)
                .audit_logs()
                .record(curatore_domain::NewAuditLogEntry {
                    organization_id: Some(org),
                    user_id: None,
                    action: curatore_domain::AuditAction::parse("update_organization").unwrap(),
                    entity_type: Some("organization".into()),
                    entity_id: None,
                    details: Some(serde_json::json!({ "n": i })),
                    ip_address: None,
                    user_agent: None,
                    status: curatore_domain::AuditStatus::Success,
                    error_message: None,
                })
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let app = app(state).await;
        let auth = admin(&app).await;
        for (format, first) in [("ndjson", "{"), ("csv", "id,created_at")] {
            let res = test::call_service(
                &app,
                TestRequest::get()
                    .uri(&format!("/api/v1/audit-logs/export?format={format}"))
                    .insert_header(auth.clone())
                    .to_request(),
            )
            .await;
            assert_eq!(res.status(), 200);
            let body = test::read_body(res).await;
            let text = std::str::from_utf8(&body).unwrap();
            assert!(text.starts_with(first), "{text}");
            // The seed, 1,100 changes and the login, each on its own line.
            assert!(text.contains("seed_initial_tenant") && text.contains("login"));
            let header = usize::from(format == "csv");
            assert_eq!(text.lines().count(), 1 + 1_100 + 1 + header);
        }
        let res = test::call_service(
            &app,
            TestRequest::get()
                .uri("/api/v1/audit-logs/export?format=xml")
                .insert_header(auth)
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 400);
    }
}
