//! Tag listing and the catalog: sorted, paged with `n` and `last`, `Link` to the next page.

use crate::harness::*;

async fn follow(server: &Server, first: &str, key: &str) -> (Vec<String>, usize) {
    let mut next = Some(first.to_owned());
    let mut all = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let response = client().get(server.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        next = response.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
        });
        let body: serde_json::Value = response.json().await.unwrap();
        all.extend(body[key].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()));
        pages += 1;
    }
    (all, pages)
}

#[tokio::test]
async fn tags_are_sorted_and_paged() {
    let server = Server::start();
    org(&server, "ns").await;
    let d = push_image(&server, "ns/app", "seed", 1).await;
    let manifest = client().get(server.url(&format!("/v2/ns/app/manifests/{d}"))).send().await.unwrap().text().await.unwrap();
    let mut tags: Vec<String> = (0..25).map(|i| format!("t{:02}", (i * 7) % 25)).collect();
    tags.extend(["Alpha".to_owned(), "_under".to_owned(), "v1.0".to_owned(), "v1.0-rc".to_owned()]);
    for tag in &tags {
        put_manifest(&server, "ns/app", tag, "application/vnd.oci.image.manifest.v1+json", &manifest).await;
    }
    tags.push("seed".to_owned());
    tags.sort();

    let whole: serde_json::Value = client().get(server.url("/v2/ns/app/tags/list")).send().await.unwrap().json().await.unwrap();
    assert_eq!(whole["name"], "ns/app");
    assert_eq!(whole["tags"], serde_json::json!(tags));

    let (paged, pages) = follow(&server, "/v2/ns/app/tags/list?n=7", "tags").await;
    assert_eq!(paged, tags);
    assert_eq!(pages, tags.len().div_ceil(7));

    let after: serde_json::Value =
        client().get(server.url("/v2/ns/app/tags/list?n=2&last=t05")).send().await.unwrap().json().await.unwrap();
    assert_eq!(after["tags"], serde_json::json!(["t06", "t07"]));
    let empty = client().get(server.url("/v2/ns/app/tags/list?n=0")).send().await.unwrap();
    assert_eq!(empty.status(), 200);
    let bad = client().get(server.url("/v2/ns/app/tags/list?n=-1")).send().await.unwrap();
    expect_error(bad, 400, "UNSUPPORTED").await;
    expect_error(client().get(server.url("/v2/no/repo/tags/list")).send().await.unwrap(), 404, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn catalog_is_sorted_and_paged() {
    let server = Server::start();
    let mut names: Vec<String> = (0..13).map(|i| format!("org{}/app-{}", i % 3, (i * 5) % 13)).collect();
    for name in &names {
        push_blob(&server, name, name.as_bytes()).await;
    }
    names.sort();
    let (all, _) = follow(&server, "/v2/_catalog", "repositories").await;
    assert_eq!(all, names);
    let (paged, pages) = follow(&server, "/v2/_catalog?n=4", "repositories").await;
    assert_eq!(paged, names);
    assert_eq!(pages, 4);
}
