//! Berth's web pages: the `ui_*` scenarios sign in through the login form (as a browser
//! does) and time list pages over the data of the `tags_list` and `catalog` scenarios
//! (`--tags` tags in one repository, `--repos` repositories), pushed first when missing.
//! No peer serves these pages, so they run on one registry only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use reqwest::{StatusCode, header};

use crate::Options;
use crate::client::Registry;
use crate::process::Meter;
use crate::scenarios::{Figure, catalog_fixture, percentiles, tags_fixture};

/// The UI scenarios, in the order `ui` runs them.
pub const UI_SCENARIOS: &[&str] = &["ui_repositories", "ui_search", "ui_tags", "ui_tags_pushed"];

/// A signed-in browser: a client that follows no redirect, and the session cookie.
struct Browser {
    http: reqwest::Client,
    cookie: String,
}

/// Signs in through `POST /login` with the run's credentials.
async fn sign_in(base: &str, opts: &Options) -> anyhow::Result<Browser> {
    let (Some(user), Some(password)) = (&opts.user, &opts.password) else {
        bail!("the ui scenarios sign in: give --user and --password");
    };
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60));
    if let Some(path) = &opts.cacert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        builder = builder.tls_certs_merge([reqwest::Certificate::from_pem(&pem).context("reading the CA")?]);
    }
    let http = builder.build()?;
    let url = format!("{base}/login");
    // The form first: its CSRF token and the cookie it must come back with.
    let form = http.get(&url).send().await?;
    ensure!(form.status() == StatusCode::OK, "GET {url}: {}", form.status());
    let form_cookie = form
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .with_context(|| format!("GET {url}: no form cookie"))?
        .to_owned();
    let html = form.text().await?;
    let csrf = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .with_context(|| format!("GET {url}: no CSRF token in the form"))?;
    let response = http
        .post(&url)
        .header(header::COOKIE, form_cookie)
        .form(&[("username", user.as_str()), ("password", password.as_str()), ("csrf", csrf)])
        .send()
        .await?;
    ensure!(response.status() == StatusCode::SEE_OTHER, "POST {url}: {} (a wrong password?)", response.status());
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .with_context(|| format!("POST {url}: no session cookie"))?
        .to_owned();
    Ok(Browser { http, cookie })
}

/// The page a scenario times, and a text its answer must contain.
fn page(scenario: &str, opts: &Options) -> anyhow::Result<(String, String)> {
    let ns = &opts.namespace;
    Ok(match scenario {
        // The first page of every repository.
        "ui_repositories" => ("/repositories".into(), "id=\"repositories\"".into()),
        // A search by part of a name (every `catalog` repository matches, up to c09999).
        "ui_search" => ("/repositories?q=c0".into(), format!("{ns}/c0")),
        // The first page of the tags by name.
        "ui_tags" => (format!("/repositories/{ns}/tags"), "t000000".into()),
        // A page in the middle of the tags by push time.
        "ui_tags_pushed" => {
            let middle = (opts.tags / 50 / 2).max(1);
            (format!("/repositories/{ns}/tags?sort=pushed&page={middle}"), "id=\"tags\"".into())
        }
        other => bail!("unknown ui scenario {other}"),
    })
}

/// Runs a `ui_*` scenario: `--ui-clients` signed-in clients load the page for `--duration`
/// seconds; the figure is the 99th percentile of the time to the whole page.
pub async fn run(scenario: &str, reg: Arc<Registry>, opts: &Options, meter: &Meter) -> anyhow::Result<Figure> {
    tags_fixture(&reg, opts, true).await?;
    catalog_fixture(&reg, opts, true).await?;
    let browser = Arc::new(sign_in(&reg.base, opts).await?);
    let (path, expected) = page(scenario, opts)?;
    let url = format!("{}{path}", reg.base);
    let duration = Duration::from_secs_f64(opts.duration);
    meter.start()?;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..opts.ui_clients.max(1) {
        let (browser, url, expected) = (browser.clone(), url.clone(), expected.clone());
        workers.spawn(async move {
            let (mut latencies, mut bytes) = (Vec::<u32>::new(), 0usize);
            while started.elapsed() < duration {
                let t = Instant::now();
                let response = browser.http.get(&url).header(header::COOKIE, &browser.cookie).send().await?;
                let status = response.status();
                let body = response.text().await?;
                latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                ensure!(status == StatusCode::OK && body.contains(&expected), "GET {url}: {status}, {expected:?} not in the page");
                bytes = body.len();
            }
            Ok::<_, anyhow::Error>((latencies, bytes))
        });
    }
    let (mut all, mut page_bytes) = (Vec::new(), 0);
    while let Some(result) = workers.join_next().await {
        let (latencies, bytes) = result??;
        all.extend(latencies);
        page_bytes = bytes;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (p50, p99, max) = percentiles(&mut all);
    Ok(Figure {
        value: p99,
        unit: "ms p99",
        higher_is_better: false,
        operations: all.len() as u64,
        notes: format!(
            "GET {path}: {} clients, {:.0} pages/s, p50 {p50:.2} ms, max {max:.1} ms, {} KiB; {} tags, {} repositories",
            opts.ui_clients,
            all.len() as f64 / elapsed,
            page_bytes / 1024,
            opts.tags,
            opts.repos
        ),
        bytes: 0,
    })
}
