//! The `berth` command line: `serve` and `join` (run a replica), `config check`,
//! administration commands that call a running server's API (`admin.rs`), and the
//! offline recovery commands, `restore` and `emergency-repair` (`recovery.rs`).
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.

mod admin;
mod config_check;
mod recovery;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::App;
use crate::cluster::transport::HttpsTransport;
use crate::config::{ClusterFileConfig, Config, FileConfig, StorageFileConfig, TlsFileConfig};
use crate::serve::{self, ConnStats, Listener, RouterSlot};
use crate::{http, tls};
use admin::administer;

/// Berth: a self-hosted, trusted container image registry.
#[derive(Parser)]
#[command(name = "berth", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "\
Exit codes: 0 done; 1 a runtime failure (for commands on a running server: it refused or failed, its
error code printed); 2 bad usage or configuration; 3 the server could not be reached.";

#[derive(Subcommand)]
enum Command {
    /// Run the registry.
    Serve(ServeArgs),
    /// Run a new replica that joins an existing cluster (then `serve` restarts it).
    Join(JoinArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the shell completion script: `source <(berth completions bash)`, or into
    /// the shell's completion directory.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Users (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    User {
        #[command(subcommand)]
        command: admin::users::UserCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Organizations (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Org {
        #[command(subcommand)]
        command: admin::orgs::OrgCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Teams and their members (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Team {
        #[command(subcommand)]
        command: admin::teams::TeamCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Team access to a repository (ns/repo) or a whole namespace (ns) (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Grant {
        #[command(subcommand)]
        command: admin::grants::GrantCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Repositories and their settings (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Repo {
        #[command(subcommand)]
        command: admin::repositories::RepoCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Tags and their signatures (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Tag {
        #[command(subcommand)]
        command: admin::tags::TagCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Access tokens (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Token {
        #[command(subcommand)]
        command: admin::tokens::TokenCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Pruning policies: a repository's old tags removed by rules (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Pruning {
        #[command(subcommand)]
        command: admin::pruning::PruningCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Promotion policies: matching pushes copied to another repository (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Promotion {
        #[command(subcommand)]
        command: admin::promotion::PromotionCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Pull-through cache namespaces: an organization serving an upstream registry's images (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Cache {
        #[command(subcommand)]
        command: admin::cache::CacheCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Mirroring policies: pushes sent to, or tags polled from, another registry (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Mirror {
        #[command(subcommand)]
        command: admin::mirroring::MirrorCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Webhooks: events posted to an endpoint, signed (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Webhook {
        #[command(subcommand)]
        command: admin::webhooks::WebhookCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// The audit log: who did what, when, from where (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Events {
        #[command(flatten)]
        args: admin::events::EventsArgs,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Namespace storage quotas (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Quota {
        #[command(subcommand)]
        command: admin::settings::QuotaCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Namespace signing policies (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Signing {
        #[command(subcommand)]
        command: admin::settings::SigningCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// The LDAP directory sync (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Ldap {
        #[command(subcommand)]
        command: admin::ldap::LdapCommand,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// The cluster's members and health (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Status {
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Print a one-time token for `berth join` (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    JoinToken {
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Remove a replica from the cluster (on a running server).
    #[command(after_help = admin::ENVIRONMENT)]
    Remove {
        /// The replica's id (12 hex characters, see `berth status`).
        #[arg(long)]
        replica: String,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Delete the blobs no manifest uses (on a running server, while it serves): shows
    /// progress, then what was freed.
    #[command(after_help = admin::ENVIRONMENT)]
    Gc {
        #[command(flatten)]
        args: admin::cluster::GcArgs,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Write a backup of a running registry to standard output (a tar stream).
    #[command(after_help = admin::ENVIRONMENT)]
    Backup {
        /// Also copy every blob (by default only the metadata).
        #[arg(long)]
        include_blobs: bool,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Restore a backup, read from standard input, into an empty data directory, as a
    /// new one-member cluster (the registry is not running).
    Restore(recovery::RestoreArgs),
    /// Make a stopped replica that survived the loss of a majority the only member of a
    /// new cluster, keeping its data; the other replicas must be wiped and joined again.
    EmergencyRepair(recovery::RepairArgs),
}

#[derive(Args)]
struct JoinArgs {
    /// A replica of the cluster: https://host:port.
    #[arg(long)]
    existing: String,
    /// The token `berth join-token` printed (or BERTH_JOIN_TOKEN).
    #[arg(long, env = "BERTH_JOIN_TOKEN", hide_env_values = true)]
    token: String,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a configuration as `serve` would take it (the file, then BERTH_* variables
    /// and flags): print the effective settings as TOML, secrets redacted, and every
    /// problem, including files it names that are missing or unreadable. Exit code 2 when
    /// `serve` could not start with it.
    Check {
        /// The file (TOML) [default: --config, or ./berth.toml when present].
        file: Option<PathBuf>,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Args, Clone)]
pub(crate) struct ServeArgs {
    /// Configuration file (default: ./berth.toml when it exists).
    #[arg(long, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory for blobs, metadata and generated certificates [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// HTTPS listen address [default: 0.0.0.0:5443].
    #[arg(long, env = "BERTH_HTTPS_LISTEN")]
    https_listen: Option<SocketAddr>,
    /// Also serve plain HTTP on this address.
    #[arg(long, env = "BERTH_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// PEM certificate chain to use instead of the generated one.
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "BERTH_LOG_FORMAT")]
    log_format: Option<String>,
    /// The blob directory [default: <data-dir>/storage]; replicas share one.
    #[arg(long, env = "BERTH_STORAGE_DIR")]
    storage_dir: Option<PathBuf>,
    /// Where blobs live: fs (a directory) or s3 (a bucket) [default: fs].
    #[arg(long, env = "BERTH_STORAGE_KIND")]
    storage_kind: Option<String>,
    /// The S3 bucket (credentials from the standard AWS_* variables or the file).
    #[arg(long, env = "BERTH_S3_BUCKET")]
    s3_bucket: Option<String>,
    /// The S3 endpoint of an S3-compatible server: https://host[:port].
    #[arg(long, env = "BERTH_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// A key prefix inside the S3 bucket.
    #[arg(long, env = "BERTH_S3_PREFIX")]
    s3_prefix: Option<String>,
    /// How the other replicas reach this one: https://host:port.
    #[arg(long, env = "BERTH_ADVERTISE")]
    advertise: Option<String>,
    /// The local address replica traffic leaves from.
    #[arg(long, env = "BERTH_CLUSTER_SOURCE_ADDRESS")]
    cluster_source_address: Option<std::net::IpAddr>,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => run(&args, None),
        Command::Join(args) => match berth_services::cluster::JoinToken::parse(&args.token) {
            Some(token) => run(&args.serve, Some((args.existing.clone(), token))),
            None => {
                eprintln!("berth: --token is not a join token (berth join-token prints one)");
                ExitCode::from(2)
            }
        },
        Command::User { command, connection } => administer(&connection, |c| admin::users::run(c, command)),
        Command::Org { command, connection } => administer(&connection, |c| admin::orgs::run(c, command)),
        Command::Team { command, connection } => administer(&connection, |c| admin::teams::run(c, command)),
        Command::Grant { command, connection } => administer(&connection, |c| admin::grants::run(c, command)),
        Command::Repo { command, connection } => administer(&connection, |c| admin::repositories::run(c, command)),
        Command::Tag { command, connection } => administer(&connection, |c| admin::tags::run(c, command)),
        Command::Token { command, connection } => administer(&connection, |c| admin::tokens::run(c, command)),
        Command::Webhook { command, connection } => administer(&connection, |c| admin::webhooks::run(c, command)),
        Command::Pruning { command, connection } => administer(&connection, |c| admin::pruning::run(c, command)),
        Command::Promotion { command, connection } => administer(&connection, |c| admin::promotion::run(c, command)),
        Command::Mirror { command, connection } => administer(&connection, |c| admin::mirroring::run(c, command)),
        Command::Cache { command, connection } => administer(&connection, |c| admin::cache::run(c, command)),
        Command::Events { args, connection } if args.follow => admin::follow_events(&connection, args),
        Command::Events { args, connection } => administer(&connection, |c| admin::events::list(c, args)),
        Command::Quota { command, connection } => administer(&connection, |c| admin::settings::quota(c, command)),
        Command::Signing { command, connection } => administer(&connection, |c| admin::settings::signing(c, command)),
        Command::Ldap { command, connection } => administer(&connection, |c| admin::ldap::run(c, command)),
        Command::Status { connection } => administer(&connection, admin::cluster::status),
        Command::JoinToken { connection } => administer(&connection, admin::cluster::join_token),
        Command::Remove { replica, connection } => administer(&connection, |c| admin::cluster::remove(c, &replica)),
        Command::Gc { args, connection } => administer(&connection, |c| admin::cluster::gc(c, args)),
        Command::Backup { include_blobs, connection } => administer(&connection, |c| admin::cluster::backup(c, include_blobs)),
        Command::Restore(args) => recovery::restore(&args),
        Command::EmergencyRepair(args) => recovery::emergency_repair(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "berth", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Check { file, serve }) => config_check::check(&serve, file),
    }
}

/// Runs a replica (`serve`, or `join` with the existing replica and the token).
fn run(args: &ServeArgs, join: Option<(String, berth_services::cluster::JoinToken)>) -> ExitCode {
    let config = match load(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("berth: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Held until the server stops: dropping it flushes the log lines still queued.
    let _log_flush = init_logging(config.json_logs);
    let json_logs = config.json_logs;
    match run_serve(config, join) {
        Ok(()) => ExitCode::SUCCESS,
        // One line, in the form the logs take.
        Err(e) if json_logs => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::from(1)
        }
    }
}

pub(crate) fn load(args: &ServeArgs) -> anyhow::Result<Config> {
    resolve(layered(args)?)
}

/// Resolves the layered settings, with the secrets only the environment gives.
pub(crate) fn resolve(layered: FileConfig) -> anyhow::Result<Config> {
    let mut config = layered.resolve()?;
    // Only from the environment: a secret on the command line would show in `ps`.
    config.admin_password = std::env::var("BERTH_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()).map(berth_core::Secret::new);
    config.master_key = std::env::var("BERTH_MASTER_KEY").ok().filter(|k| !k.is_empty()).map(berth_core::Secret::new);
    if let (Some(ldap), Ok(password)) = (config.ldap.as_mut(), std::env::var("BERTH_LDAP_BIND_PASSWORD")) {
        ldap.options.bind_password = berth_core::Secret::new(password);
    }
    Ok(config)
}

/// The configuration file: `--config`, else `./berth.toml` when it exists.
pub(crate) fn config_file(args: &ServeArgs) -> Option<PathBuf> {
    args.config.clone().or_else(|| Path::new("berth.toml").exists().then(|| PathBuf::from("./berth.toml")))
}

/// The configuration file (or none) with the flags and `BERTH_*` variables over it, not
/// yet resolved.
pub(crate) fn layered(args: &ServeArgs) -> anyhow::Result<FileConfig> {
    let file = match config_file(args) {
        Some(path) => FileConfig::load(&path)?,
        None => FileConfig::default(),
    };
    let flags = FileConfig {
        data_dir: args.data_dir.clone(),
        https_listen: args.https_listen,
        http_listen: args.http_listen,
        tls: TlsFileConfig { cert: args.tls_cert.clone(), key: args.tls_key.clone() },
        log_format: args.log_format.clone(),
        storage: StorageFileConfig {
            kind: args.storage_kind.clone(),
            path: args.storage_dir.clone(),
            bucket: args.s3_bucket.clone(),
            endpoint: args.s3_endpoint.clone(),
            prefix: args.s3_prefix.clone(),
            ..StorageFileConfig::default()
        },
        cluster: ClusterFileConfig {
            advertise: args.advertise.clone(),
            write_timeout_secs: None,
            source_address: args.cluster_source_address,
        },
        ..FileConfig::default()
    };
    Ok(file.overlay(flags))
}

/// Lines queued for the log writer thread. The queue's slots are allocated up front, so
/// the default (128,000 lines, ~5 MiB) would be resident for nothing; a few thousand
/// absorb any burst a disk keeps up with.
const LOG_QUEUE_LINES: usize = 4096;

/// Logs to stderr through a writer thread, so a request never waits for the write
/// (an access line per request would otherwise cost a system call each). The queue
/// blocks rather than drops when full: log lines are not lost. Colours only on a
/// terminal.
fn init_logging(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal()).with_writer(writer);
    if json {
        builder.json().init()
    } else {
        builder.init()
    }
    guard
}

/// Threads of the runtime's blocking pool: file reads and writes, fsyncs, metadata commits.
/// Tokio's default (512) let 64 busy clients start 200 threads, each holding its own
/// allocator caches and stack, for no more throughput: the disk serialises their fsyncs
/// anyway. 32 still lets that many uploads sit in a long fsync while pulls read on.
const BLOCKING_THREADS: usize = 32;

fn run_serve(config: Config, join: Option<(String, berth_services::cluster::JoinToken)>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().max_blocking_threads(BLOCKING_THREADS).enable_all().build()?;
    runtime.block_on(serve_until_signal(config, join))
}

/// For `berth join`: obtains this replica's certificate, the CA and the master key from
/// the cluster, into the (empty) data directory; who the replica is.
async fn obtain_membership(
    config: &Config,
    advertise: &str,
    existing: &str,
    token: &berth_services::cluster::JoinToken,
) -> anyhow::Result<berth_services::cluster::Joining> {
    if config.data_dir.join("meta.redb").exists() {
        anyhow::bail!("{} already holds a registry; a replica joins with an empty data directory", config.data_dir.display());
    }
    let replica = berth_services::cluster::new_replica_id();
    let (grant, key) = crate::cluster::join::obtain_grant(existing, token, &replica, advertise).await?;
    berth_services::cluster::install_grant(&config.data_dir, &grant, &key, config.master_key.as_ref())?;
    println!("berth: replica {replica} admitted to cluster {}; catching up", grant.cluster);
    Ok(berth_services::cluster::Joining { replica, cluster: grant.cluster })
}

/// A listener on `address`; when that fails, says so, or that another Berth already runs
/// on `data_dir` when one does (the likelier cause).
async fn bind(address: SocketAddr, data_dir: &Path) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(address).await {
        Ok(listener) => Ok(listener),
        Err(e) => match crate::data_dir::held_by_another(data_dir) {
            Some(in_use) => Err(in_use),
            None => Err(e).with_context(|| format!("listening on {address}")),
        },
    }
}

async fn serve_until_signal(config: Config, join: Option<(String, berth_services::cluster::JoinToken)>) -> anyhow::Result<()> {
    // Before anything is created: the data directory and everything in it stay private.
    crate::data_dir::private_umask();
    // The listeners first: a start that fails on a taken port creates and prints nothing
    // (and names the Berth already running on this data directory, if one is).
    let https = bind(config.https_listen, &config.data_dir).await?;
    let http = match config.http_listen {
        Some(addr) => Some(bind(addr, &config.data_dir).await?),
        None => None,
    };
    let _held = crate::data_dir::take(&config.data_dir)?;
    let mut addresses = vec![https.local_addr()?];
    if let Some(http) = &http {
        addresses.push(http.local_addr()?);
    }
    let advertise = config.advertise_for(addresses[0]);
    let joining = match &join {
        Some((existing, token)) => Some(obtain_membership(&config, &advertise, existing, token).await?),
        None => None,
    };
    let transport = HttpsTransport::new(config.source_address);
    let cluster = berth_services::Cluster::open(berth_services::ClusterOptions {
        data_dir: config.data_dir.clone(),
        master_key: config.master_key.clone(),
        address: advertise,
        transport: Some(transport.clone()),
        joining,
        write_timeout: config.write_timeout,
    })
    .await?;
    let identity = cluster.identity().await?;
    transport.set_identity(tls::replica_client_config(&identity)?);
    let (cert, key) = match &config.tls_files {
        Some((cert, key)) => (cert.clone(), key.clone()),
        None => {
            let generated = tls::ensure_generated(&config.data_dir.join("tls"))?;
            println!("berth: CA certificate at {}", generated.ca_cert.display());
            (generated.cert, generated.key)
        }
    };
    let choice =
        Arc::new(tls::TlsChoice { public: tls::server_config(&cert, &key)?, replica: Some(tls::replica_server_config(&identity)?) });
    println!("berth: listening on https://{}", https.local_addr()?);
    let mut listeners = vec![Listener { tcp: https, tls: Some(choice) }];
    if let Some(http_listener) = http {
        println!("berth: listening on http://{}", http_listener.local_addr()?);
        listeners.push(Listener { tcp: http_listener, tls: None });
    }
    // Replicas are answered at once (a joining one must receive its data); the rest of
    // the registry once its services are built.
    let conns = Arc::new(ConnStats::default());
    let slot = RouterSlot::new(http::internal::starting(cluster.clone()));
    let limits = serve::ConnectionLimits { max_connections: config.max_connections, max_header_size: config.max_header_size };
    let server = tokio::spawn(serve::serve(conns.clone(), slot.clone(), listeners, limits, shutdown_signal()));
    if let Some((existing, _)) = &join {
        cluster.join_via(existing).await?;
        println!("berth: replica {} joined the cluster and votes", cluster.replica_id());
    }
    let (app, generated_password) = App::build(&config, &addresses, cluster.clone(), conns).await?;
    let app = Arc::new(app);
    if let Some(password) = generated_password {
        println!("berth: created the administrator account: user \"admin\", password \"{password}\" (shown once; change it)");
    }
    slot.replace(http::router(app.clone()).merge(http::internal::routes(cluster.clone())));
    println!("berth: replica {} of cluster {} is serving", cluster.replica_id(), cluster.cluster_id());
    tracing::info!(data_dir = %config.data_dir.display(), replica = %cluster.replica_id(), "berth is serving");

    let recovering = (app.clone(), cluster.replica_id());
    tokio::spawn(async move {
        if let Err(e) = recovering.0.registry.recover_gc(&recovering.1, &recovering.0.gc).await {
            tracing::warn!(error = %e, "finishing an interrupted garbage collection");
        }
    });
    let mut jobs = vec![
        tokio::spawn(purge_abandoned_uploads(app.clone(), config.upload_idle_expiry)),
        tokio::spawn(flush_token_uses(app.clone())),
        tokio::spawn(refresh_timestamps(app.clone())),
        tokio::spawn(flush_pulls(app.clone(), config.pull_flush)),
        tokio::spawn(purge_sessions(app.clone())),
        tokio::spawn(app.webhooks.clone().run()),
        tokio::spawn(prune_events(app.clone(), config.events_keep_days, config.events_keep_count)),
    ];
    if let Some(every) = config.gc_interval {
        jobs.push(tokio::spawn(collect_garbage(app.clone(), every)));
    }
    jobs.push(tokio::spawn(run_promotions(app.clone())));
    jobs.push(tokio::spawn(run_mirroring(app.clone())));
    if let Some(every) = config.pruning_interval {
        jobs.push(tokio::spawn(run_pruning_policies(app.clone(), every)));
    }
    if let Some(every) = config.ldap.as_ref().and_then(|l| l.sync_interval) {
        jobs.push(tokio::spawn(sync_directory(app.clone(), every)));
    }
    let _ = server.await;
    jobs.iter().for_each(tokio::task::JoinHandle::abort);
    if let Err(e) = app.auth.flush_token_uses().await {
        tracing::warn!(error = %e, "recording access token uses");
    }
    if let Err(e) = app.registry.flush_pulls().await {
        tracing::warn!(error = %e, "recording pulls");
    }
    cluster.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Purges upload sessions idle for longer than `idle`, checking a few times per period.
async fn purge_abandoned_uploads(app: Arc<App>, idle: std::time::Duration) {
    let period = (idle / 4).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(600));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        // Once per cluster: the storage is shared.
        if !app.cluster.is_leader() {
            continue;
        }
        match app.registry.purge_uploads(idle).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged abandoned uploads"),
            Err(e) => tracing::warn!(error = %e, "purging abandoned uploads"),
        }
    }
}

/// Writes when access tokens were last used, every minute (a login never writes).
async fn flush_token_uses(app: Arc<App>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        ticker.tick().await;
        if let Err(e) = app.auth.flush_token_uses().await {
            tracing::warn!(error = %e, "recording access token uses");
        }
    }
}

/// Writes the pulls counted since the last time (a pull never writes), every `every`.
async fn flush_pulls(app: Arc<App>, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        if let Err(e) = app.registry.flush_pulls().await {
            tracing::warn!(error = %e, "recording pulls");
        }
    }
}

/// Removes the oldest audit events, every minute, once per cluster.
async fn prune_events(app: Arc<App>, keep_days: u64, keep_count: u64) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        ticker.tick().await;
        // Until this replica leads (as at a start), look again each second, not each minute.
        while !app.cluster.is_leader() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        match berth_auth::origin::scope(
            berth_auth::origin::RequestOrigin::job("events-retention"),
            app.registry.prune_events(keep_days, keep_count),
        )
        .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "old audit events removed"),
            Err(e) => tracing::warn!(error = %e, "removing old audit events"),
        }
    }
}

/// Runs every enabled pruning policy, every `every`, once per cluster.
async fn run_pruning_policies(app: Arc<App>, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if !app.cluster.is_leader() {
            continue;
        }
        let run = berth_services::policies::prune(&app.registry, &app.auth);
        match berth_auth::origin::scope(berth_auth::origin::RequestOrigin::job("pruning"), run).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruning policies removed tags"),
            Err(e) => tracing::warn!(error = %e, "running pruning policies"),
        }
    }
}

/// Promotes the pushes and signatures that match promotion policies, each second, on the leader.
async fn run_promotions(app: Arc<App>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !app.cluster.is_leader() {
            continue;
        }
        let run = berth_services::policies::promote(&app.registry, &app.auth);
        match berth_auth::origin::scope(berth_auth::origin::RequestOrigin::job("promotion"), run).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "promotion policies"),
        }
    }
}

/// Pushes to and polls from remote registries for mirroring policies, each second, on the leader.
async fn run_mirroring(app: Arc<App>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !app.cluster.is_leader() {
            continue;
        }
        let origin = || berth_auth::origin::RequestOrigin::job("mirroring");
        if let Err(e) = berth_auth::origin::scope(origin(), app.mirroring.push_step(&app.registry, &app.auth)).await {
            tracing::warn!(error = %e, "push mirroring");
        }
        if let Err(e) = berth_auth::origin::scope(origin(), app.mirroring.poll_step(&app.registry, &app.auth)).await {
            tracing::warn!(error = %e, "poll mirroring");
        }
    }
}

/// Scheduled garbage collection, on the leader (the cluster's lock keeps it to one run).
async fn collect_garbage(app: Arc<App>, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if !app.cluster.is_leader() {
            continue;
        }
        let options = berth_registry::GcOptions {
            grace: app.gc_grace,
            dry_run: false,
            holder: format!("{}/scheduled", app.cluster.replica_id()),
            untagged_older_than: app.gc_untagged_days.map(|days| std::time::Duration::from_secs(days * 86_400)),
        };
        let run = app.registry.collect_garbage(options, &app.gc);
        match berth_auth::origin::scope(berth_auth::origin::RequestOrigin::job("gc"), run).await {
            Ok(_) | Err(berth_registry::Error::GcRunning(_)) => {}
            Err(e) => tracing::warn!(error = %e, "scheduled garbage collection"),
        }
    }
}

/// Forgets expired web UI sessions, hourly, once per cluster.
async fn purge_sessions(app: Arc<App>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        ticker.tick().await;
        if app.cluster.is_leader()
            && let Err(e) = app.auth.purge_sessions().await
        {
            tracing::warn!(error = %e, "purging expired sessions");
        }
    }
}

/// Re-signs the trust timestamps that would expire soon: on the leader, once it leads
/// and every hour after.
async fn refresh_timestamps(app: Arc<App>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut last: Option<std::time::Instant> = None;
    loop {
        ticker.tick().await;
        if !app.cluster.is_leader() || last.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(3600)) {
            continue;
        }
        last = Some(std::time::Instant::now());
        match app.trust.refresh_timestamps().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(refreshed = n, "trust timestamps re-signed"),
            Err(e) => tracing::warn!(error = %e, "refreshing trust timestamps"),
        }
    }
}

/// Syncs accounts and team members from the LDAP directory, at start and every `every`.
async fn sync_directory(app: Arc<App>, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        if !app.cluster.is_leader() {
            continue;
        }
        match berth_auth::origin::scope(berth_auth::origin::RequestOrigin::job("ldap-sync"), app.auth.sync_directory()).await {
            Ok(report) => tracing::info!(
                created = report.users_created,
                updated = report.users_updated,
                deactivated = report.users_deactivated,
                teams = report.teams_synced,
                problems = report.problems.len(),
                "LDAP sync done"
            ),
            Err(e) => tracing::warn!(error = %e, "LDAP sync failed"),
        }
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
