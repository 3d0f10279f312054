//! Users: list with filters, search and keyset paging; invite; change
//! role; deactivate and reactivate; issue a reset token. The rules the
//! service enforces (oneself, the last admin) are shown as disabled actions
//! with their reason.

use crate::errors::Shown;
use crate::forms::{Csrf, flag, q};
use crate::guard::{PageError, Signed};
use crate::layout::{self, Layout, Notice};
use actix_web::{HttpResponse, web};
use askama::Template;
use curatore_domain::{Role, Secret, User, UserId};
use curatore_service::{Invitation, MailStatus, PasswordReset, UserChanges, UserQuery};
use serde::Deserialize;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list))
        .route("/users", web::post().to(invite))
        .route("/users/{id}/role", web::post().to(change_role))
        .route("/users/{id}/active", web::post().to(set_active))
        .route("/users/{id}/reset", web::post().to(issue_reset));
}

const PAGE: u64 = 50;

#[derive(Debug, Default, Clone, Deserialize)]
struct Filters {
    #[serde(default)]
    role: String,
    #[serde(default)]
    active: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

impl Filters {
    fn encoded(&self) -> String {
        [
            ("role", &self.role),
            ("active", &self.active),
            ("q", &self.q),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", q(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

struct Row {
    id: String,
    username: String,
    email: String,
    full_name: String,
    role: String,
    active: bool,
    last_login: String,
    /// Why role and activation cannot change, if they cannot.
    locked: String,
    /// Why no reset token can be issued, if not.
    reset_locked: String,
}

/// A secret shown once after an action.
struct Revealed {
    label: &'static str,
    value: String,
    note: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    f: Filters,
    rows: Vec<Row>,
    total: String,
    next: Option<String>,
    first_page: bool,
    admin: bool,
    revealed: Option<Revealed>,
    roles: [&'static str; 3],
}

async fn render(
    signed: &Signed,
    f: Filters,
    shown: Option<Shown>,
    success: Option<String>,
    revealed: Option<Revealed>,
) -> HttpResponse {
    let users = signed.services().users(&signed.ctx);
    let query = UserQuery {
        role: f.role.parse::<Role>().ok(),
        is_active: flag(Some(f.active.as_str())),
        search: Some(f.q.clone()).filter(|s| !s.trim().is_empty()),
        cursor: Some(f.cursor.clone()).filter(|c| !c.is_empty()),
        limit: PAGE,
        ..UserQuery::default()
    };
    let admin = signed.can(Role::OrgAdmin);
    let me = signed.ctx.principal().user_id();
    let (rows, total, next, listed_error) = match users.list(query).await {
        Ok(page) => {
            // Whether the active admins on this page are the last one: the
            // service refuses it either way; this only says why beforehand.
            // Asked only when the page shows an active org_admin: finding a
            // second one can mean reading every user of a large organization.
            let shows_admin = page
                .items
                .iter()
                .any(|u| u.role == Role::OrgAdmin && u.is_active);
            let admins = if admin && shows_admin {
                users
                    .list(UserQuery {
                        role: Some(Role::OrgAdmin),
                        is_active: Some(true),
                        limit: 2,
                        ..UserQuery::default()
                    })
                    .await
                    .map(|p| p.items.len())
                    .unwrap_or(2)
            } else {
                2
            };
            let total = match (page.total, page.total_estimated) {
                (Some(t), false) => format!("{t} users"),
                (Some(t), true) => format!("about {t} users"),
                (None, _) => String::new(),
            };
            let rows = page
                .items
                .into_iter()
                .map(|u| row(u, me, admins, signed.open))
                .collect();
            (rows, total, page.next_cursor, None)
        }
        Err(e) => (Vec::new(), String::new(), None, Some(Shown::from(e))),
    };
    let shown = shown.or(listed_error);
    let filters = f.encoded();
    let next = next.map(|c| {
        if filters.is_empty() {
            format!("/console/users?cursor={}", q(&c))
        } else {
            format!("/console/users?{filters}&cursor={}", q(&c))
        }
    });
    let notice = shown
        .as_ref()
        .map(Notice::from)
        .or(success.map(Notice::success));
    let page = UsersPage {
        layout: Layout::of(signed, "users", "Users")
            .await
            .with_notice(notice),
        first_page: f.cursor.is_empty(),
        f,
        rows,
        total,
        next,
        admin,
        revealed,
        roles: ["org_admin", "member", "viewer"],
    };
    layout::page(shown.as_ref(), &page)
}

fn row(u: User, me: Option<UserId>, active_admins: usize, open: bool) -> Row {
    let myself = me == Some(u.id);
    let last_admin = u.role == Role::OrgAdmin && u.is_active && active_admins < 2;
    let locked = if open {
        "Authentication is off: read-only."
    } else if myself {
        "You cannot change your own role or deactivate yourself."
    } else if last_admin {
        "The last active org_admin: make another user org_admin first."
    } else {
        ""
    };
    let reset_locked = if open {
        "Authentication is off: read-only."
    } else if myself {
        "Change your own password on your profile."
    } else {
        ""
    };
    Row {
        id: u.id.to_string(),
        username: u.username.as_str().to_owned(),
        email: u.email.as_str().to_owned(),
        full_name: u.full_name.unwrap_or_default(),
        role: u.role.as_str().to_owned(),
        active: u.is_active,
        last_login: u
            .last_login_at
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "never".into()),
        locked: locked.to_owned(),
        reset_locked: reset_locked.to_owned(),
    }
}

async fn list(signed: Signed, f: web::Query<Filters>) -> Result<HttpResponse, PageError> {
    Ok(render(&signed, f.into_inner(), None, None, None).await)
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    role: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    send_email: Option<String>,
}

fn some(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

async fn invite(signed: Signed, form: web::Form<InviteForm>) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let form = form.into_inner();
    let invitation = parse_invitation(&form);
    let result = match invitation {
        Ok(invitation) => signed
            .services()
            .users(&signed.ctx)
            .invite(invitation)
            .await
            .map_err(Shown::from),
        Err(shown) => Err(shown),
    };
    Ok(match result {
        Ok(invited) => {
            let revealed = invited.temporary_password.map(|p| Revealed {
                label: "Temporary password",
                value: p.expose().to_owned(),
                note: format!(
                    "Give it to {} yourself; it is shown only this once. They choose their own at first sign-in.",
                    invited.user.username.as_str()
                ),
            });
            let done = match invited.mail {
                MailStatus::Queued => format!(
                    "{} is invited; an e-mail with a link to choose a password is on its way.",
                    invited.user.username.as_str()
                ),
                MailStatus::NotConfigured => format!(
                    "{} is invited. No mail is configured on this server, so no e-mail was sent.",
                    invited.user.username.as_str()
                ),
                _ => format!("{} is invited.", invited.user.username.as_str()),
            };
            render(&signed, Filters::default(), None, Some(done), revealed).await
        }
        Err(shown) => render(&signed, Filters::default(), Some(shown), None, None).await,
    })
}

/// The invitation as the form sends it, its e-mail address and role parsed
/// with the domain's rules.
fn parse_invitation(form: &InviteForm) -> Result<Invitation, Shown> {
    let email = curatore_domain::EmailAddress::parse(form.email.trim())?;
    let role = match some(&form.role) {
        None => None,
        Some(r) => Some(r.parse::<Role>()?),
    };
    Ok(Invitation {
        email,
        username: some(&form.username),
        full_name: some(&form.full_name),
        role,
        password: None,
        send_email: form.send_email.is_some(),
    })
}

fn user_id(raw: &str) -> Result<UserId, PageError> {
    super::path_id(raw, "No such user.")
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

async fn change_role(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id = user_id(&id)?;
    let result = match form.role.parse::<Role>() {
        Ok(role) => signed
            .services()
            .users(&signed.ctx)
            .update(
                id,
                UserChanges {
                    role: Some(role),
                    ..UserChanges::default()
                },
            )
            .await
            .map_err(Shown::from),
        Err(e) => Err(Shown::from(e)),
    };
    Ok(match result {
        Ok(u) => {
            let done = format!("{} is now {}.", u.username.as_str(), u.role.as_str());
            render(&signed, Filters::default(), None, Some(done), None).await
        }
        Err(e) => render(&signed, Filters::default(), Some(e), None, None).await,
    })
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    active: String,
}

async fn set_active(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<ActiveForm>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id = user_id(&id)?;
    let users = signed.services().users(&signed.ctx);
    let result = if form.active == "true" {
        users.reactivate(id).await
    } else {
        users.deactivate(id).await
    };
    Ok(match result {
        Ok(u) => {
            let done = if u.is_active {
                format!("{} is active again.", u.username.as_str())
            } else {
                format!(
                    "{} is deactivated; their sessions ended.",
                    u.username.as_str()
                )
            };
            render(&signed, Filters::default(), None, Some(done), None).await
        }
        Err(e) => {
            render(
                &signed,
                Filters::default(),
                Some(Shown::from(e)),
                None,
                None,
            )
            .await
        }
    })
}

async fn issue_reset(
    signed: Signed,
    id: web::Path<String>,
    form: web::Form<Csrf>,
) -> Result<HttpResponse, PageError> {
    signed.check(&form.csrf)?;
    let id = user_id(&id)?;
    let result = signed
        .services()
        .users(&signed.ctx)
        .reset_password(id, None::<Secret>)
        .await;
    Ok(match result {
        Ok(PasswordReset::Token {
            token,
            expires_at,
            mail,
        }) => {
            let revealed = Revealed {
                label: "Reset token",
                value: token.expose().to_owned(),
                note: format!(
                    "Shown only this once. The user sets a new password at /console/reset?token=… with it before {} UTC; their sessions have ended.{}",
                    expires_at.format("%Y-%m-%d %H:%M"),
                    if mail == MailStatus::Queued {
                        " The link is also on its way to them by e-mail."
                    } else {
                        ""
                    }
                ),
            };
            render(
                &signed,
                Filters::default(),
                None,
                Some("A reset token is issued.".into()),
                Some(revealed),
            )
            .await
        }
        Ok(_) => {
            render(
                &signed,
                Filters::default(),
                None,
                Some("The password is set.".into()),
                None,
            )
            .await
        }
        Err(e) => {
            render(
                &signed,
                Filters::default(),
                Some(Shown::from(e)),
                None,
                None,
            )
            .await
        }
    })
}
