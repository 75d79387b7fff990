//! `berth-bench`: the reference workload against one registry, or two alternately in one run
//! (`--compare`), printing each figure, the ratio, the server's CPU per operation and peak RSS.
//!
//! It must not assume the registry is Berth: only the distribution protocol and its token flow.

mod client;
mod process;
mod scenarios;
mod ui;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;

pub use scenarios::{Figure, MANIFEST_TYPE, catalog_image, tags_image};
pub use ui::UI_SCENARIOS;

/// Every scenario, in the order `all` runs them.
pub const SCENARIOS: &[&str] = &[
    "blob_push_large",
    "blob_push_chunked",
    "blob_pull_large",
    "small_push_seq",
    "small_push",
    "manifest_get",
    "tags_list",
    "catalog",
    "mixed",
];

#[derive(Parser, Clone, Debug)]
#[command(name = "berth-bench", about = "Runs the reference registry workload, against one registry or two side by side")]
pub struct Options {
    /// Base URL of the registry, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, env = "BENCH_PASSWORD")]
    pub password: Option<String>,
    /// Send Basic credentials on every request instead of the registry's token flow.
    #[arg(long)]
    pub basic: bool,
    /// PEM file of the CA for HTTPS.
    #[arg(long)]
    pub cacert: Option<std::path::PathBuf>,
    /// The HTTP both registries are spoken to with.
    #[arg(long, value_enum, default_value = "auto")]
    pub http: client::HttpVersion,
    /// The server's process id: its CPU seconds and peak RSS are read from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// A second registry, run alternately with the first for every scenario.
    #[arg(long)]
    pub compare: Option<String>,
    #[arg(long)]
    pub compare_user: Option<String>,
    #[arg(long, env = "BENCH_COMPARE_PASSWORD")]
    pub compare_password: Option<String>,
    #[arg(long)]
    pub compare_basic: bool,
    #[arg(long)]
    pub compare_cacert: Option<std::path::PathBuf>,
    #[arg(long)]
    pub compare_pid: Option<u32>,
    /// Names for the two registries in the output.
    #[arg(long, default_value = "A")]
    pub name: String,
    #[arg(long, default_value = "B")]
    pub compare_name: String,
    /// Scenarios to run (comma-separated or repeated): see `SCENARIOS`, or `all`, or `load`;
    /// Berth's web pages: `UI_SCENARIOS`, or `ui` (one registry only, no `--compare`).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub scenario: Vec<String>,
    /// Size of the large blobs, MiB.
    #[arg(long, default_value_t = 1024)]
    pub blob_mib: usize,
    /// Chunk size of the chunked push, MiB.
    #[arg(long, default_value_t = 16)]
    pub chunk_mib: usize,
    /// Small images per small_push run.
    #[arg(long, default_value_t = 500)]
    pub images: usize,
    /// Concurrent clients of the concurrent push, the mixed workload and setup.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Connections of manifest_get.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds of manifest_get and mixed.
    #[arg(long, default_value_t = 15.0)]
    pub duration: f64,
    #[arg(long, default_value_t = 10_000)]
    pub tags: usize,
    #[arg(long, default_value_t = 1000)]
    pub tags_page: usize,
    #[arg(long, default_value_t = 2000)]
    pub repos: usize,
    #[arg(long, default_value_t = 100)]
    pub catalog_page: usize,
    /// Clients of the `load` scenario (mixed, with memory samples).
    #[arg(long, default_value_t = 64)]
    pub load_clients: usize,
    /// Signed-in clients of the ui scenarios.
    #[arg(long, default_value_t = 4)]
    pub ui_clients: usize,
    /// The tags and catalog fixtures are there already (`berth-seed-registry`): list them
    /// as they are instead of pushing them first.
    #[arg(long)]
    pub seeded: bool,
    /// Repository namespace for everything the run creates.
    #[arg(long, default_value = "bench")]
    pub namespace: String,
    /// Seed of the generated content (change it to push new blobs to a registry that has the old ones).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The whole run is abandoned (with an error) after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub max_seconds: u64,
    /// Writes every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Writes the comparison as a Markdown table to this file.
    #[arg(long)]
    pub markdown: Option<std::path::PathBuf>,
}

/// One registry under test.
struct Target {
    name: String,
    registry: Arc<client::Registry>,
    pid: Option<u32>,
}

/// One scenario's result on one registry.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Measured {
    pub registry: String,
    pub scenario: String,
    pub auth: &'static str,
    pub figure: Figure,
    /// Server CPU seconds spent during the timed part of the scenario (setup excluded).
    pub server_cpu_s: Option<f64>,
    pub server_cpu_ms_per_op: Option<f64>,
    /// Server CPU seconds per GiB moved, for transfers.
    pub server_cpu_s_per_gib: Option<f64>,
    /// Peak RSS during the scenario, MiB.
    pub server_peak_rss_mib: Option<f64>,
    /// RSS samples during the scenario (load only), MiB.
    pub rss_samples_mib: Vec<f64>,
}

/// Parses `args` (the first is the program name) and runs.
pub fn main_with_args<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let opts = Options::try_parse_from(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(opts)).map(|_| ())
}

/// Runs the scenarios of `opts`; prints and returns every result.
pub async fn run(opts: Options) -> anyhow::Result<Vec<Measured>> {
    let limit = Duration::from_secs(opts.max_seconds);
    match tokio::time::timeout(limit, run_unbounded(opts.clone())).await {
        Ok(result) => result,
        Err(_) => bail!("the run took longer than --max-seconds {}", opts.max_seconds),
    }
}

async fn connect(
    url: &str,
    user: &Option<String>,
    password: &Option<String>,
    basic: bool,
    ca: &Option<std::path::PathBuf>,
    http: client::HttpVersion,
) -> anyhow::Result<client::Registry> {
    let ca = match ca {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let creds = match (user, password) {
        (Some(u), Some(p)) => Some((u.as_str(), p.as_str())),
        (Some(u), None) => bail!("--user {u} without a password (--password or BENCH_PASSWORD)"),
        _ => None,
    };
    client::Registry::connect(url, creds, basic, ca.as_deref(), http).await.with_context(|| format!("connecting to {url}"))
}

async fn run_unbounded(opts: Options) -> anyhow::Result<Vec<Measured>> {
    let mut targets = vec![Target {
        name: opts.name.clone(),
        registry: Arc::new(connect(&opts.url, &opts.user, &opts.password, opts.basic, &opts.cacert, opts.http).await?),
        pid: opts.server_pid,
    }];
    if let Some(url) = &opts.compare {
        targets.push(Target {
            name: opts.compare_name.clone(),
            registry: Arc::new(
                connect(url, &opts.compare_user, &opts.compare_password, opts.compare_basic, &opts.compare_cacert, opts.http).await?,
            ),
            pid: opts.compare_pid,
        });
    }
    let mut scenarios = Vec::new();
    for s in &opts.scenario {
        match s.as_str() {
            "all" => scenarios.extend(SCENARIOS.iter().map(|s| (*s).to_owned())),
            "ui" => scenarios.extend(UI_SCENARIOS.iter().map(|s| (*s).to_owned())),
            s if SCENARIOS.contains(&s) || UI_SCENARIOS.contains(&s) || s == "load" => scenarios.push(s.to_owned()),
            other => bail!("unknown scenario {other:?}; known: all, load, ui, {}, {}", SCENARIOS.join(", "), UI_SCENARIOS.join(", ")),
        }
    }
    if targets.len() > 1 && scenarios.iter().any(|s| UI_SCENARIOS.contains(&s.as_str())) {
        bail!("the ui scenarios time Berth's web pages, which no peer has: run them without --compare");
    }
    let mut results = Vec::new();
    for scenario in &scenarios {
        for target in &targets {
            eprintln!("berth-bench: {scenario} on {} ({}) ...", target.name, target.registry.base);
            let measured = measure(scenario, target, &opts)
                .await
                .with_context(|| format!("{scenario} on {} ({})", target.name, target.registry.base))?;
            eprintln!("berth-bench:   {}", line(&measured));
            results.push(measured);
        }
    }
    let table = markdown(&results, &targets.iter().map(|t| t.name.clone()).collect::<Vec<_>>());
    println!("{table}");
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(results)
}

async fn measure(scenario: &str, target: &Target, opts: &Options) -> anyhow::Result<Measured> {
    let reg = target.registry.clone();
    let meter = process::Meter::new(target.pid);
    let sampler = target.pid.filter(|_| scenario == "load").map(process::RssSampler::start);
    let figure = match scenario {
        "blob_push_large" => scenarios::blob_push_large(&reg, opts, &meter).await?,
        "blob_push_chunked" => scenarios::blob_push_chunked(&reg, opts, &meter).await?,
        "blob_pull_large" => scenarios::blob_pull_large(&reg, opts, &meter).await?,
        "small_push_seq" => scenarios::small_push(reg, opts, 1, &meter).await?,
        "small_push" => scenarios::small_push(reg, opts, opts.concurrency, &meter).await?,
        "manifest_get" => scenarios::manifest_get(reg, opts, &meter).await?,
        "tags_list" => scenarios::tags_list(reg, opts, &meter).await?,
        "catalog" => scenarios::catalog(reg, opts, &meter).await?,
        "mixed" => scenarios::mixed(reg, opts, opts.concurrency, &meter).await?,
        "load" => scenarios::mixed(reg, opts, opts.load_clients, &meter).await?,
        ui if UI_SCENARIOS.contains(&ui) => ui::run(ui, reg, opts, &meter).await?,
        other => bail!("unknown scenario {other}"),
    };
    let rss_samples_mib = match sampler {
        Some(s) => s.stop().await,
        None => Vec::new(),
    };
    let after = target.pid.map(process::Sample::read).transpose()?;
    let cpu = meter.started().zip(after).map(|(b, a)| a.cpu_s - b.cpu_s);
    Ok(Measured {
        registry: target.name.clone(),
        scenario: scenario.to_owned(),
        auth: target.registry.auth_kind(),
        server_cpu_ms_per_op: cpu.filter(|_| figure.operations > 0).map(|c| c * 1000.0 / figure.operations as f64),
        server_cpu_s_per_gib: cpu.filter(|_| figure.bytes > 0).map(|c| c * (1u64 << 30) as f64 / figure.bytes as f64),
        server_cpu_s: cpu,
        server_peak_rss_mib: after.map(|a| a.peak_rss_mib),
        rss_samples_mib,
        figure,
    })
}

fn line(m: &Measured) -> String {
    let mut s = format!("{:.2} {} ({})", m.figure.value, m.figure.unit, m.figure.notes);
    if let Some(cpu) = m.server_cpu_s {
        let _ = write!(s, "; server CPU {cpu:.2} s");
    }
    if let Some(per) = m.server_cpu_ms_per_op {
        let _ = write!(s, " = {per:.3} ms/op");
    }
    if let Some(per_gib) = m.server_cpu_s_per_gib {
        let _ = write!(s, " ({per_gib:.2} CPU s/GiB)");
    }
    if let Some(rss) = m.server_peak_rss_mib {
        let _ = write!(s, "; peak RSS {rss:.1} MiB");
    }
    if !m.rss_samples_mib.is_empty() {
        let text: Vec<String> = m.rss_samples_mib.iter().map(|r| format!("{r:.0}")).collect();
        let _ = write!(s, "; RSS samples MiB [{}]", text.join(" "));
    }
    s
}

/// A result's notes, led by the server's CPU seconds per GiB for transfers.
fn notes(m: &Measured) -> String {
    match m.server_cpu_s_per_gib {
        Some(per_gib) if m.figure.notes.is_empty() => format!("{per_gib:.2} CPU s/GiB"),
        Some(per_gib) => format!("{per_gib:.2} CPU s/GiB, {}", m.figure.notes),
        None => m.figure.notes.clone(),
    }
}

/// The results as a Markdown table; with two registries, the ratio is "how many times better the first is".
fn markdown(results: &[Measured], names: &[String]) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".to_owned());
    let mut out = String::new();
    if names.len() == 2 {
        let (a, b) = (&names[0], &names[1]);
        let _ = writeln!(out, "| scenario | {a} | {b} | {a} advantage | CPU ms/op {a} / {b} | peak RSS MiB {a} / {b} | notes ({a}; {b}) |");
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for pair in results.chunks(2) {
            let [x, y] = pair else { continue };
            let ratio = if x.figure.higher_is_better { x.figure.value / y.figure.value } else { y.figure.value / x.figure.value };
            let _ = writeln!(
                out,
                "| {} | {:.2} {} | {:.2} {} | {:.1}× | {} / {} | {} / {} | {}; {} |",
                x.scenario,
                x.figure.value,
                x.figure.unit,
                y.figure.value,
                y.figure.unit,
                ratio,
                opt(x.server_cpu_ms_per_op, 3),
                opt(y.server_cpu_ms_per_op, 3),
                opt(x.server_peak_rss_mib, 0),
                opt(y.server_peak_rss_mib, 0),
                notes(x),
                notes(y)
            );
        }
    } else {
        let _ = writeln!(out, "| scenario | figure | CPU ms/op | peak RSS MiB | notes |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for m in results {
            let _ = writeln!(
                out,
                "| {} | {:.2} {} | {} | {} | {} |",
                m.scenario,
                m.figure.value,
                m.figure.unit,
                opt(m.server_cpu_ms_per_op, 3),
                opt(m.server_peak_rss_mib, 0),
                notes(m)
            );
        }
    }
    out
}
