//! `fgchaos`: the command-line edge. Parses arguments, sets up logging, hands the subcommand
//! to [`cmd`] (one file per subcommand) and turns what it returns into the process's exit code
//! ([`cmd::Exit::code`], the one place exit codes are chosen). Everything else is the library.

/// `println!` that drops what it cannot write. The std macros panic when the reader is gone —
/// a closed pipe, the CI job or test runner that started fgchaos killed: fgchaos died of it
/// mid-run, and a panic in the interrupt task would leave SIGTERM caught by nobody and the
/// faults on. fgchaos must go on to heal, so output it cannot write is lost, never fatal.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that drops what it cannot write (see [`outln!`]).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cmd;

use std::process::ExitCode;

use clap::Parser;
use fgchaos::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A log line that cannot be written is dropped: with its internal errors on, the
    // subscriber reports a failed write with `eprintln!`, which panics when stderr is a pipe
    // nobody reads any more (see `outln!`).
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .init();
    let exit = match cmd::dispatch(cli.command, cli.no_guard).await {
        Ok(exit) => exit,
        Err(e) => {
            errln!("fgchaos: {e:#}");
            cmd::Exit::Harness
        }
    };
    ExitCode::from(exit.code())
}
