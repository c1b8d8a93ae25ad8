//! `celeryscope`: a Celery monitoring tool in one binary.
//!
//! - `exporter`: a drop-in for celery-exporter 0.12 (same flags, `CE_*`
//!   variables, metrics and labels), serving `/metrics`, `/health` and `/`;
//! - `top`: the workers and newest tasks in the terminal;
//! - `dump`: the events as `celery events --dump` prints them;
//! - `inspect`: `celery inspect` (`ping`, `stats`, `active`, `registered`,
//!   `active_queues`...).
//!
//! Every command takes a Redis (`redis://`, `rediss://`) or RabbitMQ
//! (`amqp://`, `amqps://`) URL.

mod broker;
mod dump;
mod exporter;
mod inspect;
mod logging;
mod top;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A Celery monitoring tool: a Prometheus exporter (a drop-in for
/// celery-exporter), a terminal view, an event dump and `celery inspect`,
/// on Redis and RabbitMQ.
#[derive(Parser)]
#[command(name = "celeryscope", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves Prometheus metrics of the cluster: celery-exporter's flags,
    /// CE_* variables, metrics and labels.
    Exporter(Box<exporter::ExporterOptions>),
    /// Shows the workers and newest tasks, refreshed in place (q quits).
    Top(top::TopOptions),
    /// Prints the events as `celery events --dump` does.
    Dump(dump::DumpOptions),
    /// Asks the workers, as `celery inspect` does.
    Inspect(inspect::InspectOptions),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, result) = match cli.command {
        Command::Exporter(options) => ("exporter", exporter::run(*options)),
        Command::Top(options) => ("top", top::run(&options)),
        Command::Dump(options) => ("dump", dump::run(&options)),
        Command::Inspect(options) => ("inspect", inspect::run(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("celeryscope {name}: {error}");
            ExitCode::FAILURE
        }
    }
}
