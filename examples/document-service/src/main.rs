//! A document service embedding Curatore: our API beside its own route, with
//! its own key scope, audit action and connection type.
use actix_web::{HttpResponse, web};
use curatore_service::{Access, ActionEntry, DeclaredKind, Scope};
use curatore_web::{ApiError, AppState, Member};
use serde_json::{Value, json};

#[derive(serde::Deserialize)]
struct Document {
    text: String,
}

async fn summarize(
    state: web::Data<AppState>,
    Member(ctx): Member,
    doc: web::Json<Document>,
) -> Result<HttpResponse, ApiError> {
    ctx.principal().require_scope(Scope::new("documents", Access::Write))?;
    let Some(llm) = state.services().connections(&ctx).active("llm").await? else {
        return Err(ApiError::validation("no llm connection is configured"));
    };
    let url = format!("{}/chat/completions", llm.text("base_url").unwrap_or_default());
    let body = json!({"model": llm.text("model"), "messages": [{"role": "user", "content": doc.text}]});
    let call = reqwest::Client::new().post(url).bearer_auth(llm.secret("api_key").map_or("", |k| k.expose()));
    let Ok(answer) = async { call.json(&body).send().await?.error_for_status()?.json::<Value>().await }.await else {
        return Ok(HttpResponse::BadGateway().json(json!({"detail": "the model did not answer"})));
    };
    let summary = &answer["choices"][0]["message"]["content"];
    let mut stored = false; // Kept in the organization's vector store, when it has one.
    if let Some(store) = state.services().connections(&ctx).active("vector_store").await? {
        let put = reqwest::Client::new().post(store.text("url").unwrap_or_default()).json(&json!({"summary": summary}));
        let put = put.bearer_auth(store.secret("api_key").map_or("", |k| k.expose()));
        stored = put.send().await.is_ok_and(|r| r.status().is_success());
    }
    let entry = ActionEntry::new("summarize_document").details(json!({"characters": doc.text.len(), "stored": stored}));
    state.services().audit_log(&ctx).record(entry).await?;
    Ok(HttpResponse::Ok().json(json!({"summary": summary, "connection": llm.name, "stored": stored})))
}

#[actix_web::main]
async fn main() -> Result<(), curatore_server::StartError> {
    let settings = curatore_config::Settings::load()?.settings;
    curatore_server::logging::init(&settings)?;
    let schema = json!({"type": "object", "required": ["url", "api_key"], "properties": {
        "url": {"type": "string", "format": "uri"}, "api_key": {"type": "string", "writeOnly": true}}});
    let curatore = curatore_server::Curatore::build_with(&settings, |config| {
        config.connections.registry.register(std::sync::Arc::new(DeclaredKind::new(
            "vector_store",
            "Vector store",
            schema,
        )));
        config.scopes.register("documents", "documents and their summaries")?;
        config.audit_actions.register("summarize_document")
    });
    let routes = |cfg: &mut web::ServiceConfig| _ = cfg.route("/documents/summarize", web::post().to(summarize));
    curatore.await?.serve_with(routes).await
}
