//! `berth team …`: an organization's teams and their members (the organization's owners).

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, when};
use crate::http::api_v0::model::{Done, MemberList, Team, TeamList};

/// `berth team …`
#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// List an organization's teams.
    List {
        /// The organization.
        org: String,
    },
    /// Show a team and its members.
    Show {
        /// The organization.
        org: String,
        /// The team.
        team: String,
    },
    /// Create a team in an organization.
    Add {
        /// The organization.
        org: String,
        /// The team.
        team: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a team with its memberships and grants (not `owners`).
    Delete {
        /// The organization.
        org: String,
        /// The team.
        team: String,
    },
    /// A team's members.
    #[command(subcommand)]
    Member(MemberCommand),
}

/// `berth team member …`
#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// List a team's members.
    List {
        /// The organization.
        org: String,
        /// The team.
        team: String,
    },
    /// Add a user to a team.
    Add {
        /// The organization.
        org: String,
        /// The team.
        team: String,
        /// The user.
        user: String,
    },
    /// Remove a user from a team.
    Remove {
        /// The organization.
        org: String,
        /// The team.
        team: String,
        /// The user.
        user: String,
    },
}

fn members(client: &Client, org: &str, team: &str) -> Result<(Vec<String>, serde_json::Value), AdminError> {
    let (list, json) = client.get::<MemberList>(&format!("/accounts/{org}/teams/{team}/members"))?;
    Ok((list.members.into_iter().map(|m| m.member.name).collect(), json))
}

/// Runs a `berth team` command.
pub fn run(client: &Client, command: TeamCommand) -> Result<Shown, AdminError> {
    match command {
        TeamCommand::List { org } => {
            let (teams, json) = client.get::<TeamList>(&format!("/accounts/{org}/teams"))?;
            let mut table = Table::new(&["team"]);
            for team in teams.teams {
                table.row(vec![team.name]);
            }
            Ok(Shown::table(table, json))
        }
        TeamCommand::Show { org, team } => {
            let (found, mut json) = client.get::<Team>(&format!("/accounts/{org}/teams/{team}"))?;
            let (names, members_json) = members(client, &org, &team)?;
            json["members"] = members_json["members"].clone();
            let lines = vec![
                ("team", format!("{}/{}", found.org_name, found.name)),
                ("description", found.description),
                ("created", when(found.created_at)),
                ("members", names.join(", ")),
            ];
            Ok(Shown::said(Table::fields(lines), json))
        }
        TeamCommand::Add { org, team, description } => {
            let body = json!({"name": team, "description": description});
            let (created, json) = client.call::<Team>(Method::POST, &format!("/accounts/{org}/teams"), Some(&body))?;
            Ok(Shown::said(format!("team {}/{} created", created.org_name, created.name), json))
        }
        TeamCommand::Delete { org, team } => {
            client.send(Method::DELETE, &format!("/accounts/{org}/teams/{team}"), None::<&()>)?;
            Ok(Shown::said(
                format!("team {org}/{team} deleted, with its memberships and grants"),
                json!({"deleted": format!("{org}/{team}")}),
            ))
        }
        TeamCommand::Member(MemberCommand::List { org, team }) => {
            let (names, json) = members(client, &org, &team)?;
            let mut table = Table::new(&["member"]);
            for name in names {
                table.row(vec![name]);
            }
            Ok(Shown::table(table, json))
        }
        TeamCommand::Member(MemberCommand::Add { org, team, user }) => {
            let (_, json) = client.call::<Done>(Method::PUT, &format!("/accounts/{org}/teams/{team}/members/{user}"), Some(&json!({})))?;
            Ok(Shown::said(format!("{user} is a member of {org}/{team}"), json))
        }
        TeamCommand::Member(MemberCommand::Remove { org, team, user }) => {
            let (_, json) = client.call::<Done>(Method::DELETE, &format!("/accounts/{org}/teams/{team}/members/{user}"), None::<&()>)?;
            Ok(Shown::said(format!("{user} is no longer a member of {org}/{team}"), json))
        }
    }
}
