//! The system page (system administrators): the cluster, and the LDAP directory's sync.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::format::time;
use super::repositories::NoticeQuery;
use super::{Chrome, UiError, Viewer, after_form, render};
use crate::app::AppState;

struct MemberLine {
    id: String,
    address: String,
    state: String,
    term: u64,
    applied: String,
    lag: String,
}

struct GcLine {
    when: String,
    summary: String,
}

struct SyncLine {
    finished: String,
    summary: String,
    problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage {
    chrome: Chrome,
    replica: String,
    quorum: bool,
    members: Vec<MemberLine>,
    ldap: Vec<(&'static str, String)>,
    sync: Option<SyncLine>,
    gc_running: Option<String>,
    gc_last: Option<GcLine>,
}

/// `GET /system`.
pub async fn page(State(app): State<AppState>, viewer: Viewer, Query(query): Query<NoticeQuery>) -> Result<Response, UiError> {
    app.auth.require_administrator(&viewer.subject)?;
    let status = app.cluster.status(&viewer.subject).await?;
    let members = status
        .members
        .into_iter()
        .map(|m| MemberLine {
            state: if m.leader { "leader".to_owned() } else { m.state },
            applied: m.applied_index.map_or_else(|| "—".to_owned(), |i| i.to_string()),
            lag: m.lag.map_or_else(|| "—".to_owned(), |l| l.to_string()),
            id: m.id,
            address: m.address,
            term: m.term,
        })
        .collect();
    let ldap = app.auth.directory_settings(&viewer.subject)?.map(directory_lines).unwrap_or_default();
    let sync = if !ldap.is_empty() {
        app.auth.last_sync(&viewer.subject).await?.map(|r| SyncLine {
            finished: time(Some(r.finished_at)),
            summary: format!(
                "{} directory users; {} created, {} updated, {} deactivated; {} teams synced",
                r.directory_users, r.users_created, r.users_updated, r.users_deactivated, r.teams_synced
            ),
            problems: r.problems,
        })
    } else {
        None
    };
    let (last, lock) = app.registry.gc_status().await?;
    let gc_running = match (app.gc.current(), lock) {
        (Some(p), _) => Some(format!(
            "{} of {} storage shards, {} blobs examined, {} deleted{}",
            p.shards_done,
            berth_registry::GC_SHARDS,
            p.run.examined,
            p.run.deleted,
            p.eta_secs.map(|s| format!(", about {s} s left")).unwrap_or_default()
        )),
        (None, Some(lock)) => Some(format!("on replica {}", lock.holder.split('/').next().unwrap_or_default())),
        (None, None) => None,
    };
    let gc_last = last.map(|r| GcLine {
        when: time(Some(r.started_at)),
        summary: match &r.error {
            Some(error) => format!("stopped: {error}"),
            None => format!(
                "{} {} of {} blobs ({}) and {} untagged manifests in {} s",
                if r.dry_run { "would delete" } else { "deleted" },
                r.deleted,
                r.examined,
                super::format::size(r.bytes_freed),
                r.manifests_deleted,
                r.finished_at.saturating_sub(r.started_at)
            ),
        },
    });
    Ok(render(&SystemPage {
        gc_running,
        gc_last,
        chrome: viewer.chrome().with_notice(query.notice.as_deref()),
        replica: status.replica,
        quorum: status.quorum,
        members,
        ldap,
        sync,
    }))
}

/// The directory's settings as the page lists them (never the bind password).
fn directory_lines(o: berth_auth::identity::LdapOptions) -> Vec<(&'static str, String)> {
    let or_none = |text: String| if text.is_empty() { "(none)".to_owned() } else { text };
    vec![
        ("Server", o.url),
        ("StartTLS", if o.start_tls { "yes" } else { "no" }.to_owned()),
        ("Trusted CA", if o.ca_pem.is_some() { "the configured certificates" } else { "the system's roots" }.to_owned()),
        ("Search account", if o.bind_dn.is_empty() { "(anonymous bind)".to_owned() } else { o.bind_dn }),
        ("User base DN", or_none(o.user_base_dn)),
        ("User filter", or_none(o.user_filter)),
        ("Search scope", if o.user_subtree { "subtree" } else { "one level" }.to_owned()),
        ("Login attribute", o.login_attribute),
        ("Name and e-mail attributes", format!("{}, {}", o.full_name_attribute, o.email_attribute)),
        ("Timeout", format!("{} s", o.timeout.as_secs())),
    ]
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /system/ldap-sync`: runs the directory sync now.
pub async fn sync(State(app): State<AppState>, viewer: Viewer, Form(form): Form<CsrfForm>) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    app.auth.sync_directory_for(&viewer.subject).await?;
    Ok(after_form("/system", "synced"))
}

/// `POST /system/gc`: starts a garbage collection with the configured settings.
pub async fn collect(State(app): State<AppState>, viewer: Viewer, Form(form): Form<CsrfForm>) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    app.auth.require_administrator(&viewer.subject)?;
    app.start_gc(false, None, None).await?;
    Ok(after_form("/system", "gc-started"))
}
