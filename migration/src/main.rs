//! `curatore-migrate`: applies and rolls back Curatore's database migrations.
//! All the logic lives in [`curatore_migration::cli`].

use clap::Parser;
use curatore_migration::cli::{Cli, run};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli, &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
