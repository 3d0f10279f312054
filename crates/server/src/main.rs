//! `curatore-server`: the command line over [`curatore_server`].
//!
//! Everything here is the command line; start-up, serving and the commands
//! live in the library, where embedding services and tests use them too.

mod cli;

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
