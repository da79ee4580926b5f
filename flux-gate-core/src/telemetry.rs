//! Logging setup shared by every subcommand: `tracing` to stderr, filtered by `FG_LOG`
//! (`RUST_LOG` syntax, default `info`), as text or JSON (`FG_LOG_FORMAT=json`).

use tracing_subscriber::EnvFilter;

use crate::config::env;

pub fn init() {
    let filter = EnvFilter::try_from_env(env::LOG)
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let json = std::env::var(env::LOG_FORMAT).is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set (tests); that one keeps working.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
