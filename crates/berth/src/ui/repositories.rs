//! Repositories: the list and search, a repository's tag table, one tag, and the settings.

use askama::Template;
use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_auth::{Action, Level, RepositoryQuery};
use berth_core::RepositoryName;
use berth_registry::views::{TagDetail, TagRow, TagSort};
use serde::Deserialize;

use super::format::{short_digest, size, time};
use super::{Chrome, UiError, Viewer, after_form, render};
use crate::app::AppState;
use crate::http::auth::Authority;

/// Rows per page.
const PER_PAGE: usize = 50;

/// A page of a list: its number, how many, and the links to its neighbours.
struct Pager {
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
}

/// Pages `total` rows, `PER_PAGE` at a time; `link(n)` is page `n`'s URL.
fn pager(page: usize, total: usize, link: impl Fn(usize) -> String) -> Pager {
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    Pager { page, pages, prev: (page > 1).then(|| link(page - 1)), next: (page < pages).then(|| link(page + 1)) }
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn repository(ns: &str, repo: &str) -> Result<RepositoryName, UiError> {
    format!("{ns}/{repo}").parse().map_err(|_| UiError::not_found())
}

/// Refuses what the viewer may not do; a repository they may not read does not exist.
async fn require(app: &AppState, viewer: &Viewer, name: &RepositoryName, action: Action) -> Result<(), UiError> {
    if app.auth.may(&viewer.subject, name.as_str(), action).await? {
        return Ok(());
    }
    if action == Action::Pull || !app.auth.may(&viewer.subject, name.as_str(), Action::Pull).await? {
        return Err(UiError::not_found());
    }
    Err(UiError::page(StatusCode::FORBIDDEN, "You may not do this in this repository."))
}

/// The host clients pull from: the external URL's, or the one this page was asked for.
fn pull_host(app: &AppState, asked: Option<Extension<Authority>>) -> String {
    if let Some(url) = &app.external_url {
        return url.authority.clone();
    }
    asked.and_then(|Extension(Authority(a))| a).unwrap_or_else(|| "registry.example.com".into())
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    visibility: String,
    page: Option<usize>,
    notice: Option<String>,
}

struct RepositoryLine {
    name: String,
    visibility: &'static str,
    tags: usize,
    description: String,
}

#[derive(Template)]
#[template(path = "repositories.html")]
struct RepositoriesPage {
    chrome: Chrome,
    q: String,
    namespace: String,
    visibility: String,
    total: usize,
    rows: Vec<RepositoryLine>,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
    namespaces: Vec<String>,
}

/// The namespaces the viewer may want to create repositories in: their own, their
/// organizations' (every organization, for an administrator); the check is made when
/// the form is sent.
async fn namespaces(app: &AppState, viewer: &Viewer) -> Result<Vec<String>, UiError> {
    let mut found: Vec<String> = viewer.subject.name().map(str::to_owned).into_iter().collect();
    if let Some(user) = &viewer.subject.user {
        found.extend(user.teams.iter().map(|(org, _)| org.clone()));
    }
    if viewer.subject.is_admin() {
        let accounts = app.auth.accounts(&viewer.subject).await?;
        found.extend(accounts.into_iter().filter(|(_, a)| a.kind == berth_auth::AccountKind::Org).map(|(name, _)| name));
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `GET /repositories`: the repositories the viewer may read, searched and filtered.
pub async fn list(State(app): State<AppState>, viewer: Viewer, Query(query): Query<ListQuery>) -> Result<Response, UiError> {
    let public = match query.visibility.as_str() {
        "public" => Some(true),
        "private" => Some(false),
        _ => None,
    };
    let search =
        RepositoryQuery { text: query.q.clone(), namespace: Some(query.namespace.trim().to_owned()).filter(|n| !n.is_empty()), public };
    let names = app.auth.find_repositories(&viewer.subject, search).await?;
    let total = names.len();
    let base =
        format!("/repositories?q={}&namespace={}&visibility={}", encode(&query.q), encode(&query.namespace), encode(&query.visibility));
    let pager = pager(query.page.unwrap_or(1), total, |n| format!("{base}&page={n}"));
    let shown: Vec<String> = names.into_iter().skip((pager.page - 1) * PER_PAGE).take(PER_PAGE).collect();
    let rows = app
        .registry
        .repository_rows(shown)
        .await?
        .into_iter()
        .map(|r| RepositoryLine {
            visibility: if r.record.public { "public" } else { "private" },
            tags: r.tags,
            description: r.record.short_description,
            name: r.name,
        })
        .collect();
    let mut chrome = viewer.chrome().with_notice(query.notice.as_deref());
    chrome.query = query.q.clone();
    Ok(render(&RepositoriesPage {
        namespaces: namespaces(&app, &viewer).await?,
        chrome,
        q: query.q,
        namespace: query.namespace,
        visibility: query.visibility,
        total,
        rows,
        page: pager.page,
        pages: pager.pages,
        prev: pager.prev,
        next: pager.next,
    }))
}

#[derive(Deserialize)]
pub struct NewRepositoryForm {
    #[serde(default)]
    csrf: String,
    namespace: String,
    name: String,
    #[serde(default)]
    description: String,
    public: Option<String>,
}

/// `POST /repositories`: creates a repository where the viewer may push.
pub async fn create(State(app): State<AppState>, viewer: Viewer, Form(form): Form<NewRepositoryForm>) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let name: RepositoryName = format!("{}/{}", form.namespace, form.name)
        .parse()
        .map_err(|e| UiError::page(StatusCode::BAD_REQUEST, format!("That is not a repository name: {e}")))?;
    if form.name.contains('/') || !app.auth.may(&viewer.subject, name.as_str(), Action::Push).await? {
        return Err(UiError::page(StatusCode::FORBIDDEN, format!("You may not create repositories in {}.", form.namespace)));
    }
    let spec = berth_registry::NewRepository {
        public: form.public.is_some(),
        immutable_tags: false,
        short_description: form.description,
        long_description: String::new(),
        signed_pulls_only: false,
    };
    app.registry.create_repository(&name, spec).await?;
    Ok(after_form(&format!("/repositories/{name}"), "created"))
}

/// A tag table row, formatted.
struct TagLine {
    name: String,
    digest: String,
    short_digest: String,
    size: String,
    platforms: Vec<String>,
    pushed: String,
    last_pulled: String,
    signed: Vec<String>,
    hash_mismatch: bool,
    /// Other artifacts that refer to it (SBOMs, attestations), by type.
    accessories: Vec<String>,
}

/// The signed badges: Notary, then OCI signatures.
fn signed_badges(row: &TagRow) -> Vec<String> {
    let mut badges = Vec::new();
    if row.in_notary {
        badges.push("Notary".to_owned());
    }
    badges.extend(row.signatures.iter().cloned());
    badges
}

fn pushed(at: u64, by: Option<&str>) -> String {
    match by {
        Some(by) => format!("{} by {by}", time(Some(at))),
        None => time(Some(at)),
    }
}

fn line(row: TagRow) -> TagLine {
    TagLine {
        short_digest: short_digest(&row.digest),
        size: size(row.size),
        pushed: pushed(row.pushed_at, row.pushed_by.as_deref()),
        last_pulled: time(row.last_pulled),
        signed: signed_badges(&row),
        hash_mismatch: row.hash_mismatch,
        accessories: row.accessories,
        platforms: row.platforms,
        digest: row.digest,
        name: row.name,
    }
}

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    name: String,
    visibility: &'static str,
    immutable: bool,
    signed_pulls_only: bool,
    description: String,
    long_description: String,
    administers: bool,
    total: usize,
    sort: &'static str,
    rows: Vec<TagLine>,
    pull_host: String,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct TagsQuery {
    sort: Option<String>,
    page: Option<usize>,
    notice: Option<String>,
}

/// `GET /repositories/{ns}/{repo}`: the repository and its tags.
pub async fn show(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((ns, repo)): Path<(String, String)>,
    Query(query): Query<TagsQuery>,
    asked: Option<Extension<Authority>>,
) -> Result<Response, UiError> {
    let name = repository(&ns, &repo)?;
    require(&app, &viewer, &name, Action::Pull).await?;
    let record = app.registry.repository(&name).await?;
    let (sort, sort_name) = match query.sort.as_deref() {
        Some("pushed") => (TagSort::Pushed, "pushed"),
        _ => (TagSort::Name, "name"),
    };
    let requested = query.page.unwrap_or(1).max(1);
    let tags = app.registry.tag_page(&name, sort, (requested - 1) * PER_PAGE, PER_PAGE).await?;
    let pager = pager(requested, tags.total, |n| format!("/repositories/{name}?sort={sort_name}&page={n}"));
    let administers = app.auth.may(&viewer.subject, name.as_str(), Action::Admin).await?;
    Ok(render(&RepositoryPage {
        chrome: viewer.chrome().with_notice(query.notice.as_deref()),
        visibility: if record.public { "public" } else { "private" },
        immutable: record.immutable_tags,
        signed_pulls_only: record.signed_pulls_only,
        description: record.short_description,
        long_description: record.long_description,
        administers,
        total: tags.total,
        sort: sort_name,
        rows: tags.rows.into_iter().map(line).collect(),
        pull_host: pull_host(&app, asked),
        page: pager.page,
        pages: pager.pages,
        prev: pager.prev,
        next: pager.next,
        name: name.to_string(),
    }))
}

struct SizedLine {
    digest: String,
    size: String,
    /// A child's platform, or a layer's media type.
    label: String,
}

struct MoveLine {
    at: String,
    digest: Option<String>,
    by: String,
}

#[derive(Template)]
#[template(path = "tag.html")]
struct TagPage {
    chrome: Chrome,
    name: String,
    tag: String,
    pull_host: String,
    digest: String,
    media_type: String,
    size: String,
    pushed: String,
    last_pulled: String,
    signed: Vec<String>,
    hash_mismatch: bool,
    children: Vec<SizedLine>,
    layers: Vec<SizedLine>,
    build: Vec<berth_registry::views::BuildStep>,
    referrers: Vec<berth_registry::views::ReferrerView>,
    moves: Vec<MoveLine>,
    can_delete: bool,
}

/// `GET /repositories/{ns}/{repo}/tags/{tag}`: one tag in detail.
pub async fn tag(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((ns, repo, tag)): Path<(String, String, String)>,
    asked: Option<Extension<Authority>>,
) -> Result<Response, UiError> {
    let name = repository(&ns, &repo)?;
    require(&app, &viewer, &name, Action::Pull).await?;
    let TagDetail { row, config, layers, children, build, moves, referrers } = app.registry.tag_detail(&name, &tag).await?;
    let can_delete = app.auth.may(&viewer.subject, name.as_str(), Action::Delete).await?;
    let sized = |digest: String, bytes: u64, label: String| SizedLine { digest, size: size(bytes), label };
    Ok(render(&TagPage {
        chrome: viewer.chrome(),
        pull_host: pull_host(&app, asked),
        signed: signed_badges(&row),
        hash_mismatch: row.hash_mismatch,
        pushed: pushed(row.pushed_at, row.pushed_by.as_deref()),
        last_pulled: time(row.last_pulled),
        size: size(row.size),
        media_type: row.media_type,
        digest: row.digest,
        children: children.into_iter().map(|c| sized(c.digest, c.size, c.platform)).collect(),
        layers: config.into_iter().chain(layers).map(|l| sized(l.digest, l.size, l.media_type)).collect(),
        build,
        referrers,
        moves: moves
            .into_iter()
            .map(|m| MoveLine { at: time(Some(m.at)), digest: m.digest, by: m.by.unwrap_or_else(|| "—".into()) })
            .collect(),
        can_delete,
        name: name.to_string(),
        tag,
    }))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /repositories/{ns}/{repo}/tags/{tag}/delete`: deletes a tag (refused, with the
/// reason, while it is signed).
pub async fn delete_tag(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((ns, repo, tag)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let name = repository(&ns, &repo)?;
    require(&app, &viewer, &name, Action::Delete).await?;
    let reference = berth_core::Reference::Tag(tag.parse().map_err(|_| UiError::not_found())?);
    app.registry.delete_manifest(&name, &reference, viewer.subject.name()).await?;
    Ok(after_form(&format!("/repositories/{name}"), "deleted"))
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    name: String,
    namespace: String,
    description: String,
    long_description: String,
    public: bool,
    immutable: bool,
    signed_pulls_only: bool,
    keys: String,
    grants: Vec<(String, String, String)>,
    teams: Vec<String>,
}

/// `?notice=`: what the form before this page did.
#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    pub(super) notice: Option<String>,
}

/// `GET /repositories/{ns}/{repo}/settings` (the repository's administrators).
pub async fn settings(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((ns, repo)): Path<(String, String)>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let name = repository(&ns, &repo)?;
    require(&app, &viewer, &name, Action::Admin).await?;
    let record = app.registry.repository(&name).await?;
    let grants = app.auth.repository_grants(&viewer.subject, name.as_str()).await?;
    // The namespace's teams, when it is an organization the viewer may read.
    let teams = app.auth.teams(&viewer.subject, &ns).await.unwrap_or_default();
    Ok(render(&SettingsPage {
        chrome: viewer.chrome().with_notice(query.notice.as_deref()),
        namespace: ns,
        description: record.short_description,
        long_description: record.long_description,
        public: record.public,
        immutable: record.immutable_tags,
        signed_pulls_only: record.signed_pulls_only,
        keys: record.signature_keys.join("\n"),
        grants: grants.into_iter().map(|(org, team, level)| (org, team, level.as_str().to_owned())).collect(),
        teams,
        name: name.to_string(),
    }))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    long_description: String,
    public: Option<String>,
    immutable_tags: Option<String>,
    signed_pulls_only: Option<String>,
    #[serde(default)]
    signature_keys: String,
}

/// The PEM blocks in `text`.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        blocks.push(current);
    }
    blocks
}

/// `POST /repositories/{ns}/{repo}/settings`.
pub async fn save_settings(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((ns, repo)): Path<(String, String)>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let name = repository(&ns, &repo)?;
    require(&app, &viewer, &name, Action::Admin).await?;
    let changes = berth_registry::RepositoryChanges {
        public: Some(form.public.is_some()),
        immutable_tags: Some(form.immutable_tags.is_some()),
        short_description: Some(form.description),
        long_description: Some(form.long_description),
        signed_pulls_only: Some(form.signed_pulls_only.is_some()),
        signature_keys: Some(pem_blocks(&form.signature_keys)),
        tag_limit: None,
    };
    app.registry.update_repository(&name, changes).await?;
    Ok(after_form(&format!("/repositories/{name}/settings"), "saved"))
}

#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    pub(super) csrf: String,
    pub(super) team: String,
    level: String,
}

impl GrantForm {
    /// The level asked for; `None` for "none" (revoke).
    pub(super) fn level(&self) -> Result<Option<Level>, UiError> {
        match self.level.as_str() {
            "none" => Ok(None),
            other => Level::parse(other).map(Some).ok_or_else(|| UiError::page(StatusCode::BAD_REQUEST, "Unknown access level.")),
        }
    }
}

/// `POST /repositories/{ns}/{repo}/access`: a team's access, or none.
pub async fn grant(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((ns, repo)): Path<(String, String)>,
    Form(form): Form<GrantForm>,
) -> Result<Response, UiError> {
    viewer.check(&form.csrf)?;
    let name = repository(&ns, &repo)?;
    let level = form.level()?;
    app.auth.set_repository_grant(&viewer.subject, &name, &form.team, level).await?;
    Ok(after_form(&format!("/repositories/{name}/settings"), "granted"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_blocks_are_split() {
        let text =
            "-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n\n-----BEGIN PUBLIC KEY-----\nBBB\n-----END PUBLIC KEY-----\n";
        assert_eq!(super::pem_blocks(text).len(), 2);
        assert!(super::pem_blocks("  \n").is_empty());
    }

    #[test]
    fn pages() {
        let p = super::pager(3, 120, |n| format!("?page={n}"));
        assert_eq!((p.page, p.pages), (3, 3));
        assert_eq!(p.prev.as_deref(), Some("?page=2"));
        assert!(p.next.is_none());
        assert_eq!(super::pager(9, 0, |n| n.to_string()).page, 1);
    }
}
