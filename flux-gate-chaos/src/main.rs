//! `fgchaos`: the command-line edge. Parses arguments, sets up logging, hands the subcommand
//! to [`cmd`] (one file per subcommand) and turns what it returns into the process's exit code
//! ([`cmd::Exit::code`], the one place exit codes are chosen). Everything else is the library.

mod cmd;

use std::process::ExitCode;

use clap::Parser;
use fgchaos::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let exit = match cmd::dispatch(cli.command).await {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("fgchaos: {e:#}");
            cmd::Exit::Harness
        }
    };
    ExitCode::from(exit.code())
}
