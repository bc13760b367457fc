//! The `podops` client: login, productions, shows, episodes, uploads,
//! publishing and live streams against any PodOps API (local or on AWS), over HTTP only.
//! One error type ([`ClientError`]) carries the documented exit codes:
//! 0 ok, 1 usage or input error, 2 refused by the server, 3 network or server failure.

mod api;
mod args;
mod commands;
mod config;
mod error;
mod output;
mod publish;
mod streams;
mod upload;

pub use args::{ClientCommand, ClientOpts};
pub use error::ClientError;

/// Runs one client command; the answer is the process's exit code.
pub async fn run(opts: ClientOpts, command: ClientCommand) -> std::process::ExitCode {
    match commands::run(opts, command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
