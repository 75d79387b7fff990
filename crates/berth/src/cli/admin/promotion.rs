//! `berth promotion …`: a repository's promotion policies.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, when, yes_no};
use super::pruning::rule;
use super::repositories::split;
use crate::http::api_v0::model::PromotionPolicy;

/// `berth promotion …`
#[derive(Subcommand, Debug)]
pub enum PromotionCommand {
    /// Add a promotion policy: later pushes (or signatures) of tags matching every --rule
    /// are copied to --target.
    Add {
        /// `ns/repo` promoted from.
        repository: String,
        /// `ns/repo` promoted to.
        #[arg(long)]
        target: String,
        /// The tag made there: {tag}, {digest} (12 hex digits), {date} (YYYYMMDD), {time} (HHMMSS).
        #[arg(long, default_value = "{tag}")]
        tag_template: String,
        /// `FIELD OPERATOR VALUE…`: `tag eq|neq|sw|ew|contains NAME…`, `tag matches REGEX`,
        /// `signed eq true`, `label eq KEY=VALUE`, `label exists KEY`, `annotation eq KEY=VALUE`.
        #[arg(long = "rule", required = true)]
        rules: Vec<String>,
        /// Store it without it acting.
        #[arg(long)]
        disabled: bool,
    },
    /// List a repository's promotion policies, with their last promotion.
    List {
        /// `ns/repo`.
        repository: String,
    },
    /// Delete a promotion policy.
    Remove {
        /// `ns/repo`.
        repository: String,
        /// The policy's id.
        id: String,
    },
}

fn rules_text(policy: &PromotionPolicy) -> String {
    let rules: Vec<String> = policy.rules.iter().map(|r| format!("{} {} {}", r.field, r.operator, r.values.join(" "))).collect();
    rules.join("; ")
}

/// Runs a `berth promotion` command.
pub fn run(client: &Client, command: PromotionCommand) -> Result<Shown, AdminError> {
    match command {
        PromotionCommand::Add { repository, target, tag_template, rules, disabled } => {
            let (ns, repo) = split(&repository)?;
            let rules = rules.iter().map(|r| rule(r)).collect::<Result<Vec<_>, _>>()?;
            let body = json!({"enabled": !disabled, "rules": rules, "targetRepository": target, "tagTemplate": tag_template});
            let path = format!("/repositories/{ns}/{repo}/promotionPolicies");
            let (created, json) = client.call::<PromotionPolicy>(Method::POST, &path, Some(&body))?;
            let said = format!(
                "promotion policy {} of {repository} created: {} → {}:{}",
                created.id,
                rules_text(&created),
                created.target_repository,
                created.tag_template
            );
            Ok(Shown::said(said, json))
        }
        PromotionCommand::List { repository } => {
            let (ns, repo) = split(&repository)?;
            let (list, json) = client.get::<Vec<PromotionPolicy>>(&format!("/repositories/{ns}/{repo}/promotionPolicies"))?;
            let mut table = Table::new(&["id", "enabled", "rules", "target", "last promotion", "result"]);
            for p in &list {
                let (last, result) = match &p.last_promotion {
                    Some(l) => (format!("{} {} → {}", when(l.at), l.tag, l.target_tag), l.error.clone().unwrap_or_else(|| "done".into())),
                    None => ("-".into(), "-".into()),
                };
                table.row(vec![
                    p.id.clone(),
                    yes_no(p.enabled),
                    rules_text(p),
                    format!("{}:{}", p.target_repository, p.tag_template),
                    last,
                    result,
                ]);
            }
            Ok(Shown::table(table, json))
        }
        PromotionCommand::Remove { repository, id } => {
            let (ns, repo) = split(&repository)?;
            client.send(Method::DELETE, &format!("/repositories/{ns}/{repo}/promotionPolicies/{id}"), None::<&()>)?;
            Ok(Shown::said(format!("promotion policy {id} of {repository} deleted"), json!({"deleted": id})))
        }
    }
}
