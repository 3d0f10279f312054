//! `curatore-server`: loads settings, prepares the database and serves the API.
//!
//! Everything here is composition; the behaviour lives in the library crates.

mod backup;
mod cli;
mod connections;
mod logging;
mod secrets;
mod startup;
mod transfer;

use clap::Parser;
use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Logging may not be set up yet (bad configuration): use stderr.
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
