//! `berth events`: the audit log, filtered, newest first; `--follow` prints new events
//! as they come, oldest first.

use reqwest::Method;

use super::client::{AdminError, Client};
use super::output::{Shown, Table};
use crate::http::api_v0::model::{Event, EventList};

/// `berth events` filters.
#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Only this repository's events (namespace/repository).
    #[arg(long)]
    repository: Option<String>,
    /// Only what this user did (`--user` is who asks).
    #[arg(long = "by", value_name = "USER")]
    user: Option<String>,
    /// Only of this type (TAG_PUSH, TAG_PULL, REPO_CREATED, ACCOUNT_UPDATE, …).
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Only at or after this time (RFC 3339, or seconds since the epoch).
    #[arg(long)]
    since: Option<String>,
    /// Only at or before this time.
    #[arg(long)]
    until: Option<String>,
    /// At most this many (without --follow).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Keep printing new events as they come (until interrupted).
    #[arg(long)]
    pub follow: bool,
}

impl EventsArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let given =
            [("repository", &self.repository), ("user", &self.user), ("type", &self.kind), ("since", &self.since), ("until", &self.until)];
        given.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))).collect()
    }
}

fn cells(e: &Event) -> Vec<String> {
    let who = match (&e.user, &e.job) {
        (Some(user), _) => user.clone(),
        (None, Some(job)) => format!("({job})"),
        (None, None) => "(anonymous)".to_owned(),
    };
    let what = [e.repository.clone(), e.object.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let count = if e.count > 1 { format!(" ×{}", e.count) } else { String::new() };
    vec![
        e.id.to_string(),
        e.created_at.clone(),
        format!("{}{count}", e.kind),
        who,
        e.source_address.clone().unwrap_or_default(),
        what,
        e.digest.clone().unwrap_or_default(),
        e.result.clone(),
    ]
}

const HEADER: &[&str] = &["id", "time", "type", "who", "from", "what", "digest", "result"];

/// Runs `berth events` (without `--follow`).
pub fn list(client: &Client, args: EventsArgs) -> Result<Shown, AdminError> {
    let mut query = args.query();
    query.push(("limit", args.limit.clamp(1, 1000).to_string()));
    let response = client.request(Method::GET, "/events", &query, None::<&()>)?;
    let (list, json) = client.parse::<EventList>(response)?;
    let mut table = Table::new(HEADER);
    for e in &list.events {
        table.row(cells(e));
    }
    Ok(Shown::table(table, json))
}

/// Runs `berth events --follow`: the latest events, then every new one, one line each
/// (one JSON object per line with `--json`), until interrupted.
pub fn follow(client: &Client, args: EventsArgs, json: bool) -> Result<(), AdminError> {
    let print = |e: &Event| {
        if json {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        } else {
            println!("{}", cells(e).join("  "));
        }
    };
    let mut query = args.query();
    query.push(("limit", args.limit.clamp(1, 1000).to_string()));
    let response = client.request(Method::GET, "/events", &query, None::<&()>)?;
    let (first, _) = client.parse::<EventList>(response)?;
    let mut last = first.events.first().map_or(0, |e| e.id);
    first.events.iter().rev().for_each(print);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(2));
        // Everything after `last`, page by page (newest first), then printed oldest first.
        let (mut fresh, mut before) = (Vec::new(), None::<u64>);
        loop {
            let mut query = args.query();
            query.push(("after", last.to_string()));
            query.push(("limit", "1000".to_owned()));
            if let Some(before) = before {
                query.push(("before", before.to_string()));
            }
            let response = client.request(Method::GET, "/events", &query, None::<&()>)?;
            let more = response.headers().get(reqwest::header::LINK).is_some();
            let (page, _) = client.parse::<EventList>(response)?;
            before = page.events.last().map(|e| e.id);
            fresh.extend(page.events);
            if !more || before.is_none() {
                break;
            }
        }
        if let Some(newest) = fresh.first() {
            last = newest.id;
        }
        fresh.iter().rev().for_each(print);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
}
