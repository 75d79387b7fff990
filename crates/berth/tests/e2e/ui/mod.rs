//! The web UI in a real browser (headless Chromium over WebDriver): signing in, browsing
//! and searching, a tag with two platforms and a signed tag, creating a repository and
//! changing its settings, granting a team, making and revoking a token, signing out; and
//! as an attacker would try it: a user who may not see a repository finds it nowhere, a
//! form without its CSRF token is refused, markup in names shows as text.
//!
//! Any failure writes a screenshot of the page to `target/ui-failures/<test>.png`. With
//! `BERTH_UI_SCREENSHOTS=DIR` the main pages' screenshots are written to DIR (what the
//! README shows; `scripts/screenshots.sh`).

mod sessions;
mod webdriver;

use std::path::PathBuf;

use serde_json::json;
use webdriver::{Browser, Driver};

use crate::harness::*;

/// Fails the test when `ok` is false, naming the page (the browser keeps a screenshot of
/// it as the test unwinds).
async fn expect(browser: &Browser, ok: bool, what: &str) {
    if !ok {
        panic!("{what} (page {})", browser.url().await);
    }
}

/// Writes a screenshot for the README when asked to.
async fn keep(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("BERTH_UI_SCREENSHOTS") {
        let _ = std::fs::create_dir_all(&dir);
        browser.screenshot(&PathBuf::from(dir).join(format!("{name}.png"))).await;
    }
}

async fn api(server: &Server, method: reqwest::Method, path: &str, body: serde_json::Value) {
    let response = client().request(method, server.url(path)).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.text().await.unwrap());
}

/// Pushes an image whose config records how it was built; its manifest's digest and size.
async fn built_image(server: &Server, repo: &str, reference: &str, arch: &str) -> (String, usize) {
    let config = json!({
        "architecture": arch, "os": "linux",
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:rootfs in / "},
                    {"created": "2026-01-02T00:00:00Z", "created_by": format!("/bin/sh -c make install-{arch}")}]
    })
    .to_string();
    let layer = random_bytes(20_000, arch.len() as u64);
    let config_digest = push_blob(server, repo, config.as_bytes()).await;
    let layer_digest = push_blob(server, repo, &layer).await;
    let manifest = image_manifest((&config_digest, config.len()), &[(&layer_digest, layer.len())], "");
    let digest = put_manifest(server, repo, reference, "application/vnd.oci.image.manifest.v1+json", &manifest).await;
    (digest, manifest.len())
}

/// The test's registry: images, a multi-platform index, a cosign signature, a private
/// repository, an organization with a team, and a user who may see little.
async fn world(server: &Server) {
    use reqwest::Method;
    org(server, "acme").await;
    api(server, Method::POST, "/api/v0/accounts", json!({"name": "dave", "password": "dave-password-1"})).await;
    api(server, Method::POST, "/api/v0/accounts/acme/teams", json!({"name": "devs"})).await;
    api(
        server,
        Method::POST,
        "/api/v0/repositories/acme",
        json!({"name": "web", "visibility": "private", "shortDescription": "<script>alert(1)</script> the web app"}),
    )
    .await;
    let (v1, v1_size) = built_image(server, "acme/web", "v1", "amd64").await;
    let (amd, amd_size) = built_image(server, "acme/web", "amd64-only", "amd64").await;
    let (arm, arm_size) = built_image(server, "acme/web", "arm64-only", "arm64").await;
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": amd_size, "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": arm_size, "platform": {"os": "linux", "architecture": "arm64"}}
    ]})
    .to_string();
    put_manifest(server, "acme/web", "multi", "application/vnd.oci.image.index.v1+json", &index).await;
    // A cosign signature of v1, as an OCI 1.1 referrer.
    let payload = br#"{"critical":{"type":"cosign container image signature"}}"#;
    let payload_digest = push_blob(server, "acme/web", payload).await;
    let empty = push_blob(server, "acme/web", b"{}").await;
    let signature = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": payload_digest, "size": payload.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": v1, "size": v1_size}})
    .to_string();
    let signature_digest = digest(signature.as_bytes());
    put_manifest(server, "acme/web", &signature_digest, "application/vnd.oci.image.manifest.v1+json", &signature).await;
    push_image(server, "acme/secret", "v1", 9).await;
}

/// Signs in through the form.
async fn sign_in(browser: &Browser, base: &str, user: &str, password: &str) {
    browser.goto(&format!("{base}/login")).await;
    browser.fill(&browser.find("#username").await, user).await;
    browser.fill(&browser.find("#password").await, password).await;
    browser.click(&browser.find("#sign-in").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_in_a_browser() {
    if !client_available("chromedriver", &["--version"]) {
        return;
    }
    let server = Server::start();
    world(&server).await;
    let base = format!("https://{}", server.https_localhost());
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // Signing in: a page needs it; a wrong password is refused; the right one lands on the page asked for.
    browser.goto(&format!("{base}/repositories?q=web")).await;
    expect(&browser, browser.url().await.contains("/login?next="), "a page asks to sign in first").await;
    keep(&browser, "sign-in").await;
    sign_in(&browser, &base, "admin", "not the password").await;
    let refused = browser.source_when(|s| s.contains("Wrong user name or password.")).await;
    expect(&browser, refused.contains("Wrong user name or password."), "a wrong password is refused").await;
    sign_in(&browser, &base, "admin", ADMIN_PASSWORD).await;
    browser.source_when(|s| s.contains("id=\"repositories\"")).await;
    let rows = browser.all("#repositories tbody tr").await;
    expect(&browser, rows.len() == 2, "both repositories are listed").await;
    keep(&browser, "repositories").await;

    // Search: by part of the name.
    browser.fill(&browser.find("#search").await, "secr").await;
    browser.click(&browser.find(".search button").await).await;
    browser.source_when(|s| s.contains("1 repository")).await;
    let rows = browser.all("#repositories tbody tr").await;
    expect(&browser, rows.len() == 1 && browser.text(&rows[0]).await.contains("acme/secret"), "search finds by a part of the name").await;

    // A repository: its tags, sizes, platforms, signatures, pull commands; markup shown as text.
    browser.goto(&format!("{base}/repositories/acme/web")).await;
    let source = browser.source().await;
    expect(&browser, browser.all("script").await.is_empty(), "no script runs on a page").await;
    expect(
        &browser,
        source.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || source.contains("&#60;script&#62;"),
        "markup in a description is text",
    )
    .await;
    let v1 = browser.text(&browser.find("#tag-v1").await).await;
    expect(&browser, v1.contains("cosign"), "the signed tag has its badge").await;
    let multi = browser.text(&browser.find("#tag-multi").await).await;
    expect(&browser, multi.contains("linux/amd64") && multi.contains("linux/arm64"), "an index shows its platforms").await;
    let pull = browser.value(&browser.find("#tag-v1 input.pull").await).await;
    expect(&browser, pull == format!("docker pull {}/acme/web:v1", server.https_localhost()), "the pull command is there to copy").await;
    expect(&browser, !browser.source().await.contains(".sig<"), "signatures are not listed as tags").await;
    keep(&browser, "repository").await;

    // A tag in detail: platforms of an index; layers, build history and tag history of an image.
    browser.click(&browser.find("#tag-multi a").await).await;
    browser.source_when(|s| s.contains("id=\"platforms\"")).await;
    let platforms = browser.text(&browser.find("#platforms").await).await;
    expect(&browser, platforms.contains("linux/amd64") && platforms.contains("linux/arm64"), "the index's children").await;
    browser.goto(&format!("{base}/repositories/acme/web/tags/v1")).await;
    expect(&browser, browser.text(&browser.find("#history").await).await.contains("make install-amd64"), "the commands that built it")
        .await;
    expect(&browser, browser.all("#layers tbody tr").await.len() == 2, "config and layer").await;
    expect(&browser, browser.text(&browser.find("#moves").await).await.contains("admin"), "who moved the tag").await;
    expect(&browser, browser.text(&browser.find("#signed").await).await.contains("cosign"), "signed").await;
    keep(&browser, "tag").await;

    // A new repository, then its settings and a team's access.
    browser.goto(&format!("{base}/repositories")).await;
    browser.fill(&browser.find("#new-name").await, "api").await;
    browser.click(&browser.find("#new-namespace option[value=acme]").await).await;
    browser.click(&browser.find("#create-repository").await).await;
    let created = browser.url_when(|u| u.contains("/repositories/acme/api")).await;
    expect(&browser, created.contains("/repositories/acme/api"), "the repository is created").await;
    expect(&browser, browser.source_when(|s| s.contains("Created.")).await.contains("Created."), "and says so").await;
    let repository = "acme/api";
    browser.goto(&format!("{base}/repositories/{repository}/settings")).await;
    browser.click(&browser.find("#immutable").await).await;
    browser.click(&browser.find("#save-settings").await).await;
    expect(&browser, browser.source_when(|s| s.contains("Saved.")).await.contains("Saved."), "settings saved").await;
    expect(&browser, browser.checked(&browser.find("#immutable").await).await, "immutable tags on").await;

    // Deleting a tag: refused with the reason where tags are immutable; done elsewhere.
    push_image(&server, repository, "v1", 3).await;
    browser.goto(&format!("{base}/repositories/{repository}/tags/v1")).await;
    browser.click(&browser.find("#delete-tag").await).await;
    let refused = browser.source_when(|s| s.contains("cannot be deleted")).await;
    expect(
        &browser,
        refused.contains("tag v1 cannot be deleted: the repository's tags are immutable"),
        "an immutable tag is not deleted, and the page says why",
    )
    .await;
    let kept = client().get(server.url(&format!("/v2/{repository}/manifests/v1"))).send().await.unwrap().status();
    assert_eq!(kept, 200, "the immutable tag is still there");
    browser.goto(&format!("{base}/repositories/acme/web/tags/arm64-only")).await;
    browser.click(&browser.find("#delete-tag").await).await;
    let deleted = browser.source_when(|s| s.contains("Deleted.")).await;
    expect(&browser, deleted.contains("Deleted.") && !deleted.contains("id=\"tag-arm64-only\""), "a tag is deleted").await;
    let gone = client().get(server.url("/v2/acme/web/manifests/arm64-only")).send().await.unwrap().status();
    assert_eq!(gone, 404, "the tag deleted in the browser is gone from the registry");

    browser.goto(&format!("{base}/repositories/acme/web/settings")).await;
    browser.click(&browser.find("#grant").await).await;
    browser.source_when(|s| s.contains("Access changed.")).await;
    expect(&browser, browser.text(&browser.find("#grants").await).await.contains("acme/devs"), "the team's access is listed").await;
    keep(&browser, "settings").await;

    // A token: made, shown once, named with markup (shown as text), revoked.
    browser.goto(&format!("{base}/tokens")).await;
    browser.fill(&browser.find("#token-name").await, "<script>ci</script>").await;
    browser.click(&browser.find("#create-token").await).await;
    browser.source_when(|s| s.contains("new-token")).await;
    let token = browser.value(&browser.find("#new-token").await).await;
    expect(&browser, token.starts_with("berth_"), "the new token is shown").await;
    let works = client_as("admin", &token).get(server.url("/v2/acme/web/tags/list")).send().await.unwrap().status();
    assert_eq!(works, 200, "the token made in the browser works");
    expect(&browser, browser.text(&browser.find("#tokens").await).await.contains("<script>ci</script>"), "the name is shown as text").await;
    keep(&browser, "tokens").await;
    browser.click(&browser.find("#tokens button").await).await;
    expect(&browser, browser.source_when(|s| s.contains("Token revoked.")).await.contains("Token revoked."), "revoked").await;
    let gone = client_as("admin", &token).get(server.url("/v2/acme/web/tags/list")).send().await.unwrap().status();
    assert_eq!(gone, 401, "a revoked token stops working");

    // Organizations and teams: dave joins acme/devs, which was just granted acme/web.
    browser.goto(&format!("{base}/orgs")).await;
    expect(&browser, browser.text(&browser.find("#orgs").await).await.contains("acme"), "the organization is listed").await;
    browser.goto(&format!("{base}/orgs/acme")).await;
    expect(&browser, browser.text(&browser.find("#teams").await).await.contains("devs"), "its team is listed").await;
    browser.goto(&format!("{base}/orgs/acme/teams/devs")).await;
    browser.fill(&browser.find("#member").await, "dave").await;
    browser.click(&browser.find("#add-member").await).await;
    browser.source_when(|s| s.contains("Member added.")).await;
    expect(&browser, browser.text(&browser.find("#members").await).await.contains("dave"), "dave is a member").await;

    // Filters: by namespace and by visibility.
    browser.goto(&format!("{base}/repositories?namespace=acme")).await;
    expect(&browser, browser.all("#repositories tbody tr").await.len() == 3, "acme's three repositories").await;
    browser.goto(&format!("{base}/repositories?visibility=public")).await;
    expect(&browser, browser.all("#repositories tbody tr").await.is_empty(), "none of them is public").await;

    // System: a garbage collection started from the browser, and its report.
    browser.goto(&format!("{base}/system")).await;
    browser.click(&browser.find("#collect-now").await).await;
    expect(&browser, browser.source_when(|s| s.contains("Garbage collection started.")).await.contains("started."), "a collection starts")
        .await;
    let mut report = String::new();
    for _ in 0..50 {
        browser.goto(&format!("{base}/system")).await;
        report = browser.text(&browser.find("#gc-last").await).await;
        if report.contains("Last run") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    expect(&browser, report.contains("deleted 0 of"), "its report (the grace period keeps every new blob)").await;
    let cluster = browser.text(&browser.find("#cluster").await).await;
    expect(&browser, cluster.contains("leader"), "the cluster's one replica leads").await;
    keep(&browser, "system").await;

    // Users: an administrator creates one, then deactivates him; his password stops working.
    browser.goto(&format!("{base}/users")).await;
    browser.fill(&browser.find("#user-name").await, "frank").await;
    browser.fill(&browser.find("#user-password").await, "frank-password-1").await;
    browser.click(&browser.find("#create-user").await).await;
    browser.source_when(|s| s.contains("Created.")).await;
    assert_eq!(client_as("frank", "frank-password-1").get(server.url("/v2/")).send().await.unwrap().status(), 200);
    browser.click(&browser.find("#deactivate-frank").await).await;
    browser.source_when(|s| s.contains("Saved.")).await;
    expect(&browser, !browser.all("#activate-frank").await.is_empty(), "frank is shown deactivated").await;
    keep(&browser, "users").await;
    assert_eq!(client_as("frank", "frank-password-1").get(server.url("/v2/")).send().await.unwrap().status(), 401);

    // Signing out ends the session.
    let cookie = browser.cookie("berth_session").await.unwrap_or_default();
    browser.click(&browser.find("header form.inline button").await).await;
    browser.source_when(|s| s.contains("Sign in to Berth")).await;
    expect(&browser, browser.url_when(|u| u.contains("/login")).await.contains("/login"), "signed out").await;
    let after = anonymous_with_cookie(&cookie).get(format!("{}/repositories", server.https)).send().await.unwrap();
    assert_eq!(after.status(), 303, "the old cookie no longer works");

    // A user with access to one private repository (through his team) sees that one, and
    // the others nowhere.
    sign_in(&browser, &base, "dave", "dave-password-1").await;
    browser.source_when(|s| s.contains("Signed in as")).await;
    let rows = browser.all("#repositories tbody tr").await;
    expect(&browser, rows.len() == 1 && browser.text(&rows[0]).await.contains("acme/web"), "dave sees acme/web only").await;
    browser.goto(&format!("{base}/repositories?q=secret")).await;
    expect(&browser, browser.all("#repositories tbody tr").await.is_empty(), "nor finds another").await;
    browser.goto(&format!("{base}/repositories?namespace=acme")).await;
    expect(&browser, browser.all("#repositories tbody tr").await.len() == 1, "nor lists another").await;
    browser.goto(&format!("{base}/repositories/acme/secret")).await;
    expect(&browser, browser.source().await.contains("There is nothing here"), "nor opens one").await;
    browser.goto(&format!("{base}/repositories/acme/secret/tags/v1")).await;
    expect(&browser, browser.source().await.contains("There is nothing here"), "nor its tags").await;
    browser.goto(&format!("{base}/repositories/acme/web/settings")).await;
    expect(&browser, !browser.source().await.contains("save-settings"), "nor the settings of the one he reads").await;
    for page in ["users", "system"] {
        browser.goto(&format!("{base}/{page}")).await;
        let source = browser.source().await;
        expect(&browser, !source.contains("id=\"users\"") && !source.contains("sync-now"), "users and system are for administrators").await;
    }

    // A form without its CSRF token (with dave's own session) is refused and changes nothing.
    let dave = browser.cookie("berth_session").await.unwrap_or_default();
    let forged = anonymous_with_cookie(&dave).post(format!("{}/tokens", server.https)).form(&[("name", "forged")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let listed =
        client_as("dave", "dave-password-1").get(server.url("/api/v0/accounts/dave/tokens")).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains("forged"), "{listed}");
    browser.quit().await;
}

/// A client sending `berth_session=<cookie>` (over HTTPS, trusting Berth's own CA).
fn anonymous_with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, format!("berth_session={cookie}").parse().unwrap());
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}
