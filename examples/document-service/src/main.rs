//! A document service that embeds Curatore: our routes and its own
//! `POST /documents/summarize` on one server, over the same database, with
//! our authentication and the organization's default `llm` connection.
use actix_web::{HttpResponse, web};
use curatore_server::{Curatore, StartError};
use curatore_web::{ApiError, AppState, Member};
use serde_json::{Value, json};

#[derive(serde::Deserialize)]
struct Document {
    text: String,
}

/// Summarizes a document with the caller's organization's language model.
async fn summarize(
    state: web::Data<AppState>,
    Member(ctx): Member,
    doc: web::Json<Document>,
) -> Result<HttpResponse, ApiError> {
    let Some(llm) = state.services().connections(&ctx).active("llm").await? else {
        return Err(ApiError::validation("no llm connection is configured"));
    };
    let url = format!(
        "{}/chat/completions",
        llm.text("base_url").unwrap_or_default()
    );
    let key = llm.secret("api_key").map_or("", |k| k.expose());
    let prompt = format!("Summarize in one sentence:\n{}", doc.text);
    let body =
        json!({"model": llm.text("model"), "messages": [{"role": "user", "content": prompt}]});
    let call = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(&body);
    let Ok(answer) = async { call.send().await?.error_for_status()?.json::<Value>().await }.await
    else {
        return Ok(HttpResponse::BadGateway().json(json!({"detail": "the model did not answer"})));
    };
    let summary = &answer["choices"][0]["message"]["content"];
    Ok(HttpResponse::Ok().json(json!({"summary": summary, "connection": llm.name})))
}

#[actix_web::main]
async fn main() -> Result<(), StartError> {
    let settings = curatore_config::Settings::load()?.settings;
    curatore_server::logging::init(&settings)?;
    let curatore = Curatore::build(&settings).await?;
    curatore
        .serve_with(|cfg| {
            cfg.route("/documents/summarize", web::post().to(summarize));
        })
        .await
}
