//! The `berth` command line: `serve`, `config check`, and administration commands
//! that call a running server's API (`admin.rs`).
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.

mod admin;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::{Config, FileConfig, TlsFileConfig};
use crate::serve::{self, Listener};
use crate::{http, tls};

/// Berth: a self-hosted, trusted container image registry.
#[derive(Parser)]
#[command(name = "berth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: admin::Connection,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry.
    Serve(ServeArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Users (on a running server).
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Organizations (on a running server).
    #[command(subcommand)]
    Org(admin::OrgCommand),
    /// Teams and their members (on a running server).
    #[command(subcommand)]
    Team(admin::TeamCommand),
    /// Give a team access to a repository (ns/repo) or a whole namespace (ns).
    Grant {
        /// `ns/repo` or `ns`.
        target: String,
        /// A team of the namespace's organization.
        team: String,
        /// read-only, read-write or admin.
        level: String,
    },
    /// Access tokens (on a running server).
    #[command(subcommand)]
    Token(admin::TokenCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check that a configuration file is valid, and print the effective settings.
    Check {
        /// The file (TOML).
        file: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
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
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match load(&args) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("berth: {e:#}");
                    return ExitCode::from(2);
                }
            };
            // Held until the server stops: dropping it flushes the log lines still queued.
            let _log_flush = init_logging(config.json_logs);
            match run_serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("berth: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::User(command) => administer(&cli.connection, |c| admin::user(c, command)),
        Command::Org(command) => administer(&cli.connection, |c| admin::org(c, command)),
        Command::Team(command) => administer(&cli.connection, |c| admin::team(c, command)),
        Command::Grant { target, team, level } => administer(&cli.connection, |c| admin::grant(c, &target, &team, &level)),
        Command::Token(command) => administer(&cli.connection, |c| admin::token(c, command)),
        Command::Config(ConfigCommand::Check { file }) => match FileConfig::load(&file).and_then(FileConfig::resolve) {
            Ok(config) => {
                println!("{}: OK", file.display());
                println!("{config:#?}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("berth: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Runs an administration command; errors go to standard error with exit code 1.
fn administer(connection: &admin::Connection, run: impl FnOnce(&admin::Client) -> anyhow::Result<()>) -> ExitCode {
    match admin::Client::new(connection).and_then(|client| run(&client)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load(args: &ServeArgs) -> anyhow::Result<Config> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None if Path::new("berth.toml").exists() => FileConfig::load(Path::new("berth.toml"))?,
        None => FileConfig::default(),
    };
    let flags = FileConfig {
        data_dir: args.data_dir.clone(),
        https_listen: args.https_listen,
        http_listen: args.http_listen,
        tls: TlsFileConfig { cert: args.tls_cert.clone(), key: args.tls_key.clone() },
        log_format: args.log_format.clone(),
        ..FileConfig::default()
    };
    let mut config = file.overlay(flags).resolve()?;
    // Only from the environment: a secret on the command line would show in `ps`.
    config.admin_password = std::env::var("BERTH_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()).map(berth_core::Secret::new);
    config.master_key = std::env::var("BERTH_MASTER_KEY").ok().filter(|k| !k.is_empty()).map(berth_core::Secret::new);
    if let (Some(ldap), Ok(password)) = (config.ldap.as_mut(), std::env::var("BERTH_LDAP_BIND_PASSWORD")) {
        ldap.options.bind_password = berth_core::Secret::new(password);
    }
    Ok(config)
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

fn run_serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve_until_signal(config))
}

async fn serve_until_signal(config: Config) -> anyhow::Result<()> {
    // Before anything is created: the data directory and everything in it stay private.
    crate::data_dir::private_umask();
    let https = TcpListener::bind(config.https_listen).await.with_context(|| format!("listening on {}", config.https_listen))?;
    let http = match config.http_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?),
        None => None,
    };
    let mut addresses = vec![https.local_addr()?];
    if let Some(http) = &http {
        addresses.push(http.local_addr()?);
    }
    let (app, generated_password) = App::build(&config, &addresses).await?;
    let app = Arc::new(app);
    if let Some(password) = generated_password {
        println!("berth: created the administrator account: user \"admin\", password \"{password}\" (shown once; change it)");
    }
    let (cert, key) = match &config.tls_files {
        Some((cert, key)) => (cert.clone(), key.clone()),
        None => {
            let generated = tls::ensure_generated(&config.data_dir.join("tls"))?;
            println!("berth: CA certificate at {}", generated.ca_cert.display());
            (generated.cert, generated.key)
        }
    };
    let tls_config = tls::server_config(&cert, &key)?;
    println!("berth: listening on https://{}", https.local_addr()?);
    let router = http::router(app.clone());
    let mut listeners = vec![Listener {
        tcp: https,
        tls: Some(tokio_rustls::TlsAcceptor::from(tls_config)),
        router: router.clone().layer(axum::Extension(http::auth::Https(true))),
    }];
    if let Some(http_listener) = http {
        println!("berth: listening on http://{}", http_listener.local_addr()?);
        listeners.push(Listener { tcp: http_listener, tls: None, router: router.layer(axum::Extension(http::auth::Https(false))) });
    }
    tracing::info!(data_dir = %config.data_dir.display(), "berth is serving");

    let mut jobs = vec![
        tokio::spawn(purge_abandoned_uploads(app.clone(), config.upload_idle_expiry)),
        tokio::spawn(flush_token_uses(app.clone())),
        tokio::spawn(refresh_timestamps(app.clone())),
    ];
    if let Some(every) = config.ldap.as_ref().and_then(|l| l.sync_interval) {
        jobs.push(tokio::spawn(sync_directory(app.clone(), every)));
    }
    let limits = serve::ConnectionLimits { max_connections: config.max_connections, max_header_size: config.max_header_size };
    serve::serve(app.conns.clone(), listeners, limits, shutdown_signal()).await;
    jobs.iter().for_each(tokio::task::JoinHandle::abort);
    if let Err(e) = app.auth.flush_token_uses().await {
        tracing::warn!(error = %e, "recording access token uses");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Purges upload sessions idle for longer than `idle`, checking a few times per period.
async fn purge_abandoned_uploads(app: Arc<App>, idle: std::time::Duration) {
    let period = (idle / 4).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(600));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
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

/// Re-signs the trust timestamps that would expire soon, every hour (they are refreshed
/// at start too, before anything is served).
async fn refresh_timestamps(app: Arc<App>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(3600));
    ticker.tick().await;
    loop {
        ticker.tick().await;
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
        match app.auth.sync_directory().await {
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
