//! Logs as `LOG_LEVEL` and `LOG_FORMAT` say.

use crate::error::StartError as Failure;
use curatore_config::{LoadedSettings, LogFormat, Settings};
use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber: `LOG_LEVEL` as an env-filter directive,
/// `LOG_FORMAT` pretty (colours only on a terminal) or one JSON object per
/// line, and a filter that keeps client errors (4xx) below ERROR, so
/// clients cannot fill the error log.
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
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_timer(UtcMicros);
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

/// The time of a log line as `2026-12-07T09:24:12.993162Z`, the format of
/// tracing-subscriber's default timer, written digit by digit: the default
/// goes through `fmt` for each field and was a tenth of an access-log line's
/// cost.
struct UtcMicros;

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        w.write_str(&rfc3339_micros(now.as_secs(), now.subsec_micros()))
    }
}

/// `secs` since the epoch (UTC) and the microseconds past them, as RFC 3339.
fn rfc3339_micros(secs: u64, micros: u32) -> String {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let mut out = String::with_capacity(27);
    for (value, width, then) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (of_day / 3600, 2, ':'),
        (of_day / 60 % 60, 2, ':'),
        (of_day % 60, 2, '.'),
        (u64::from(micros), 6, 'Z'),
    ] {
        push_digits(&mut out, value, width);
        out.push(then);
    }
    out
}

/// `value` as exactly `width` (at most 6) decimal digits.
fn push_digits(out: &mut String, value: u64, width: usize) {
    let mut digits = [b'0'; 6];
    let mut v = value;
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend(digits[..width].iter().map(|&d| char::from(d)));
}

/// Year, month and day of the `days`-th day after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for dates from 1970 on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
    fn log_times_are_rfc3339_in_utc_with_microseconds() {
        for (secs, micros, text) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000005Z"),
            (1_796_635_452, 993_162, "2026-12-07T09:24:12.993162Z"),
            (4_107_542_399, 999_999, "2100-02-28T23:59:59.999999Z"),
        ] {
            assert_eq!(rfc3339_micros(secs, micros), text);
        }
    }

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
