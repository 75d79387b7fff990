//! `berth org …`: organizations (system administrators create and delete them).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{AdminError, Client};
use super::output::{Shown, Table};
use crate::http::api_v0::model::{Account, TeamList};

/// `berth org …`
#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// List organizations.
    List,
    /// Show an organization and its teams.
    Show {
        /// The organization.
        name: String,
    },
    /// Create an organization (with its `owners` team).
    Add {
        /// Its name, which is also its namespace.
        name: String,
        /// Display name.
        #[arg(long, default_value = "")]
        full_name: String,
    },
    /// Delete an organization and its teams (refused while repositories live in its namespace).
    Delete {
        /// The organization.
        name: String,
    },
}

/// Runs a `berth org` command.
pub fn run(client: &Client, command: OrgCommand) -> Result<Shown, AdminError> {
    match command {
        OrgCommand::List => {
            let orgs: Vec<Value> = super::users::accounts(client)?.into_iter().filter(|a| a["isOrg"] == true).collect();
            let mut table = Table::new(&["name", "full name"]);
            for org in &orgs {
                table.row(vec![org["name"].as_str().unwrap_or_default().into(), org["fullName"].as_str().unwrap_or_default().into()]);
            }
            Ok(Shown::table(table, Value::Array(orgs)))
        }
        OrgCommand::Show { name } => {
            let (account, mut json) = client.get::<Account>(&format!("/accounts/{name}"))?;
            if !account.is_org {
                return Err(AdminError::Usage(format!("{name} is a user, not an organization (berth user show {name})")));
            }
            let (teams, teams_json) = client.get::<TeamList>(&format!("/accounts/{name}/teams"))?;
            json["teams"] = teams_json["teams"].clone();
            let names: Vec<String> = teams.teams.into_iter().map(|t| t.name).collect();
            let lines = vec![("name", account.name), ("full name", account.full_name), ("teams", names.join(", "))];
            Ok(Shown::said(Table::fields(lines), json))
        }
        OrgCommand::Add { name, full_name } => {
            let body = json!({"name": name, "isOrg": true, "fullName": full_name});
            let (account, json) = client.call::<Account>(Method::POST, "/accounts", Some(&body))?;
            Ok(Shown::said(format!("organization {} created, with its owners team", account.name), json))
        }
        OrgCommand::Delete { name } => {
            let (account, _) = client.get::<Account>(&format!("/accounts/{name}"))?;
            if !account.is_org {
                return Err(AdminError::Usage(format!("{name} is a user, not an organization (berth user delete {name})")));
            }
            client.send(Method::DELETE, &format!("/accounts/{name}"), None::<&()>)?;
            Ok(Shown::said(format!("organization {name} deleted"), json!({"deleted": name})))
        }
    }
}
