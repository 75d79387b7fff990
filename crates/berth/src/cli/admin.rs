//! Administration commands that talk to a running server's `/api/v0`: users,
//! organizations, teams, grants and access tokens.
//!
//! The server is `--server` (`BERTH_URL`, default `https://localhost:5443`); the caller
//! is `--user` (`BERTH_USER`, default `admin`) with the password in `BERTH_PASSWORD`
//! (never a flag: it would show in `ps`). A server with Berth's generated certificate
//! is trusted through `--cacert` (`BERTH_CACERT`, default `./berth-data/tls/ca.crt`
//! when it exists). New passwords are read from standard input.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// How to reach the server.
#[derive(Args, Clone)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, env = "BERTH_URL", default_value = "https://localhost:5443", global = true)]
    server: String,
    /// The account to act as.
    #[arg(long = "user", env = "BERTH_USER", default_value = "admin", global = true)]
    acting_user: String,
    /// CA certificate to trust for the server.
    #[arg(long, env = "BERTH_CACERT", global = true)]
    cacert: Option<PathBuf>,
}

/// `berth user …`
#[derive(Subcommand)]
pub enum UserCommand {
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
    /// List accounts.
    List,
    /// Set a user's password, read from standard input.
    Passwd {
        /// The user name.
        name: String,
    },
}

/// `berth org …`
#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Add {
        /// Its name.
        name: String,
    },
}

/// `berth team …`
#[derive(Subcommand)]
pub enum TeamCommand {
    /// Create a team in an organization.
    Add {
        /// The organization.
        org: String,
        /// The team.
        team: String,
    },
    /// Team membership.
    #[command(subcommand)]
    Member(MemberCommand),
}

/// `berth team member …`
#[derive(Subcommand)]
pub enum MemberCommand {
    /// Add a user to a team.
    Add {
        /// The organization.
        org: String,
        /// The team.
        team: String,
        /// The user.
        user: String,
    },
}

/// `berth token …`
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an access token for a user; prints it once.
    Create {
        /// The user.
        user: String,
        /// A name for the token.
        name: String,
        /// Limit to this repository (repeatable).
        #[arg(long = "repository")]
        repositories: Vec<String>,
        /// Limit to this action: pull, push or delete (repeatable).
        #[arg(long = "action")]
        actions: Vec<String>,
        /// Expiry, in seconds since the epoch.
        #[arg(long, conflicts_with = "expires_in")]
        expires_at: Option<u64>,
        /// Expiry from now: 90m, 12h, 30d, 2w.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<u64>,
    },
    /// List a user's tokens.
    List {
        /// The user.
        user: String,
    },
    /// Revoke a token.
    Revoke {
        /// The user.
        user: String,
        /// The token's id.
        id: String,
    },
}

/// An API client for one invocation.
pub struct Client {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// Connects (lazily) to the server described by `connection`.
    pub fn new(connection: &Connection) -> anyhow::Result<Client> {
        let password = std::env::var("BERTH_PASSWORD").context("set BERTH_PASSWORD to the password of --user")?;
        let mut builder = reqwest::Client::builder();
        let cacert = connection.cacert.clone().or_else(|| Some(PathBuf::from("berth-data/tls/ca.crt")).filter(|p| p.exists()));
        if let Some(path) = cacert {
            let pem = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            builder = builder.tls_certs_merge([reqwest::Certificate::from_pem(&pem)?]);
        }
        Ok(Client {
            http: builder.build()?,
            base: connection.server.trim_end_matches('/').to_owned(),
            user: connection.acting_user.clone(),
            password,
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        })
    }

    /// Sends a request; the JSON answer, or the server's error as the failure.
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.runtime.block_on(async {
            let mut request = self.http.request(method, format!("{}/api/v0{path}", self.base)).basic_auth(&self.user, Some(&self.password));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.with_context(|| format!("cannot reach {}", self.base))?;
            let status = response.status();
            let text = response.text().await?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if !status.is_success() {
                let error = &value["errors"][0];
                bail!("{status}: {} ({})", error["message"].as_str().unwrap_or(&text), error["code"].as_str().unwrap_or("?"));
            }
            Ok(value)
        })
    }
}

impl Client {
    /// Streams the body of a GET to `out`, showing progress on standard error.
    fn download(&self, path: &str, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
        use futures_util::StreamExt as _;
        self.runtime.block_on(async {
            let response = self
                .http
                .get(format!("{}/api/v0{path}", self.base))
                .basic_auth(&self.user, Some(&self.password))
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.base))?;
            let status = response.status();
            if !status.is_success() {
                let value: Value = response.json().await.unwrap_or(Value::Null);
                let error = &value["errors"][0];
                bail!("{status}: {} ({})", error["message"].as_str().unwrap_or("no message"), error["code"].as_str().unwrap_or("?"));
            }
            let total = response.content_length();
            let mut body = response.bytes_stream();
            let (mut received, mut shown, started) = (0u64, std::time::Instant::now(), std::time::Instant::now());
            while let Some(chunk) = body.next().await {
                let chunk = chunk.context("the backup stream broke off; the file is incomplete and a restore will refuse it")?;
                out.write_all(&chunk).context("writing the backup")?;
                received += chunk.len() as u64;
                if shown.elapsed() >= std::time::Duration::from_millis(250) {
                    progress(received, total, started.elapsed());
                    shown = std::time::Instant::now();
                }
            }
            out.flush()?;
            progress(received, total, started.elapsed());
            eprintln!();
            if total.is_some_and(|t| t != received) {
                bail!("the backup stream ended after {received} of {} bytes; the file is incomplete", total.unwrap_or(0));
            }
            Ok(received)
        })
    }
}

/// One progress line on standard error, redrawn in place.
fn progress(received: u64, total: Option<u64>, elapsed: std::time::Duration) {
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let rate = mib(received) / elapsed.as_secs_f64().max(0.001);
    match total {
        Some(total) if total > 0 => {
            let percent = received as f64 * 100.0 / total as f64;
            let bar = "#".repeat((percent / 5.0) as usize);
            eprint!("\r[{bar:<20}] {percent:5.1}%  {:.1} / {:.1} MiB  {rate:.1} MiB/s", mib(received), mib(total));
        }
        _ => eprint!("\r{:.1} MiB  {rate:.1} MiB/s", mib(received)),
    }
}

/// `berth join-token`: prints a one-time token for `berth join`.
pub fn join_token(client: &Client) -> anyhow::Result<()> {
    let created = client.call(reqwest::Method::POST, "/meta/join_tokens", Some(json!({})))?;
    println!("{}", created["token"].as_str().unwrap_or_default());
    eprintln!("valid once, for {} seconds: berth join --existing <this replica's URL> --token <token>", created["expiresIn"]);
    Ok(())
}

/// `berth remove --replica ID`.
pub fn remove(client: &Client, replica: &str) -> anyhow::Result<()> {
    client.call(reqwest::Method::DELETE, &format!("/meta/replicas/{replica}"), None)?;
    println!("replica {replica} removed; stop it, and wipe its data directory before it joins again");
    Ok(())
}

/// `berth status`: the cluster's status.
pub fn status(client: &Client) -> anyhow::Result<()> {
    print(&client.call(reqwest::Method::GET, "/meta/cluster_status", None)?);
    Ok(())
}

/// `berth backup [--include-blobs] > file.tar`.
pub fn backup(client: &Client, include_blobs: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    if std::io::stdout().is_terminal() {
        bail!("the backup is a tar stream: redirect it to a file (berth backup > backup.tar)");
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let bytes = client.download(&format!("/meta/backup?includeBlobs={include_blobs}"), &mut out)?;
    eprintln!("backup complete: {bytes} bytes");
    Ok(())
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seconds since the epoch as RFC 3339 (UTC).
fn timestamp(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// A duration as people write it (`90m`, `12h`, `30d`, `2w`, `45s`), in seconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let wrong = || format!("{text:?}: a number and a unit: s, m, h, d or w (as in 30d)");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(wrong)?;
    let (number, unit) = text.split_at(split);
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(wrong()),
    };
    number.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)).filter(|secs| *secs > 0).ok_or_else(wrong)
}

fn read_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let password = text.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

fn print(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// `berth user …`
pub fn user(client: &Client, command: UserCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        UserCommand::Add { name, admin, full_name, email } => {
            let body = json!({"name": name, "password": read_password()?, "isAdmin": admin, "fullName": full_name, "email": email});
            print(&client.call(Method::POST, "/accounts", Some(body))?);
        }
        UserCommand::List => {
            let mut start = String::new();
            loop {
                let page = client.call(Method::GET, &format!("/accounts?limit=1000&start={start}"), None)?;
                let accounts = page["accounts"].as_array().cloned().unwrap_or_default();
                for account in &accounts {
                    let kind = if account["isOrg"] == true {
                        "org"
                    } else if account["isAdmin"] == true {
                        "admin"
                    } else {
                        "user"
                    };
                    println!("{}\t{kind}", account["name"].as_str().unwrap_or_default());
                }
                match accounts.last().and_then(|a| a["name"].as_str()) {
                    Some(last) if accounts.len() == 1000 => start = last.to_owned(),
                    _ => break,
                }
            }
        }
        UserCommand::Passwd { name } => {
            client.call(Method::PATCH, &format!("/accounts/{name}"), Some(json!({"password": read_password()?})))?;
            println!("password of {name} changed");
        }
    }
    Ok(())
}

/// `berth org …`
pub fn org(client: &Client, command: OrgCommand) -> anyhow::Result<()> {
    let OrgCommand::Add { name } = command;
    print(&client.call(reqwest::Method::POST, "/accounts", Some(json!({"name": name, "isOrg": true})))?);
    Ok(())
}

/// `berth team …`
pub fn team(client: &Client, command: TeamCommand) -> anyhow::Result<()> {
    match command {
        TeamCommand::Add { org, team } => {
            print(&client.call(reqwest::Method::POST, &format!("/accounts/{org}/teams"), Some(json!({"name": team})))?)
        }
        TeamCommand::Member(MemberCommand::Add { org, team, user }) => {
            client.call(reqwest::Method::PUT, &format!("/accounts/{org}/teams/{team}/members/{user}"), Some(json!({})))?;
            println!("{user} is a member of {org}/{team}");
        }
    }
    Ok(())
}

/// `berth grant TARGET TEAM LEVEL`: a repository (`ns/repo`) or a whole namespace (`ns`).
pub fn grant(client: &Client, target: &str, team: &str, level: &str) -> anyhow::Result<()> {
    let path = match target.split_once('/') {
        Some((ns, repo)) => format!("/repositories/{ns}/{repo}/teamAccess/{team}"),
        None => format!("/repositoryNamespaces/{target}/teamAccess/{team}"),
    };
    print(&client.call(reqwest::Method::PUT, &path, Some(json!({"accessLevel": level})))?);
    Ok(())
}

/// `berth token …`
pub fn token(client: &Client, command: TokenCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        TokenCommand::Create { user, name, repositories, actions, expires_at, expires_in } => {
            let expires_at = expires_at.or(expires_in.map(|secs| unix_now().saturating_add(secs)));
            let body = json!({"name": name, "repositories": repositories, "actions": actions, "expiresAt": expires_at});
            let created = client.call(Method::POST, &format!("/accounts/{user}/tokens"), Some(body))?;
            println!("{}", created["token"].as_str().unwrap_or_default());
            eprintln!("token {} created; it is shown only this once", created["id"].as_str().unwrap_or_default());
        }
        TokenCommand::List { user } => {
            let listed = client.call(Method::GET, &format!("/accounts/{user}/tokens"), None)?;
            for t in listed["tokens"].as_array().cloned().unwrap_or_default() {
                let list = |field: &str, all: &str| {
                    let items: Vec<&str> = t[field].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    if items.is_empty() { all.to_owned() } else { items.join(",") }
                };
                println!(
                    "{}\t{}\trepositories: {}\tactions: {}\texpires: {}\tlast used: {}",
                    t["id"].as_str().unwrap_or_default(),
                    t["name"].as_str().unwrap_or_default(),
                    list("repositories", "all"),
                    list("actions", "all"),
                    t["expiresAt"].as_u64().map_or("never".to_owned(), timestamp),
                    t["lastUsed"].as_u64().map_or("never".to_owned(), timestamp),
                );
            }
        }
        TokenCommand::Revoke { user, id } => {
            client.call(Method::DELETE, &format!("/accounts/{user}/tokens/{id}"), None)?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// `berth gc [--dry-run] [--grace-seconds N]`: starts a collection, shows its progress on
/// standard error, then prints what it freed.
pub fn gc(client: &Client, dry_run: bool, grace_seconds: Option<u64>, untagged_days: Option<u64>) -> anyhow::Result<()> {
    let request = json!({"dryRun": dry_run, "graceSeconds": grace_seconds, "untaggedOlderThanDays": untagged_days});
    let started = client.call(reqwest::Method::POST, "/gc", Some(request))?;
    let holder = started["holder"].as_str().unwrap_or_default().to_owned();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let status = client.call(reqwest::Method::GET, "/gc", None)?;
        let running = &status["running"];
        if running["holder"] == holder.as_str() {
            let (done, total) = (running["shardsDone"].as_u64().unwrap_or(0), running["shardsTotal"].as_u64().unwrap_or(1).max(1));
            let percent = done as f64 * 100.0 / total as f64;
            let bar = "#".repeat((percent / 5.0) as usize);
            let left = running["etaSeconds"].as_u64().map(|s| format!(", about {s} s left")).unwrap_or_default();
            eprint!(
                "\r[{bar:<20}] {percent:5.1}%  {} blobs examined, {} deleted{left}   ",
                running["blobsExamined"], running["blobsDeleted"]
            );
            continue;
        }
        let last = &status["last"];
        if last["holder"] != holder.as_str() {
            continue;
        }
        eprintln!();
        if let Some(error) = last["error"].as_str() {
            bail!("garbage collection stopped: {error}");
        }
        let freed = last["bytesFreed"].as_u64().unwrap_or(0) as f64 / (1 << 20) as f64;
        let verb = if dry_run { "would delete" } else { "deleted" };
        let manifests = match last["manifestsDeleted"].as_u64() {
            Some(n) if n > 0 => format!(" and {n} untagged manifests"),
            _ => String::new(),
        };
        println!("{verb} {} of {} blobs ({freed:.1} MiB){manifests} in {} s", last["blobsDeleted"], last["blobsExamined"], last["seconds"]);
        return Ok(());
    }
}
