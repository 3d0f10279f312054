//! The messages: one template per kind, in plain text and HTML, written
//! here in Rust so they are compiled into the binary and checked by it.
//! The only secret a message carries is its one-time link.

use curatore_domain::{MailKind, OutgoingMail};

/// A message ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (the same words).
    pub html: String,
}

/// The console page where a one-time token chooses a password:
/// `PUBLIC_URL/console/reset?token=…` (invitations and resets alike; the
/// console redeems it at `POST /api/v1/auth/reset-password`).
pub fn link(public_url: &str, token: &str) -> String {
    format!(
        "{}/console/reset?token={}",
        public_url.trim_end_matches('/'),
        urlencoding::encode(token)
    )
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One paragraph of a message: text, or a link with its label.
enum Part {
    Text(String),
    Link { label: &'static str, url: String },
}

/// Writes `mail` with links into `public_url`.
pub fn render(mail: &OutgoingMail, public_url: &str) -> Rendered {
    let name = mail.full_name.as_deref().unwrap_or(&mail.username);
    let org = &mail.organization_name;
    let url = mail
        .token
        .as_ref()
        .map(|t| link(public_url, t.expose()))
        .unwrap_or_default();
    let until = mail
        .expires_at
        .map(|at| format!(" It works once, until {} UTC.", at.format("%Y-%m-%d %H:%M")))
        .unwrap_or_else(|| " It works once.".to_owned());
    let (subject, parts) = match mail.kind {
        MailKind::Invitation => (
            format!("You are invited to {org} on Curatore"),
            vec![
                Part::Text(format!("Hello {name},")),
                Part::Text(format!(
                    "you have been invited to join {org} on Curatore. Your username is {}. \
                     Choose your password with the link below to sign in.{until}",
                    mail.username
                )),
                Part::Link {
                    label: "Choose your password",
                    url,
                },
                Part::Text(
                    "If you did not expect this invitation, you can ignore this message."
                        .to_owned(),
                ),
            ],
        ),
        MailKind::PasswordReset => (
            format!("Reset your Curatore password ({org})"),
            vec![
                Part::Text(format!("Hello {name},")),
                Part::Text(format!(
                    "a new password was asked for your account {} in {org}. \
                     Choose it with the link below.{until}",
                    mail.username
                )),
                Part::Link {
                    label: "Choose a new password",
                    url,
                },
                Part::Text(
                    "If you did not ask for this, ignore this message: your password stays as it is."
                        .to_owned(),
                ),
            ],
        ),
        MailKind::PasswordChanged => (
            format!("Your Curatore password was changed ({org})"),
            vec![
                Part::Text(format!("Hello {name},")),
                Part::Text(format!(
                    "the password of your account {} in {org} was just changed, and your \
                     other sessions were signed out.",
                    mail.username
                )),
                Part::Text(
                    "If this was not you, ask an administrator of your organization to reset it at once."
                        .to_owned(),
                ),
            ],
        ),
    };
    let mut text = String::new();
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family: sans-serif; line-height: 1.5\">\n",
    );
    for part in parts {
        match part {
            Part::Text(t) => {
                text.push_str(&t);
                text.push_str("\n\n");
                html.push_str(&format!("<p>{}</p>\n", escape(&t)));
            }
            Part::Link { label, url } => {
                text.push_str(&format!("{label}: {url}\n\n"));
                html.push_str(&format!(
                    "<p><a href=\"{0}\">{1}</a></p>\n<p style=\"font-size: small\">{0}</p>\n",
                    escape(&url),
                    escape(label)
                ));
            }
        }
    }
    text.push_str(&format!("-- \nCuratore, for {org}\n"));
    html.push_str(&format!(
        "<p style=\"color: #666; font-size: small\">Curatore, for {}</p>\n</body></html>\n",
        escape(org)
    ));
    Rendered {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curatore_domain::{EmailAddress, Secret};

    fn mail(kind: MailKind, token: Option<&str>) -> OutgoingMail {
        OutgoingMail {
            kind,
            to: EmailAddress::parse("ada@example.com").unwrap(),
            username: "ada".into(),
            full_name: Some("Ada <Lovelace>".into()),
            organization_name: "Acme & Co".into(),
            token: token.map(Secret::new),
            expires_at: None,
        }
    }

    #[test]
    fn invitations_and_resets_carry_the_link_and_the_organization() {
        for kind in [MailKind::Invitation, MailKind::PasswordReset] {
            let r = render(&mail(kind, Some("cpr_x-y")), "https://c.example/");
            let link = "https://c.example/console/reset?token=cpr_x-y";
            assert!(r.text.contains(link), "{kind:?}: {}", r.text);
            assert!(r.html.contains(link), "{kind:?}");
            assert!(r.subject.contains("Acme & Co"), "{kind:?}");
            assert!(r.text.contains("Acme & Co"));
            assert!(r.html.contains("Acme &amp; Co"));
        }
    }

    #[test]
    fn html_is_escaped() {
        let r = render(&mail(MailKind::PasswordChanged, None), "https://c.example");
        assert!(r.html.contains("Ada &lt;Lovelace&gt;"));
        assert!(!r.html.contains("<Lovelace>"));
        assert!(!r.text.contains("token"));
    }
}
