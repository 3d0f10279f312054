use crate::cli::Failure;
use curatore_config::{LogFormat, Settings};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `LOG_LEVEL` as an env-filter directive,
/// `LOG_FORMAT` pretty (colours only on a terminal) or one JSON object per line.
pub fn init(settings: &Settings) -> Result<(), Failure> {
    let filter = EnvFilter::try_new(&settings.log_level).map_err(|e| {
        Failure::Config(format!(
            "LOG_LEVEL: {e}; use a level such as `info` or a filter such as `info,curatore_web=debug`"
        ))
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let result = match settings.log_format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
    };
    // A subscriber already installed (by an embedding program) is kept.
    let _ = result;
    Ok(())
}
