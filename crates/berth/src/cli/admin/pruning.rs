//! `berth pruning …`: a repository's pruning policies, and running them.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{AdminError, Client};
use super::output::{Shown, Table, when, yes_no};
use super::repositories::split;
use crate::http::api_v0::model::{PruningPolicy, PruningResult};

/// `berth pruning …`
#[derive(Subcommand, Debug)]
pub enum PruningCommand {
    /// Add a pruning policy: tags matching every --rule go, but for the newest --keep-newest.
    Add {
        /// `ns/repo`.
        repository: String,
        /// `FIELD OPERATOR VALUE…`: `tag eq|neq|sw|ew|contains NAME…`, `tag matches REGEX`,
        /// `pushed olderThan 30d`, `pulled olderThan 2w` (units s, m, h, d, w). Repeat for more.
        #[arg(long = "rule", required = true)]
        rules: Vec<String>,
        /// Of the matching tags, the newest this many stay.
        #[arg(long, default_value_t = 0)]
        keep_newest: u64,
        /// Tags signed in the trust data may go too.
        #[arg(long)]
        prune_signed: bool,
        /// Tags of a repository whose tags are immutable may go too.
        #[arg(long)]
        prune_immutable: bool,
        /// Store it without scheduling it (runs only with `berth pruning run`).
        #[arg(long)]
        disabled: bool,
        /// Run it once at once.
        #[arg(long)]
        run: bool,
    },
    /// List a repository's pruning policies.
    List {
        /// `ns/repo`.
        repository: String,
    },
    /// Run a policy now; --dry-run lists what would go, removing nothing.
    Run {
        /// `ns/repo`.
        repository: String,
        /// The policy's id.
        id: String,
        /// Remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a pruning policy.
    Remove {
        /// `ns/repo`.
        repository: String,
        /// The policy's id.
        id: String,
    },
}

/// `FIELD OPERATOR VALUE…` as the API's rule; a regular expression is one value, spaces and all.
pub(super) fn rule(text: &str) -> Result<Value, AdminError> {
    let usage =
        || AdminError::Usage(format!("--rule {text:?}: write FIELD OPERATOR VALUE, e.g. \"tag sw dev-\" or \"pushed olderThan 30d\""));
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let (Some(field), Some(operator), Some(rest)) = (parts.next(), parts.next(), parts.next()) else { return Err(usage()) };
    let rest = rest.trim();
    let values: Vec<&str> = if operator == "matches" { vec![rest] } else { rest.split_whitespace().collect() };
    if values.is_empty() || values[0].is_empty() {
        return Err(usage());
    }
    Ok(json!({"field": field, "operator": operator, "values": values}))
}

fn rules_text(policy: &PruningPolicy) -> String {
    let rules: Vec<String> = policy.rules.iter().map(|r| format!("{} {} {}", r.field, r.operator, r.values.join(" "))).collect();
    rules.join("; ")
}

/// Runs a `berth pruning` command.
pub fn run(client: &Client, command: PruningCommand) -> Result<Shown, AdminError> {
    match command {
        PruningCommand::Add { repository, rules, keep_newest, prune_signed, prune_immutable, disabled, run } => {
            let (ns, repo) = split(&repository)?;
            let rules = rules.iter().map(|r| rule(r)).collect::<Result<Vec<_>, _>>()?;
            let body = json!({
                "enabled": !disabled, "rules": rules, "keepNewest": keep_newest,
                "pruneSigned": prune_signed, "pruneImmutable": prune_immutable,
            });
            let path = format!("/repositories/{ns}/{repo}/pruningPolicies");
            let response = client.request(Method::POST, &path, &[("initialEvaluation", run.to_string())], Some(&body))?;
            let (created, json) = client.parse::<PruningPolicy>(response)?;
            let mut said = format!("pruning policy {} of {repository} created: {}", created.id, rules_text(&created));
            if let Some(last) = &created.last_run {
                said.push_str(&format!("; its first run removed {} tags", last.pruned));
            }
            Ok(Shown::said(said, json))
        }
        PruningCommand::List { repository } => {
            let (ns, repo) = split(&repository)?;
            let (list, json) = client.get::<Vec<PruningPolicy>>(&format!("/repositories/{ns}/{repo}/pruningPolicies"))?;
            let mut table = Table::new(&["id", "enabled", "rules", "keep newest", "signed", "immutable", "last run", "pruned"]);
            for p in &list {
                table.row(vec![
                    p.id.clone(),
                    yes_no(p.enabled),
                    rules_text(p),
                    p.keep_newest.to_string(),
                    yes_no(p.prune_signed),
                    yes_no(p.prune_immutable),
                    p.last_run.as_ref().map_or("-".into(), |r| when(r.at)),
                    p.last_run.as_ref().map_or("-".into(), |r| r.pruned.to_string()),
                ]);
            }
            Ok(Shown::table(table, json))
        }
        PruningCommand::Run { repository, id, dry_run } => {
            let (ns, repo) = split(&repository)?;
            let path = format!("/repositories/{ns}/{repo}/pruningPolicies/{id}/run");
            let response = client.request(Method::POST, &path, &[("dryRun", dry_run.to_string())], None::<&()>)?;
            let (result, json) = client.parse::<PruningResult>(response)?;
            let mut table = Table::new(&["tag", "digest"]);
            for t in &result.tags {
                table.row(vec![t.name.clone(), t.digest.clone()]);
            }
            let verb = if dry_run { "would remove" } else { "removed" };
            let note = format!("pruning policy {id} {verb} {} tags of {repository}", result.tags.len());
            Ok(Shown::table(table, json).with_note(note))
        }
        PruningCommand::Remove { repository, id } => {
            let (ns, repo) = split(&repository)?;
            client.send(Method::DELETE, &format!("/repositories/{ns}/{repo}/pruningPolicies/{id}"), None::<&()>)?;
            Ok(Shown::said(format!("pruning policy {id} of {repository} deleted"), json!({"deleted": id})))
        }
    }
}
