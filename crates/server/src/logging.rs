//! Logs as `LOG_LEVEL` and `LOG_FORMAT` say.

use crate::error::StartError as Failure;
use curatore_config::{LoadedSettings, LogFormat, Settings};
use std::io::IsTerminal;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber: `LOG_LEVEL` as an env-filter directive,
/// `LOG_FORMAT` pretty (colours only on a terminal) or one JSON object per
/// line, and [`ClientErrorsAreNotOurs`] so clients cannot fill the error log.
/// A subscriber already installed (by an embedding program) is kept.
///
/// # Errors
/// A `LOG_LEVEL` that is not a filter.
pub fn init(settings: &Settings) -> Result<(), Failure> {
    init_to(settings, false)
}

/// [`init_to`] for loaded settings, then reports the configuration's
/// warnings through the log; answers the settings.
///
/// # Errors
/// As [`init`].
pub fn init_loaded(loaded: &LoadedSettings, to_stderr: bool) -> Result<Settings, Failure> {
    init_to(&loaded.settings, to_stderr)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.settings.clone())
}

/// [`init`], writing to standard error when `to_stderr` (for commands whose
/// standard output is data, such as `export`).
///
/// # Errors
/// As [`init`].
pub fn init_to(settings: &Settings, to_stderr: bool) -> Result<(), Failure> {
    let filter = EnvFilter::try_new(&settings.log_level).map_err(|e| {
        Failure::Config(format!(
            "LOG_LEVEL: {e}; use a level such as `info` or a filter such as `info,curatore_web=debug`"
        ))
    })?;
    let base = tracing_subscriber::registry()
        .with(filter)
        .with(ClientErrorsAreNotOurs);
    let (writer, terminal) = if to_stderr {
        (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        )
    } else {
        (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        )
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(writer);
    let result = match settings.log_format {
        LogFormat::Json => base
            .with(lines.json().with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Pretty => base.with(lines.with_ansi(terminal)).try_init(),
    };
    // A subscriber already installed (by an embedding program) is kept.
    let _ = result;
    Ok(())
}

/// Where actix-http logs a connection that ended in an error.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// actix-http logs every request it cannot parse (a 100 KB URL, a huge or
/// malformed header: answered 400 or 431 before our code runs) and every
/// client that hangs up mid-request as `ERROR stream error: …`, so any client
/// could fill the error log. This layer drops those events and logs them
/// again at the level they deserve: parse errors at WARN, vanished clients at
/// DEBUG, under the same target. Everything else, actix's internal errors
/// included, passes untouched.
///
/// The replacement is logged from inside the dispatch of the original, which
/// reaches the global subscriber (the server installs one); under a scoped
/// subscriber it would be dropped, and only the ERROR line is lost.
struct ClientErrorsAreNotOurs;

impl<S: Subscriber> Layer<S> for ClientErrorsAreNotOurs {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || meta.target() != DISPATCHER {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        match client_error_level(&message.0) {
            Some(Level::WARN) => {
                tracing::warn!(target: "actix_http::h1::dispatcher", client_error = true, "{}", message.0);
            }
            Some(_) => {
                tracing::debug!(target: "actix_http::h1::dispatcher", client_error = true, "{}", message.0);
            }
            None => return true,
        }
        false
    }
}

/// The level an actix-http dispatcher error deserves when the client caused
/// it, or `None` when it is not a client's doing.
fn client_error_level(message: &str) -> Option<Level> {
    let cause = message.strip_prefix("stream error: ")?;
    if cause.starts_with("request parse error") {
        Some(Level::WARN)
    } else if cause.starts_with("I/O error") {
        Some(Level::DEBUG)
    } else {
        None
    }
}

/// Collects an event's `message` field.
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_caused_dispatcher_errors_are_demoted_and_others_are_not() {
        for (message, level) in [
            (
                "stream error: request parse error: URI error: uri too long",
                Some(Level::WARN),
            ),
            (
                "stream error: request parse error: message head is too large",
                Some(Level::WARN),
            ),
            (
                "stream error: request parse error: invalid Header provided",
                Some(Level::WARN),
            ),
            (
                "stream error: I/O error: Connection reset by peer (os error 104)",
                Some(Level::DEBUG),
            ),
            ("stream error: internal error", None),
            ("stream error: body error: broken", None),
            ("Internal server error: unexpected payload chunk", None),
            ("Response payload stream error: x", None),
        ] {
            assert_eq!(client_error_level(message), level, "{message}");
        }
    }
}
