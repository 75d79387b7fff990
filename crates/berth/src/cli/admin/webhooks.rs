//! `berth webhook …`: webhooks of a repository or namespace, their deliveries and tests.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, when, yes_no};
use crate::http::api_v0::model::{DeliveryList, Webhook, WebhookList, WebhookTest};

/// `berth webhook …`
#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Subscribe an endpoint to one type of event; prints the signing secret once.
    Add {
        /// TAG_PUSH, TAG_PULL, TAG_DELETE, MANIFEST_PUSH, MANIFEST_PULL, MANIFEST_DELETE,
        /// REPO_EVENT or SECURITY_EVENT.
        #[arg(value_name = "TYPE")]
        kind: String,
        /// namespace/repository, or namespace for all its repositories.
        key: String,
        /// The http or https URL events are posted to.
        endpoint: String,
        /// A PEM file of certificates the endpoint's must chain to (instead of the system's).
        #[arg(long)]
        tls_cert: Option<std::path::PathBuf>,
        /// Read the signing secret from standard input (else one is made).
        #[arg(long)]
        secret_stdin: bool,
    },
    /// List the webhooks you manage.
    List,
    /// Delete a webhook and its delivery log.
    Remove {
        /// The webhook's id.
        id: String,
    },
    /// A webhook's deliveries, newest first.
    Deliveries {
        /// The webhook's id.
        id: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Post a signed test payload now and show what the endpoint answered.
    Test {
        /// The webhook's id.
        id: String,
    },
    /// Pause a webhook's deliveries.
    Pause {
        /// The webhook's id.
        id: String,
    },
    /// Resume a paused webhook (its failures are forgotten).
    Resume {
        /// The webhook's id.
        id: String,
    },
    /// Queue a delivery again.
    Redeliver {
        /// The webhook's id.
        id: String,
        /// The delivery's id (`berth webhook deliveries`).
        delivery: u64,
    },
}

fn describe(hook: &Webhook) -> String {
    let state = match &hook.paused_reason {
        Some(why) => format!("paused: {why}"),
        None => "active".to_owned(),
    };
    format!("webhook {} ({} on {} → {}), {state}", hook.id, hook.kind, hook.key, hook.endpoint)
}

/// Runs a `berth webhook` command.
pub fn run(client: &Client, command: WebhookCommand) -> Result<Shown, AdminError> {
    match command {
        WebhookCommand::Add { kind, key, endpoint, tls_cert, secret_stdin } => {
            let tls_cert = match tls_cert {
                Some(path) => {
                    Some(std::fs::read_to_string(&path).map_err(|e| AdminError::Usage(format!("reading {}: {e}", path.display())))?)
                }
                None => None,
            };
            let secret = if secret_stdin { Some(super::output::read_password()?) } else { None };
            let body = json!({"type": kind, "key": key, "endpoint": endpoint, "tlsCert": tls_cert, "secret": secret});
            let (created, json) = client.call::<Webhook>(Method::POST, "/webhooks", Some(&body))?;
            let note = format!("{} created; its signing secret is shown only this once", describe(&created));
            Ok(Shown::said(created.secret.clone().unwrap_or_default(), json).with_note(note))
        }
        WebhookCommand::List => {
            let (list, json) = client.get::<WebhookList>("/webhooks")?;
            let mut table = Table::new(&["id", "type", "key", "endpoint", "paused", "failures", "created"]);
            for h in list.webhooks {
                let paused = h.paused_reason.clone().unwrap_or_else(|| yes_no(h.paused));
                table.row(vec![h.id, h.kind, h.key, h.endpoint, paused, h.failures.to_string(), when(h.created_at)]);
            }
            Ok(Shown::table(table, json))
        }
        WebhookCommand::Remove { id } => {
            client.send(Method::DELETE, &format!("/webhooks/{id}"), None::<&()>)?;
            Ok(Shown::said(format!("webhook {id} deleted"), json!({"deleted": id})))
        }
        WebhookCommand::Deliveries { id, limit } => {
            let response =
                client.request(Method::GET, &format!("/webhooks/{id}/deliveries"), &[("limit", limit.to_string())], None::<&()>)?;
            let (list, json) = client.parse::<DeliveryList>(response)?;
            let mut table = Table::new(&["id", "event", "state", "attempts", "status", "took", "last attempt", "error"]);
            for d in list.deliveries {
                table.row(vec![
                    d.id.to_string(),
                    d.event_id.to_string(),
                    d.state,
                    d.attempts.to_string(),
                    d.status.map_or("-".into(), |s| s.to_string()),
                    format!("{} ms", d.duration_ms),
                    d.attempted_at.unwrap_or_else(|| "-".into()),
                    d.error.unwrap_or_default(),
                ]);
            }
            Ok(Shown::table(table, json))
        }
        WebhookCommand::Test { id } => {
            let (result, json) = client.call::<WebhookTest>(Method::POST, &format!("/webhooks/{id}/test"), None::<&()>)?;
            let status = result.status.map_or("no answer".to_owned(), |s| format!("HTTP {s}"));
            let error = result.error.map(|e| format!(": {e}")).unwrap_or_default();
            let verdict = if result.delivered { "delivered" } else { "not delivered" };
            Ok(Shown::said(format!("{verdict} ({status}, {} ms){error}", result.duration_ms), json))
        }
        WebhookCommand::Pause { id } => set_paused(client, &id, true),
        WebhookCommand::Resume { id } => set_paused(client, &id, false),
        WebhookCommand::Redeliver { id, delivery } => {
            client.send(Method::POST, &format!("/webhooks/{id}/deliveries/{delivery}/redeliver"), None::<&()>)?;
            Ok(Shown::said(format!("delivery {delivery} of webhook {id} queued again"), json!({"redelivered": delivery})))
        }
    }
}

fn set_paused(client: &Client, id: &str, paused: bool) -> Result<Shown, AdminError> {
    let (hook, json) = client.call::<Webhook>(Method::PATCH, &format!("/webhooks/{id}"), Some(&json!({"paused": paused})))?;
    Ok(Shown::said(describe(&hook), json))
}
