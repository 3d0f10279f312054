//! The console's static files, compiled in and served under names that
//! carry their content hash, so browsers may keep them forever.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/htmx.min.js"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/console.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/console.css"),
    },
];

/// The URLs of the assets, with their hashes.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    pub(crate) htmx: String,
    pub(crate) script: String,
    pub(crate) style: String,
}

fn hashed(asset: &Asset) -> String {
    let digest = Sha256::digest(asset.body);
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let (stem, ext) = asset.name.rsplit_once('.').unwrap_or((asset.name, ""));
    format!("{stem}.{short}.{ext}")
}

fn names() -> &'static [String; 3] {
    static NAMES: OnceLock<[String; 3]> = OnceLock::new();
    NAMES.get_or_init(|| ASSETS.each_ref().map(hashed))
}

pub(crate) fn urls() -> Urls {
    let [htmx, script, style] = names().clone().map(|n| format!("/console/static/{n}"));
    Urls {
        htmx,
        script,
        style,
    }
}

/// `GET /console/static/{name}`: the asset whose hashed name this is.
pub(crate) async fn serve(name: web::Path<String>) -> HttpResponse {
    let found = names()
        .iter()
        .position(|n| *n == *name)
        .and_then(|i| ASSETS.get(i));
    match found {
        Some(asset) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.body),
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such file"),
    }
}
