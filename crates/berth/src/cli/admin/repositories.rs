//! `berth repo …`: repositories and their settings.

use clap::Subcommand;
use clap::builder::BoolishValueParser;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{AdminError, Client};
use super::output::{Shown, Table, yes_no};
use crate::http::api_v0::model::{Repository, RepositoryPage};

/// `berth repo …`
#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// List the repositories you may see (of one namespace, or all).
    List {
        /// Only this namespace.
        namespace: Option<String>,
    },
    /// Show a repository's settings.
    Show {
        /// `ns/repo`.
        name: String,
    },
    /// Create a repository (private unless --public).
    Create {
        /// `ns/repo`.
        name: String,
        /// Anyone may pull it, even anonymously.
        #[arg(long)]
        public: bool,
        /// One line about it.
        #[arg(long, default_value = "")]
        description: String,
        /// Tags never move once pushed.
        #[arg(long)]
        immutable_tags: bool,
        /// Pulls by tag must be signed.
        #[arg(long)]
        signed_pulls_only: bool,
    },
    /// Change a repository's settings.
    Change {
        /// `ns/repo`.
        name: String,
        /// public or private.
        #[arg(long, value_parser = ["public", "private"])]
        visibility: Option<String>,
        /// One line about it.
        #[arg(long)]
        description: Option<String>,
        /// Tags never move once pushed: yes or no.
        #[arg(long, value_parser = BoolishValueParser::new())]
        immutable_tags: Option<bool>,
        /// Pulls by tag must be signed: yes or no.
        #[arg(long, value_parser = BoolishValueParser::new())]
        signed_pulls_only: Option<bool>,
        /// The most tags kept (0: no limit); a push past it prunes the oldest that may go.
        #[arg(long)]
        tag_limit: Option<u64>,
    },
    /// Delete a repository and everything in it.
    Delete {
        /// `ns/repo`.
        name: String,
    },
}

/// `ns/repo` split, or a usage error.
pub(super) fn split(name: &str) -> Result<(&str, &str), AdminError> {
    name.split_once('/')
        .filter(|(ns, repo)| !ns.is_empty() && !repo.is_empty())
        .ok_or_else(|| AdminError::Usage(format!("{name:?}: a repository is ns/repo")))
}

fn shown(r: &Repository, json: Value) -> Shown {
    let lines = vec![
        ("repository", format!("{}/{}", r.namespace, r.name)),
        ("visibility", r.visibility.clone()),
        ("description", r.short_description.clone()),
        ("immutable tags", yes_no(r.immutable_tags)),
        ("signed pulls only", yes_no(r.signed_pulls_only)),
        ("signature keys", r.signature_keys.len().to_string()),
        ("tag limit", if r.tag_limit == 0 { "none".to_owned() } else { r.tag_limit.to_string() }),
    ];
    Shown::said(Table::fields(lines), json)
}

/// Runs a `berth repo` command.
pub fn run(client: &Client, command: RepoCommand) -> Result<Shown, AdminError> {
    match command {
        RepoCommand::List { namespace } => {
            let path = namespace.map_or_else(|| "/repositories".to_owned(), |ns| format!("/repositories/{ns}"));
            let items = |page: RepositoryPage| page.repositories.into_iter().filter_map(|r| serde_json::to_value(r).ok()).collect();
            let full_name =
                |r: &Value| format!("{}/{}", r["namespace"].as_str().unwrap_or_default(), r["name"].as_str().unwrap_or_default());
            let all = client.all_pages(&path, items, full_name)?;
            let mut table = Table::new(&["repository", "visibility", "description"]);
            for r in &all {
                table.row(vec![
                    full_name(r),
                    r["visibility"].as_str().unwrap_or_default().into(),
                    r["shortDescription"].as_str().unwrap_or_default().into(),
                ]);
            }
            Ok(Shown::table(table, Value::Array(all)))
        }
        RepoCommand::Show { name } => {
            let (ns, repo) = split(&name)?;
            let (found, json) = client.get::<Repository>(&format!("/repositories/{ns}/{repo}"))?;
            Ok(shown(&found, json))
        }
        RepoCommand::Create { name, public, description, immutable_tags, signed_pulls_only } => {
            let (ns, repo) = split(&name)?;
            let body = json!({
                "name": repo, "visibility": if public { "public" } else { "private" }, "shortDescription": description,
                "immutableTags": immutable_tags, "signedPullsOnly": signed_pulls_only,
            });
            let (created, json) = client.call::<Repository>(Method::POST, &format!("/repositories/{ns}"), Some(&body))?;
            Ok(Shown::said(format!("{} repository {}/{} created", created.visibility, created.namespace, created.name), json))
        }
        RepoCommand::Change { name, visibility, description, immutable_tags, signed_pulls_only, tag_limit } => {
            let (ns, repo) = split(&name)?;
            let body = json!({
                "visibility": visibility, "shortDescription": description, "immutableTags": immutable_tags,
                "signedPullsOnly": signed_pulls_only, "tagLimit": tag_limit,
            });
            let (changed, json) = client.call::<Repository>(Method::PATCH, &format!("/repositories/{ns}/{repo}"), Some(&body))?;
            Ok(shown(&changed, json))
        }
        RepoCommand::Delete { name } => {
            let (ns, repo) = split(&name)?;
            client.send(Method::DELETE, &format!("/repositories/{ns}/{repo}"), None::<&()>)?;
            Ok(Shown::said(format!("repository {name} deleted with everything in it"), json!({"deleted": name})))
        }
    }
}
