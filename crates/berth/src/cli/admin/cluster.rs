//! The registry as a whole (system administrators): `berth status`, `join-token`,
//! `remove`, `gc` and `backup`.

use clap::Args;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, size};
use crate::http::api_v0::model::{ClusterStatus, GcStarted, GcStatus, JoinToken};

/// `berth gc` options.
#[derive(Args, Debug)]
pub struct GcArgs {
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep blobs written or linked this recently, seconds (default: the server's
    /// `gc.grace_secs`).
    #[arg(long)]
    grace_seconds: Option<u64>,
    /// Also delete manifests no tag, index or artifact names, pushed this many days ago
    /// (default: the server's `gc.untagged_days`, else keep them).
    #[arg(long)]
    untagged_older_than_days: Option<u64>,
}

/// `berth status`: the replicas and their health.
pub fn status(client: &Client) -> Result<Shown, AdminError> {
    let (status, json) = client.get::<ClusterStatus>("/meta/cluster_status")?;
    let mut table = Table::new(&["replica", "address", "state", "health", "term", "applied", "lag"]);
    let number = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    for m in &status.members {
        let health = status.replica_health.get(&m.id).cloned().unwrap_or_default();
        table.row(vec![
            m.id.clone(),
            m.address.clone(),
            m.state.clone(),
            health,
            m.term.to_string(),
            number(m.applied_index),
            number(m.lag),
        ]);
    }
    let quorum = if status.quorum { "with a quorum" } else { "WITHOUT a quorum: writes are refused" };
    let human =
        format!("cluster {}, answered by {} ({quorum})\n{}", status.cluster, status.replica, Shown::table(table, json.clone()).human);
    Ok(Shown::said(human, json))
}

/// `berth join-token`: a one-time token for `berth join`.
pub fn join_token(client: &Client) -> Result<Shown, AdminError> {
    let (created, json) = client.call::<JoinToken>(Method::POST, "/meta/join_tokens", Some(&json!({})))?;
    let note = format!("valid once, for {} seconds: berth join --existing <this replica's URL> --token <token>", created.expires_in);
    Ok(Shown::said(created.token, json).with_note(note))
}

/// `berth remove --replica ID`.
pub fn remove(client: &Client, replica: &str) -> Result<Shown, AdminError> {
    client.send(Method::DELETE, &format!("/meta/replicas/{replica}"), None::<&()>)?;
    let said = format!("replica {replica} removed; stop it, and wipe its data directory before it joins again");
    Ok(Shown::said(said, json!({"removed": replica})))
}

/// `berth backup [--include-blobs] > file.tar`.
pub fn backup(client: &Client, include_blobs: bool) -> Result<Shown, AdminError> {
    use std::io::IsTerminal as _;
    if std::io::stdout().is_terminal() {
        return Err(AdminError::Usage("the backup is a tar stream: redirect it to a file (berth backup > backup.tar)".into()));
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let bytes = client.download("/meta/backup", &[("includeBlobs", include_blobs.to_string())], &mut out)?;
    // Standard output carries the backup: the report goes to standard error only, even
    // with --json.
    Ok(Shown { json: serde_json::Value::Null, human: String::new(), note: Some(format!("backup complete: {bytes} bytes")) })
}

/// `berth gc`: starts a collection, shows its progress on standard error, then what it freed.
pub fn gc(client: &Client, args: GcArgs) -> Result<Shown, AdminError> {
    let request =
        json!({"dryRun": args.dry_run, "graceSeconds": args.grace_seconds, "untaggedOlderThanDays": args.untagged_older_than_days});
    let (started, _) = client.call::<GcStarted>(Method::POST, "/gc", Some(&request))?;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let (status, json) = client.get::<GcStatus>("/gc")?;
        if let Some(running) = status.running.filter(|r| r.holder == started.holder) {
            let (done, total) = (running.shards_done.unwrap_or(0), running.shards_total.unwrap_or(1).max(1));
            let percent = done as f64 * 100.0 / total as f64;
            let bar = "#".repeat((percent / 5.0) as usize);
            let left = running.eta_seconds.map(|s| format!(", about {s} s left")).unwrap_or_default();
            let (examined, deleted) = (running.blobs_examined.unwrap_or(0), running.blobs_deleted.unwrap_or(0));
            eprint!("\r[{bar:<20}] {percent:5.1}%  {examined} blobs examined, {deleted} deleted{left}   ");
            continue;
        }
        let Some(last) = status.last.filter(|l| l.holder == started.holder) else { continue };
        eprintln!();
        if let Some(error) = &last.error {
            return Err(anyhow::anyhow!("garbage collection stopped: {error}").into());
        }
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        let figure = |n: Option<u64>| n.unwrap_or(0);
        let manifests = match figure(last.manifests_deleted) {
            0 => String::new(),
            n => format!(" and {n} untagged manifests"),
        };
        let (deleted, examined) = (figure(last.blobs_deleted), figure(last.blobs_examined));
        let human =
            format!("{verb} {deleted} of {examined} blobs ({}){manifests} in {} s", size(figure(last.bytes_freed)), figure(last.seconds));
        return Ok(Shown::said(human, json["last"].clone()));
    }
}
