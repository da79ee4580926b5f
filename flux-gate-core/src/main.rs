//! `flux-gate`: one binary, one subcommand per service.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use flux_gate_core::config::{Cli, Command};
use flux_gate_core::{api, db, kafka, probe, reconcile, telemetry, waiting_room, worker};

/// glibc's allocator took ~19 % of the API's CPU under a flash-sale load (many small,
/// short-lived allocations across threads: free-list consolidation, arena locks); mimalloc's
/// thread-local free lists suit that shape. Measured with bench/api.sh (docs/performance.md).
/// Behind the default feature `mimalloc` so that the library's users (the mutants fixture)
/// need not compile it (docs/decisions.md, 32).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flux-gate: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flux-gate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Api(args) => api::run(args).await?,
        Command::Worker(args) => worker::run(args).await?,
        Command::WaitingRoom(args) => waiting_room::run(args).await?,
        Command::Reconcile(args) => {
            // Exit 1 when anything disagrees, so scripts can gate on it.
            return Ok(if reconcile::run(args).await? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Migrate(args) => {
            let pool = args.database.pool(1)?;
            db::migrate(&pool)
                .await
                .context("migrating the database schema")?;
            eprintln!("database schema is up to date");
            if !args.skip_kafka {
                kafka::ensure_topics(&args.kafka.kafka_brokers, args.kafka.kafka_partitions)
                    .await
                    .with_context(|| {
                        format!("creating Kafka topics on {}", args.kafka.kafka_brokers)
                    })?;
                eprintln!("Kafka topics are in place");
            }
        }
        Command::Probe(args) => {
            return Ok(match probe::probe(&args.url, args.timeout).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(reason) => {
                    eprintln!("flux-gate probe: {reason}");
                    ExitCode::FAILURE
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
