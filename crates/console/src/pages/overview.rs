//! Overview: health, counts, version, the default connections, the latest
//! audit entries.

use crate::guard::{PageError, Signed};
use crate::layout::{self, Layout};
use crate::pages::audit::EntryRow;
use actix_web::HttpResponse;
use actix_web::web;
use askama::Template;
use curatore_domain::Role;
use curatore_service::{AuditLogQuery, ConnectionQuery};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    version: &'static str,
    healthy: bool,
    health_message: String,
    database_type: &'static str,
    latency_ms: String,
    migration: String,
    size: String,
    counts: Vec<(String, String)>,
    defaults: Vec<DefaultRow>,
    defaults_hidden: bool,
    audit: Vec<EntryRow>,
    audit_shown: bool,
}

struct DefaultRow {
    id: String,
    name: String,
    connection_type: String,
    status: String,
}

#[derive(Deserialize)]
pub(crate) struct Done {
    done: Option<String>,
}

pub(crate) async fn page(
    req: actix_web::HttpRequest,
    signed: Signed,
    q: web::Query<Done>,
) -> Result<HttpResponse, PageError> {
    let services = signed.services();
    let ctx = &signed.ctx;
    let health = services.database_health().await;
    // `HEALTH_DETAILS=authenticated` hides the figures from callers without
    // credentials: with authentication off, that is everyone.
    let hidden = signed.open
        && req
            .app_data::<web::Data<curatore_web::AppState>>()
            .is_some_and(|s| s.health_details() == curatore_web::HealthDetails::Authenticated);
    let stats = if hidden { None } else { health.stats.as_ref() };
    let (migration, size, counts) = match stats {
        Some(stats) => (
            stats
                .migration_version
                .clone()
                .unwrap_or_else(|| "none".into()),
            stats
                .size_mb
                .map_or_else(|| "unknown".into(), |mb| format!("{mb:.1} MiB")),
            stats
                .tables
                .iter()
                .map(|(table, count)| {
                    let n = if count.exact {
                        count.rows.to_string()
                    } else {
                        format!("≈ {}", count.rows)
                    };
                    ((*table).to_owned(), n)
                })
                .collect(),
        ),
        None => ("unknown".into(), "unknown".into(), Vec::new()),
    };
    let defaults = services
        .connections(ctx)
        .list(ConnectionQuery {
            is_default: Some(true),
            limit: 50,
            ..ConnectionQuery::default()
        })
        .await;
    let (defaults, defaults_hidden) = match defaults {
        Ok(page) => (
            page.items
                .into_iter()
                .map(|c| DefaultRow {
                    id: c.id.to_string(),
                    name: c.name,
                    connection_type: c.connection_type.as_str().to_owned(),
                    status: c
                        .test_status
                        .map_or_else(|| "not_tested".to_owned(), |s| s.as_str().to_owned()),
                })
                .collect(),
            false,
        ),
        Err(_) => (Vec::new(), true),
    };
    let audit_shown = ctx.principal().role().satisfies(Role::OrgAdmin);
    let audit = if audit_shown {
        let query = AuditLogQuery {
            limit: Some(10),
            ..AuditLogQuery::default()
        };
        services
            .audit_log(ctx)
            .list(&query)
            .await
            .map(|p| p.items.into_iter().map(EntryRow::from).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let layout = Layout::of(&signed, "overview", "Overview")
        .await
        .with_notice(super::done_notice(q.done.as_deref()));
    let page = OverviewPage {
        layout,
        version: curatore_web::VERSION,
        healthy: health.connected,
        health_message: health.message,
        database_type: health.database_type.as_str(),
        latency_ms: format!("{:.1}", health.latency_ms),
        migration,
        size,
        counts,
        defaults,
        defaults_hidden,
        audit,
        audit_shown,
    };
    Ok(layout::html(actix_web::http::StatusCode::OK, &page))
}
