//! `berth tag …`: a repository's tags with their content-trust state.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, yes_no};
use super::repositories::split;
use crate::http::api_v0::model::{Tag, TagTrust};

/// `berth tag …`
#[derive(Subcommand, Debug)]
pub enum TagCommand {
    /// List a repository's tags.
    List {
        /// `ns/repo`.
        repository: String,
    },
    /// Show a tag: its digest and who signed it.
    Show {
        /// `ns/repo:tag`.
        tag: String,
    },
    /// Delete a tag (refused while it is signed, or when the repository's tags are immutable).
    Delete {
        /// `ns/repo:tag`.
        tag: String,
    },
}

/// `ns/repo:tag` as its repository path and tag.
fn split_tag(text: &str) -> Result<(String, String), AdminError> {
    let (repository, tag) = text.rsplit_once(':').ok_or_else(|| AdminError::Usage(format!("{text:?}: a tag is ns/repo:tag")))?;
    let (ns, repo) = split(repository)?;
    Ok((format!("/repositories/{ns}/{repo}/tags/{tag}"), tag.to_owned()))
}

/// Runs a `berth tag` command.
pub fn run(client: &Client, command: TagCommand) -> Result<Shown, AdminError> {
    match command {
        TagCommand::List { repository } => {
            let (ns, repo) = split(&repository)?;
            let (tags, json) = client.get::<Vec<Tag>>(&format!("/repositories/{ns}/{repo}/tags"))?;
            let mut table = Table::new(&["tag", "digest", "signed"]);
            for tag in tags {
                let signed = if tag.hash_mismatch { "for another digest".to_owned() } else { yes_no(tag.in_notary) };
                table.row(vec![tag.name, tag.digest.unwrap_or_default(), signed]);
            }
            Ok(Shown::table(table, json))
        }
        TagCommand::Show { tag } => {
            let (path, _) = split_tag(&tag)?;
            let (trust, json) = client.get::<TagTrust>(&format!("{path}/trust"))?;
            let signers: Vec<String> = trust.signers.iter().map(|s| format!("{} ({})", s.name, s.role)).collect();
            let mut lines = vec![("tag", tag.clone()), ("digest", trust.digest.unwrap_or_default()), ("signed", yes_no(trust.in_notary))];
            if trust.in_notary {
                lines.push(("signed digest", trust.signed_digest.unwrap_or_default()));
                lines.push(("signers", signers.join(", ")));
            }
            if trust.hash_mismatch {
                lines.push(("warning", "the tag points at another manifest than the one signed".into()));
            }
            Ok(Shown::said(Table::fields(lines), json))
        }
        TagCommand::Delete { tag } => {
            let (path, _) = split_tag(&tag)?;
            client.send(Method::DELETE, &path, None::<&()>)?;
            Ok(Shown::said(format!("tag {tag} deleted"), json!({"deleted": tag})))
        }
    }
}
