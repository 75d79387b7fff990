//! `berth grant …`: a team's access level to one repository (`ns/repo`) or to every
//! repository of its organization's namespace (`ns`).

use clap::Subcommand;
use reqwest::Method;

use super::client::{AdminError, Client};
use super::output::{Shown, Table};
use crate::http::api_v0::model::{NamespaceTeamAccess, RepositoryTeamAccess, TeamAccess};

/// `berth grant …`
#[derive(Subcommand, Debug)]
pub enum GrantCommand {
    /// The teams with access to a repository or a namespace.
    List {
        /// `ns/repo` or `ns`.
        target: String,
    },
    /// Give a team access (replacing its level there).
    Set {
        /// `ns/repo` or `ns`.
        target: String,
        /// A team of the namespace's organization.
        team: String,
        /// read-only, read-write or admin.
        level: String,
    },
    /// Withdraw a team's access.
    Revoke {
        /// `ns/repo` or `ns`.
        target: String,
        /// The team.
        team: String,
    },
}

/// The API path of a target's team access.
fn path(target: &str) -> String {
    match target.split_once('/') {
        Some((ns, repo)) => format!("/repositories/{ns}/{repo}/teamAccess"),
        None => format!("/repositoryNamespaces/{target}/teamAccess"),
    }
}

fn table(list: Vec<TeamAccess>) -> Table {
    let mut table = Table::new(&["team", "level"]);
    for access in list {
        table.row(vec![format!("{}/{}", access.team.org_name, access.team.name), access.access_level.unwrap_or_default()]);
    }
    table
}

/// Runs a `berth grant` command.
pub fn run(client: &Client, command: GrantCommand) -> Result<Shown, AdminError> {
    match command {
        GrantCommand::List { target } if target.contains('/') => {
            let (access, json) = client.get::<RepositoryTeamAccess>(&path(&target))?;
            Ok(Shown::table(table(access.team_access_list), json))
        }
        GrantCommand::List { target } => {
            let (access, json) = client.get::<NamespaceTeamAccess>(&path(&target))?;
            Ok(Shown::table(table(access.team_access_list), json))
        }
        GrantCommand::Set { target, team, level } => {
            if !matches!(level.as_str(), "read-only" | "read-write" | "admin") {
                return Err(AdminError::Usage(format!("level {level:?}: read-only, read-write or admin")));
            }
            let body = serde_json::json!({"accessLevel": level});
            let (access, json) = client.call::<TeamAccess>(Method::PUT, &format!("{}/{team}", path(&target)), Some(&body))?;
            let level = access.access_level.unwrap_or_default();
            Ok(Shown::said(format!("{}/{} has {level} access to {target}", access.team.org_name, access.team.name), json))
        }
        GrantCommand::Revoke { target, team } => {
            let (access, json) = client.call::<TeamAccess>(Method::DELETE, &format!("{}/{team}", path(&target)), None::<&()>)?;
            Ok(Shown::said(format!("{}/{} no longer has access to {target}", access.team.org_name, access.team.name), json))
        }
    }
}
