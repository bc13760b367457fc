//! `podops`: the server, the worker and the client, in one binary.
//! Entry points only: parse the command line, then hand over.

mod backend;
mod cli;
mod client;
mod data_dir;
mod logging;
mod mail;
mod provision;
mod scheduler;
mod serve;
mod worker_cmd;

use clap::Parser;

// JSON-heavy request handling is allocation-bound; mimalloc measured ~faster
// than glibc malloc here (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // Help and --version are answers (exit 0); anything else is a usage error (exit 1).
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let result = match cli.command {
        cli::Command::Client(command) => return client::run(cli.client, command).await,
        cli::Command::Serve(args) => serve::run(args).await,
        cli::Command::Token(mut args) => match args.action.take() {
            // `podops token create|list|revoke`: the client, against the API.
            Some(action) => return client::run_tokens(cli.client, action).await,
            None => data_dir::mint_token(args).await,
        },
        cli::Command::Provision(args) => provision::run(args).await,
        cli::Command::Worker(args) => worker_cmd::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podops: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
