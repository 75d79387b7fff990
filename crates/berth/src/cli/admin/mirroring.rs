//! `berth mirror …`: a repository's push and poll mirroring policies.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{AdminError, Client};
use super::output::{Shown, Table, read_password, yes_no};
use super::pruning::rule;
use super::repositories::split;
use crate::http::api_v0::model::MirrorPolicy;

/// The remote side of a mirroring policy.
#[derive(Args, Debug)]
pub struct RemoteArgs {
    /// The remote registry: https://host[:port] (or http://).
    #[arg(long)]
    remote: String,
    /// The repository there.
    #[arg(long)]
    remote_repository: String,
    /// The user to log in to the remote as; the password (or token) is read from standard input.
    #[arg(long)]
    username: Option<String>,
    /// A PEM file of the certificates the remote's must chain to.
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
    /// `FIELD OPERATOR VALUE…`, e.g. `tag sw v` (push also: `signed eq true`, `label eq KEY=VALUE`).
    #[arg(long = "rule")]
    rules: Vec<String>,
    /// Store it without it acting.
    #[arg(long)]
    disabled: bool,
}

/// `berth mirror …`
#[derive(Subcommand, Debug)]
pub enum MirrorCommand {
    /// Push mirroring: later pushes (or signatures) of matching tags of REPOSITORY are pushed to the remote.
    Push {
        /// `ns/repo`.
        repository: String,
        #[command(flatten)]
        remote: RemoteArgs,
        /// The tag made at the remote: {tag}, {digest} (12 hex digits), {date}, {time}.
        #[arg(long, default_value = "{tag}")]
        tag_template: String,
    },
    /// Poll mirroring: the remote repository's matching tags are pulled into REPOSITORY on a schedule.
    Poll {
        /// `ns/repo` (it must exist).
        repository: String,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Seconds between two polls.
        #[arg(long, default_value_t = 300)]
        every: u64,
    },
    /// List a repository's mirroring policies, with their status.
    List {
        /// `ns/repo`.
        repository: String,
    },
    /// Delete a mirroring policy.
    Remove {
        /// `ns/repo`.
        repository: String,
        /// The policy's id.
        id: String,
    },
}

const KINDS: [(&str, &str); 2] = [("push", "pushMirroringPolicies"), ("poll", "pollMirroringPolicies")];

impl RemoteArgs {
    fn body(self, extra: Value) -> Result<Value, AdminError> {
        let rules = self.rules.iter().map(|r| rule(r)).collect::<Result<Vec<_>, _>>()?;
        let mut body =
            json!({"enabled": !self.disabled, "rules": rules, "remoteHost": self.remote, "remoteRepository": self.remote_repository});
        if let Some(username) = self.username {
            body["remoteCredentials"] = json!({"username": username, "password": read_password()?});
        }
        if let Some(path) = self.ca_file {
            let pem = std::fs::read_to_string(&path).map_err(|e| AdminError::Usage(format!("--ca-file {}: {e}", path.display())))?;
            body["remoteCA"] = json!(pem);
        }
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        Ok(body)
    }
}

fn add(client: &Client, repository: &str, kind: usize, body: Value) -> Result<Shown, AdminError> {
    let (ns, repo) = split(repository)?;
    let (name, path) = KINDS[kind];
    let (created, json) = client.call::<MirrorPolicy>(Method::POST, &format!("/repositories/{ns}/{repo}/{path}"), Some(&body))?;
    let said =
        format!("{name} mirroring policy {} of {repository} created: {}/{}", created.id, created.remote_host, created.remote_repository);
    Ok(Shown::said(said, json))
}

/// Runs a `berth mirror` command.
pub fn run(client: &Client, command: MirrorCommand) -> Result<Shown, AdminError> {
    match command {
        MirrorCommand::Push { repository, remote, tag_template } => {
            add(client, &repository, 0, remote.body(json!({"tagTemplate": tag_template}))?)
        }
        MirrorCommand::Poll { repository, remote, every } => add(client, &repository, 1, remote.body(json!({"pollEverySecs": every}))?),
        MirrorCommand::List { repository } => {
            let (ns, repo) = split(&repository)?;
            let mut table = Table::new(&["id", "direction", "enabled", "remote", "status", "last"]);
            let mut all = serde_json::Map::new();
            for (name, path) in KINDS {
                let (list, json) = client.get::<Vec<MirrorPolicy>>(&format!("/repositories/{ns}/{repo}/{path}"))?;
                for p in &list {
                    let last = p
                        .log
                        .first()
                        .map_or_else(|| "-".to_owned(), |l| format!("{} {} {}", l.at, l.tag, l.error.as_deref().unwrap_or("done")));
                    let remote = format!("{}/{}", p.remote_host, p.remote_repository);
                    table.row(vec![p.id.clone(), name.to_owned(), yes_no(p.enabled), remote, p.status.clone(), last]);
                }
                all.insert(name.to_owned(), json);
            }
            Ok(Shown::table(table, Value::Object(all)))
        }
        MirrorCommand::Remove { repository, id } => {
            let (ns, repo) = split(&repository)?;
            for (name, path) in KINDS {
                let found = client.get::<Value>(&format!("/repositories/{ns}/{repo}/{path}/{id}")).is_ok();
                if found {
                    client.send(Method::DELETE, &format!("/repositories/{ns}/{repo}/{path}/{id}"), None::<&()>)?;
                    return Ok(Shown::said(format!("{name} mirroring policy {id} of {repository} deleted"), json!({"deleted": id})));
                }
            }
            Err(AdminError::Usage(format!("{repository} has no mirroring policy {id}")))
        }
    }
}
