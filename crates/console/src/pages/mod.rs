//! The console's pages: each handler reads or acts through the service
//! handles of the signed-in caller, and draws a template.

mod api_keys;
mod audit;
mod connections;
mod organizations;
mod overview;
mod profile;
mod settings;
mod sign_in;
mod users;

use crate::Console;
use crate::guard;
use actix_web::web;

pub(crate) fn configure(cfg: &mut web::ServiceConfig, console: Console) {
    cfg.route("/", web::get().to(|| async { guard::redirect("/console") }))
        .service(
            web::scope("/console")
                .app_data(web::Data::new(console))
                .wrap(actix_web::middleware::from_fn(guard::console_headers))
                .route("", web::get().to(overview::page))
                .route("/", web::get().to(overview::page))
                .route("/static/{name}", web::get().to(crate::assets::serve))
                .configure(sign_in::routes)
                .configure(profile::routes)
                .configure(users::routes)
                .configure(api_keys::routes)
                .configure(connections::routes)
                .configure(settings::routes)
                .configure(audit::routes)
                .configure(organizations::routes)
                .default_service(web::to(not_found)),
        );
}

async fn not_found() -> actix_web::HttpResponse {
    guard::error_page(
        actix_web::http::StatusCode::NOT_FOUND,
        "There is no such page in the console.",
    )
}

/// Fixed notices a redirect may ask for (`?done=…`): never text from the URL.
pub(crate) fn done_notice(key: Option<&str>) -> Option<crate::layout::Notice> {
    let message = match key? {
        "password" => "Your password is changed.",
        "signed-out-everywhere" => "Every session of yours has ended; sign in again.",
        "reset" => "Your new password is set; sign in with it.",
        "signed-out" => "You are signed out.",
        _ => return None,
    };
    Some(crate::layout::Notice::success(message))
}

/// The id in a page's path; one that is not a UUID names nothing, so the
/// page says `missing` (`"No such user."`) as it would for an unknown id.
pub(crate) fn path_id<T: From<uuid::Uuid>>(
    raw: &str,
    missing: &'static str,
) -> Result<T, crate::guard::PageError> {
    raw.parse::<uuid::Uuid>()
        .map(T::from)
        .map_err(|_| crate::guard::PageError::Shown(crate::errors::Shown::invalid(missing)))
}
