//! `berth ldap …`: the directory sync (system administrators).

use clap::Subcommand;
use reqwest::Method;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, when};
use crate::http::api_v0::model::LdapSyncReport;

/// `berth ldap …`
#[derive(Subcommand, Debug)]
pub enum LdapCommand {
    /// Sync accounts and team members from the directory now; prints the report.
    Sync,
    /// The last sync's report.
    Report,
}

fn shown(r: &LdapSyncReport, json: serde_json::Value) -> Shown {
    let mut lines = vec![
        ("finished", when(r.finished_at)),
        ("directory users", r.directory_users.to_string()),
        ("users", format!("{} created, {} updated, {} deactivated", r.users_created, r.users_updated, r.users_deactivated)),
        ("teams synced", r.teams_synced.to_string()),
        ("members", format!("{} added, {} removed", r.members_added, r.members_removed)),
    ];
    for problem in &r.problems {
        lines.push(("problem", problem.clone()));
    }
    Shown::said(Table::fields(lines), json)
}

/// Runs a `berth ldap` command.
pub fn run(client: &Client, command: LdapCommand) -> Result<Shown, AdminError> {
    let (report, json) = match command {
        LdapCommand::Sync => client.call::<LdapSyncReport>(Method::POST, "/ldap/sync", None::<&()>)?,
        LdapCommand::Report => client.get::<LdapSyncReport>("/ldap/sync")?,
    };
    Ok(shown(&report, json))
}
