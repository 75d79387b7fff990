//! Blob reads, ranges, deletion, cross-repository mount and per-repository visibility.

use crate::harness::*;

#[tokio::test]
async fn blob_head_get_and_ranges() {
    let server = Server::start();
    org(&server, "ns").await;
    let body = random_bytes(10_000, 1);
    let d = push_blob(&server, "ns/app", &body).await;
    let c = client();

    let head = c.head(server.url(&format!("/v2/ns/app/blobs/{d}"))).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "10000");
    assert_eq!(head.headers()["docker-content-digest"], d.as_str());
    assert_eq!(head.headers()["etag"], format!("\"{d}\"").as_str());

    let get = c.get(server.url(&format!("/v2/ns/app/blobs/{d}"))).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-type"], "application/octet-stream");
    assert_eq!(get.bytes().await.unwrap().as_ref(), body.as_slice());

    let ranged = |range: &'static str| c.get(server.url(&format!("/v2/ns/app/blobs/{d}"))).header("range", range).send();
    let part = ranged("bytes=100-199").await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &body[100..200]);
    let suffix = ranged("bytes=-10").await.unwrap();
    assert_eq!(suffix.status(), 206);
    assert_eq!(suffix.bytes().await.unwrap().as_ref(), &body[9990..]);
    let open_end = ranged("bytes=9000-").await.unwrap();
    assert_eq!(open_end.bytes().await.unwrap().as_ref(), &body[9000..]);

    for unsatisfiable in ["bytes=10000-", "bytes=5-1"] {
        let response = ranged(unsatisfiable).await.unwrap();
        assert_eq!(response.status(), 416, "{unsatisfiable}");
        assert_eq!(response.headers()["content-range"], "bytes */10000");
    }
    // Other units and malformed ranges are ignored (RFC 9110): the whole blob.
    for ignored in ["pages=1-2", "bytes=a-b", "bytes=0-1,5-6"] {
        let response = ranged(ignored).await.unwrap();
        assert_eq!(response.status(), 200, "{ignored}");
        assert_eq!(response.bytes().await.unwrap().len(), 10_000);
    }
    // Range is for GET only.
    let head = c.head(server.url(&format!("/v2/ns/app/blobs/{d}"))).header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!((head.status().as_u16(), head.headers()["content-length"].to_str().unwrap()), (200, "10000"));
}

#[tokio::test]
async fn blobs_are_visible_only_through_linking_repositories() {
    let server = Server::start();
    let d = push_blob(&server, "private/secret", b"classified").await;
    push_blob(&server, "other/repo", b"unrelated").await;
    let c = client();
    let response = c.get(server.url(&format!("/v2/other/repo/blobs/{d}"))).send().await.unwrap();
    expect_error(response, 404, "BLOB_UNKNOWN").await;
    let response = c.head(server.url(&format!("/v2/never/pushed/blobs/{d}"))).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn blob_delete_unlinks_only_that_repository() {
    let server = Server::start();
    let d = push_blob(&server, "a/one", b"shared bytes").await;
    push_blob(&server, "a/two", b"shared bytes").await;
    let c = client();
    let deleted = c.delete(server.url(&format!("/v2/a/one/blobs/{d}"))).send().await.unwrap();
    assert_eq!(deleted.status(), 202);
    expect_error(c.get(server.url(&format!("/v2/a/one/blobs/{d}"))).send().await.unwrap(), 404, "BLOB_UNKNOWN").await;
    expect_error(c.delete(server.url(&format!("/v2/a/one/blobs/{d}"))).send().await.unwrap(), 404, "BLOB_UNKNOWN").await;
    let still = c.get(server.url(&format!("/v2/a/two/blobs/{d}"))).send().await.unwrap();
    assert_eq!(still.bytes().await.unwrap().as_ref(), b"shared bytes");
}

#[tokio::test]
async fn cross_repository_mount() {
    let server = Server::start();
    org(&server, "dst").await;
    let d = push_blob(&server, "src/app", b"layer to share").await;
    let c = client();
    let mounted = c.post(server.url(&format!("/v2/dst/app/blobs/uploads/?mount={d}&from=src/app"))).send().await.unwrap();
    assert_eq!(mounted.status(), 201);
    assert_eq!(mounted.headers()["location"], format!("/v2/dst/app/blobs/{d}").as_str());
    assert_eq!(mounted.headers()["docker-content-digest"], d.as_str());
    let got = c.get(server.url(&format!("/v2/dst/app/blobs/{d}"))).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"layer to share");

    // From a repository that does not hold it: an ordinary upload session starts instead.
    let unknown = digest(b"nowhere");
    let fallback = c.post(server.url(&format!("/v2/dst/app/blobs/uploads/?mount={unknown}&from=src/app"))).send().await.unwrap();
    assert_eq!(fallback.status(), 202);
    assert!(fallback.headers()["location"].to_str().unwrap().starts_with("/v2/dst/app/blobs/uploads/"));
    let bad = c.post(server.url("/v2/dst/app/blobs/uploads/?mount=sha256:nothex&from=src/app")).send().await.unwrap();
    expect_error(bad, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn malformed_names_and_digests() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let long = "a".repeat(256);
    for name in ["UPPER/case", long.as_str(), "a//b", "a/-b"] {
        let response = c.get(server.url(&format!("/v2/{name}/tags/list"))).send().await.unwrap();
        expect_error(response, 400, "NAME_INVALID").await;
    }
    // Client libraries normalise `..` away, so send it raw.
    for name in ["../x", "a/../../etc"] {
        let head = format!(
            "GET /v2/{name}/tags/list HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            basic("admin", ADMIN_PASSWORD)
        );
        let answer = tokio::task::spawn_blocking({
            let base = server.http.clone();
            move || raw_request(&base, &head, b"")
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("NAME_INVALID"), "{answer}");
    }
    let zeros = "0".repeat(64);
    for digest in
        [format!("md5:{}", "0".repeat(32)), "sha256:abc".to_owned(), format!("sha256:{}", "z".repeat(64)), format!("sha256:{zeros}0")]
    {
        let response = c.get(server.url(&format!("/v2/ns/app/blobs/{digest}"))).send().await.unwrap();
        expect_error(response, 400, "DIGEST_INVALID").await;
    }
    let response = c.put(server.url("/v2/ns/app/manifests/bad%20tag")).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let response = c.post(server.url(&format!("/v2/ns/app/blobs/{}", digest(b"x")))).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD, DELETE");
    expect_error(response, 405, "UNSUPPORTED").await;
    for method in [reqwest::Method::GET, reqwest::Method::HEAD, reqwest::Method::DELETE] {
        let response = c.request(method.clone(), server.url("/v2/ns/app/manifests/.INVALID_MANIFEST_NAME")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} of an invalid tag");
    }
    let response = c.get(server.url("/v2/ns/app/blobs/uploads/not-an-id")).send().await.unwrap();
    expect_error(response, 404, "BLOB_UPLOAD_UNKNOWN").await;
}
