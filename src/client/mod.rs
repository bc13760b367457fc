//! The `podops` client: login (by email or token), personal tokens, productions, shows,
//! episodes, uploads, publishing and live streams against any PodOps API (local or on
//! AWS), over HTTP only.
//! One error type ([`ClientError`]) carries the documented exit codes:
//! 0 ok, 1 usage or input error, 2 refused by the server, 3 network or server failure.

mod accounts;
mod api;
mod args;
mod backups;
mod commands;
mod config;
mod error;
mod output;
mod publish;
mod streams;
mod upload;

pub use args::{ClientCommand, ClientOpts, TokenCommand};
pub use error::ClientError;

/// Runs one client command; the answer is the process's exit code.
pub async fn run(opts: ClientOpts, command: ClientCommand) -> std::process::ExitCode {
    exit(commands::run(opts, command).await)
}

/// `podops token create|list|revoke` (a subcommand of the server's `podops token`).
pub async fn run_tokens(opts: ClientOpts, command: TokenCommand) -> std::process::ExitCode {
    exit(accounts::tokens(&opts, command).await)
}

fn exit(result: Result<(), ClientError>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
