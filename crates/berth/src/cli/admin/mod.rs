//! Administration commands: each calls a running server's `/api/v0` as `--user`, one
//! module per noun, and prints a table or a sentence (the API's JSON with `--json`).
//!
//! The server is `--server` (`BERTH_URL`, default `https://localhost:5443`); the caller
//! is `--user` (`BERTH_USER`, default `admin`) with the password in `BERTH_PASSWORD`
//! (never a flag: it would show in `ps`). A server with Berth's generated certificate
//! is trusted through `--cacert` (`BERTH_CACERT`, default `./berth-data/tls/ca.crt`
//! when it exists). New passwords are read from standard input.
//!
//! - `client.rs`: the connection, the API client and the exit codes of its failures.
//! - `output.rs`: tables, sentences and JSON; times, durations and sizes.
//! - `users.rs`, `orgs.rs`, `teams.rs`, `grants.rs`, `repositories.rs`, `tags.rs`,
//!   `tokens.rs`, `settings.rs` (quotas, signing policies), `ldap.rs`, `cluster.rs`,
//!   `webhooks.rs`, `events.rs`, `pruning.rs` and `promotion.rs` (repository policies).

pub mod cache;
mod client;
pub mod cluster;
pub mod events;
pub mod grants;
pub mod ldap;
pub mod mirroring;
pub mod orgs;
mod output;
pub mod promotion;
pub mod pruning;
pub mod repositories;
pub mod settings;
pub mod tags;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::process::ExitCode;

pub use client::{Client, Connection, ENVIRONMENT};
use output::Shown;

/// Runs an administration command and prints its answer; the process exit code.
pub fn administer(connection: &Connection, run: impl FnOnce(&Client) -> Result<Shown, client::AdminError>) -> ExitCode {
    match Client::new(connection).and_then(|client| run(&client)) {
        Ok(shown) => {
            shown.print(connection.json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs `berth events --follow`, which prints as it goes; the exit code when it stops.
pub fn follow_events(connection: &Connection, args: events::EventsArgs) -> ExitCode {
    match Client::new(connection).and_then(|client| events::follow(&client, args, connection.json)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
