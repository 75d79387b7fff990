//! Namespace settings: `berth quota …` (storage quotas, system administrators) and
//! `berth signing …` (a namespace's signing policy, its owners).

use std::path::PathBuf;

use clap::Subcommand;
use clap::builder::BoolishValueParser;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, parse_size, size, yes_no};
use crate::http::api_v0::model::Quota;
use crate::http::api_v0::signing::SigningPolicy;

/// `berth quota …`
#[derive(Subcommand, Debug)]
pub enum QuotaCommand {
    /// A namespace's quota and the bytes its images use.
    Show {
        /// A user or organization.
        namespace: String,
    },
    /// Set a namespace's quota (pushes past it are refused), or remove it with `none`.
    Set {
        /// A user or organization.
        namespace: String,
        /// 500MB, 10GiB, 2TB, a number of bytes, or none.
        limit: String,
    },
}

/// `berth signing …`
#[derive(Subcommand, Debug)]
pub enum SigningCommand {
    /// A namespace's signing policy.
    Show {
        /// A user or organization.
        namespace: String,
    },
    /// Set a namespace's signing policy.
    Set {
        /// A user or organization.
        namespace: String,
        /// Pulls by tag must be signed (Docker Content Trust, or cosign/notation with a key): yes or no.
        #[arg(long, action = clap::ArgAction::Set, value_parser = BoolishValueParser::new())]
        signed_pulls_only: bool,
        /// A PEM public key file whose cosign or notation signatures count (repeatable; replaces the keys).
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
    },
}

fn quota_shown(quota: &Quota, json: serde_json::Value) -> Shown {
    let lines = vec![
        ("namespace", quota.namespace.clone()),
        ("limit", quota.limit_bytes.map_or_else(|| "none".to_owned(), size)),
        ("used", size(quota.used_bytes)),
    ];
    Shown::said(Table::fields(lines), json)
}

fn policy_shown(namespace: &str, policy: &SigningPolicy, json: serde_json::Value) -> Shown {
    let lines = vec![
        ("namespace", namespace.to_owned()),
        ("signed pulls only", yes_no(policy.signed_pulls_only)),
        ("signature keys", policy.signature_keys.len().to_string()),
    ];
    Shown::said(Table::fields(lines), json)
}

/// Runs a `berth quota` command.
pub fn quota(client: &Client, command: QuotaCommand) -> Result<Shown, AdminError> {
    match command {
        QuotaCommand::Show { namespace } => {
            let (quota, json) = client.get::<Quota>(&format!("/accounts/{namespace}/quota"))?;
            Ok(quota_shown(&quota, json))
        }
        QuotaCommand::Set { namespace, limit } => {
            let limit = if limit == "none" { None } else { Some(parse_size(&limit).map_err(AdminError::Usage)?) };
            let body = json!({"limitBytes": limit});
            let (quota, json) = client.call::<Quota>(Method::PUT, &format!("/accounts/{namespace}/quota"), Some(&body))?;
            Ok(quota_shown(&quota, json))
        }
    }
}

/// Runs a `berth signing` command.
pub fn signing(client: &Client, command: SigningCommand) -> Result<Shown, AdminError> {
    match command {
        SigningCommand::Show { namespace } => {
            let (policy, json) = client.get::<SigningPolicy>(&format!("/repositoryNamespaces/{namespace}/signingPolicy"))?;
            Ok(policy_shown(&namespace, &policy, json))
        }
        SigningCommand::Set { namespace, signed_pulls_only, keys } => {
            let mut signature_keys = Vec::new();
            for file in keys {
                let pem = std::fs::read_to_string(&file).map_err(|e| AdminError::Usage(format!("reading {}: {e}", file.display())))?;
                signature_keys.push(pem);
            }
            let body = SigningPolicy { signed_pulls_only, signature_keys };
            let path = format!("/repositoryNamespaces/{namespace}/signingPolicy");
            let (policy, json) = client.call::<SigningPolicy>(Method::PUT, &path, Some(&body))?;
            Ok(policy_shown(&namespace, &policy, json))
        }
    }
}
