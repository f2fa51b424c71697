//! `laptime-fleet topic|ship|index|ingest|read-server|coordinate`: the fleet's processes (see the crate doc and
//! README "Running a fleet"). Each prints one line when it starts (role and addresses) and, where
//! it moves data, a counters line every 10 s; an unreachable Kafka at start is a clear error and
//! exit code 1.

mod args;
mod coordinate;
mod index;
mod ingest;
mod process;
mod read;
mod ship;
mod topic;

use std::process::ExitCode;

const USAGE: &str = "usage:
  laptime-fleet topic      --brokers HOST:PORT[,..] --topic TOPIC [--partitions N] [--replication N]
  laptime-fleet ship       --dir DIR --brokers HOST:PORT[,..] --topic TOPIC [--feed NAME] [--drain-s 10] [--with-parent]
  laptime-fleet index      --dir DIR --brokers HOST:PORT[,..] --topic TOPIC --group GROUP
                           [--listen ADDR:PORT] [--token TOKEN] [--id NAME] [--session-timeout-s N]
  laptime-fleet ingest     --listen ADDR:PORT --brokers HOST:PORT[,..] --topic TOPIC [--token TOKEN]
  laptime-fleet read-server --dir DIR --listen ADDR:PORT [--token TOKEN]
  laptime-fleet coordinate --listen ADDR:PORT --indexers URL[,URL..] [--token TOKEN]
                           [--indexer-token TOKEN] [--timeout-ms N]
A server listening on a non-loopback address requires --token (clients send it as a bearer token).";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let rest = argv.get(1..).unwrap_or_default();
    if argv.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = match argv.first().map(String::as_str) {
        Some("ship") => ship::run(rest),
        Some("index") => index::run(rest),
        Some("ingest") => ingest::run(rest),
        Some("coordinate") => coordinate::run(rest),
        Some("read-server") => read::run(rest),
        Some("topic") => topic::run(rest),
        Some("help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("laptime-fleet: {e}");
            ExitCode::FAILURE
        }
    }
}
