//! `berth user …`: users (system administrators manage them; a user changes their own
//! name, e-mail and password).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{AdminError, Client};
use super::output::{Shown, Table, read_password, yes_no};
use crate::http::api_v0::model::{Account, AccountPage};

/// `berth user …`
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// List users.
    List,
    /// Show a user.
    Show {
        /// The user.
        name: String,
    },
    /// Create a user; the password is read from standard input.
    Add {
        /// The user name.
        name: String,
        /// Make the user a system administrator.
        #[arg(long)]
        admin: bool,
        /// Display name.
        #[arg(long, default_value = "")]
        full_name: String,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
    },
    /// Change a user's details, role or state.
    Change {
        /// The user.
        name: String,
        /// Display name.
        #[arg(long)]
        full_name: Option<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// System administrator or not: yes or no.
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        admin: Option<bool>,
        /// May sign in or not: yes or no (no ends every session and token use at once).
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        active: Option<bool>,
    },
    /// Set a user's password, read from standard input.
    Passwd {
        /// The user.
        name: String,
    },
    /// Delete a user, their memberships and their tokens (refused while repositories live
    /// in their namespace).
    Delete {
        /// The user.
        name: String,
    },
}

fn shown(account: &Account, json: Value) -> Shown {
    let role = if account.is_admin { "system administrator" } else { "user" };
    let lines = vec![
        ("name", account.name.clone()),
        ("full name", account.full_name.clone()),
        ("e-mail", account.email.clone()),
        ("role", role.to_owned()),
        ("active", yes_no(account.is_active)),
    ];
    Shown::said(Table::fields(lines), json)
}

/// Every account, users and organizations.
pub(super) fn accounts(client: &Client) -> Result<Vec<Value>, AdminError> {
    client.all_pages(
        "/accounts",
        |page: AccountPage| page.accounts.into_iter().filter_map(|a| serde_json::to_value(a).ok()).collect(),
        |a| a["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Runs a `berth user` command.
pub fn run(client: &Client, command: UserCommand) -> Result<Shown, AdminError> {
    match command {
        UserCommand::List => {
            let users: Vec<Value> = accounts(client)?.into_iter().filter(|a| a["isOrg"] != true).collect();
            let mut table = Table::new(&["name", "full name", "role", "active"]);
            for user in &users {
                let account: Account = serde_json::from_value(user.clone()).map_err(anyhow::Error::from)?;
                let role = if account.is_admin { "admin" } else { "user" };
                table.row(vec![account.name, account.full_name, role.into(), yes_no(account.is_active)]);
            }
            Ok(Shown::table(table, Value::Array(users)))
        }
        UserCommand::Show { name } => {
            let (account, json) = client.get::<Account>(&format!("/accounts/{name}"))?;
            Ok(shown(&account, json))
        }
        UserCommand::Add { name, admin, full_name, email } => {
            let body = json!({"name": name, "password": read_password()?, "isAdmin": admin, "fullName": full_name, "email": email});
            let (account, json) = client.call::<Account>(Method::POST, "/accounts", Some(&body))?;
            Ok(Shown::said(format!("user {} created", account.name), json))
        }
        UserCommand::Change { name, full_name, email, admin, active } => {
            let body = json!({"fullName": full_name, "email": email, "isAdmin": admin, "isActive": active});
            let (account, json) = client.call::<Account>(Method::PATCH, &format!("/accounts/{name}"), Some(&body))?;
            Ok(shown(&account, json))
        }
        UserCommand::Passwd { name } => {
            let body = json!({"password": read_password()?});
            let (_, json) = client.call::<Account>(Method::PATCH, &format!("/accounts/{name}"), Some(&body))?;
            Ok(Shown::said(format!("password of {name} changed; their sessions and derived tokens ended"), json))
        }
        UserCommand::Delete { name } => {
            let (account, _) = client.get::<Account>(&format!("/accounts/{name}"))?;
            if account.is_org {
                return Err(AdminError::Usage(format!("{name} is an organization, not a user (berth org delete {name})")));
            }
            client.send(Method::DELETE, &format!("/accounts/{name}"), None::<&()>)?;
            Ok(Shown::said(format!("user {name} deleted"), json!({"deleted": name})))
        }
    }
}
