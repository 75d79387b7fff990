//! `berth token …`: access tokens (a user's own, or any user's for system administrators).

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, parse_duration, unix_now, when, when_or};
use crate::http::api_v0::model::{Token, TokenList};

/// `berth token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// List a user's tokens: scope, expiry, last use.
    List {
        /// The user.
        user: String,
    },
    /// Create an access token for a user; prints it once.
    Create {
        /// The user.
        user: String,
        /// A name for the token.
        name: String,
        /// Limit to this repository (repeatable).
        #[arg(long = "repository")]
        repositories: Vec<String>,
        /// Limit to this action: pull, push or delete (repeatable).
        #[arg(long = "action")]
        actions: Vec<String>,
        /// Expiry from now: 90m, 12h, 30d, 2w.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<u64>,
    },
    /// Revoke a token: it and every token obtained with it stop working at once.
    Revoke {
        /// The user.
        user: String,
        /// The token's id (`berth token list`).
        id: String,
    },
}

/// Runs a `berth token` command.
pub fn run(client: &Client, command: TokenCommand) -> Result<Shown, AdminError> {
    match command {
        TokenCommand::List { user } => {
            let (list, json) = client.get::<TokenList>(&format!("/accounts/{user}/tokens"))?;
            let mut table = Table::new(&["id", "name", "repositories", "actions", "expires", "last used"]);
            let or_all = |items: Vec<String>| if items.is_empty() { "all".to_owned() } else { items.join(",") };
            for t in list.tokens {
                table.row(vec![
                    t.id,
                    t.name,
                    or_all(t.repositories),
                    or_all(t.actions),
                    when_or(t.expires_at, "never"),
                    when_or(t.last_used, "never"),
                ]);
            }
            Ok(Shown::table(table, json))
        }
        TokenCommand::Create { user, name, repositories, actions, expires_in } => {
            let expires_at = expires_in.map(|secs| unix_now().saturating_add(secs));
            let body = json!({"name": name, "repositories": repositories, "actions": actions, "expiresAt": expires_at});
            let (created, json) = client.call::<Token>(Method::POST, &format!("/accounts/{user}/tokens"), Some(&body))?;
            let expiry = created.expires_at.map(|at| format!(", valid until {}", when(at))).unwrap_or_default();
            let note = format!("token {} created{expiry}; it is shown only this once", created.id);
            Ok(Shown::said(created.token.unwrap_or_default(), json).with_note(note))
        }
        TokenCommand::Revoke { user, id } => {
            client.send(Method::DELETE, &format!("/accounts/{user}/tokens/{id}"), None::<&()>)?;
            Ok(Shown::said(format!("token {id} revoked"), json!({"revoked": id})))
        }
    }
}
