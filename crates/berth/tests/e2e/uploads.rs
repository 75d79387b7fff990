//! The upload protocol: monolithic, POST+PUT, chunked with Content-Range, status,
//! cancel, digest verification, and bodies that break the rules.

use std::io::Write;
use std::net::TcpStream;

use crate::harness::*;

async fn start_upload(server: &Server, repo: &str) -> String {
    let response = client().post(server.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["range"], "0-0");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let uuid = response.headers()["docker-upload-uuid"].to_str().unwrap();
    assert!(location.ends_with(uuid));
    location
}

#[tokio::test]
async fn post_then_put_with_body() {
    let server = Server::start();
    org(&server, "ns").await;
    let location = start_upload(&server, "ns/app").await;
    let body = random_bytes(5000, 2);
    let d = digest(&body);
    let done = client().put(server.url(&format!("{location}?digest={d}"))).body(body.clone()).send().await.unwrap();
    assert_eq!(done.status(), 201);
    assert_eq!(done.headers()["location"], format!("/v2/ns/app/blobs/{d}").as_str());
    let got = client().get(server.url(&format!("/v2/ns/app/blobs/{d}"))).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), body.as_slice());
    // The session is over: a PATCH to it is refused.
    let late = client().patch(server.url(&location)).body("more").send().await.unwrap();
    expect_error(late, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn chunked_upload_in_order_and_out_of_order() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let location = start_upload(&server, "ns/chunked").await;
    let body = random_bytes(3 * 1024 * 1024 + 17, 3);
    let chunks: Vec<&[u8]> = body.chunks(1024 * 1024).collect();
    let mut offset = 0usize;
    let mut url = server.url(&location);
    for (i, chunk) in chunks.iter().enumerate() {
        let range = format!("{}-{}", offset, offset + chunk.len() - 1);
        let response = c
            .patch(&url)
            .header("content-range", &range)
            .header("content-type", "application/octet-stream")
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "chunk {i}");
        offset += chunk.len();
        assert_eq!(response.headers()["range"], format!("0-{}", offset - 1).as_str());
        url = server.url(response.headers()["location"].to_str().unwrap());

        let status = c.get(&url).send().await.unwrap();
        assert_eq!(status.status(), 204);
        assert_eq!(status.headers()["range"], format!("0-{}", offset - 1).as_str());

        if i == 1 {
            // Replaying the previous chunk, or skipping ahead, is out of order: 416 with where we stand.
            let replay = c.patch(&url).header("content-range", format!("0-{}", chunk.len() - 1)).body(chunk.to_vec()).send().await.unwrap();
            assert_eq!(replay.headers()["range"], format!("0-{}", offset - 1).as_str());
            expect_error(replay, 416, "BLOB_UPLOAD_INVALID").await;
            let gap = format!("{}-{}", offset + 10, offset + 19);
            let skip = c.patch(&url).header("content-range", gap).body(vec![0u8; 10]).send().await.unwrap();
            expect_error(skip, 416, "BLOB_UPLOAD_INVALID").await;
        }
    }
    let d = digest(&body);
    let done = c.put(format!("{url}?digest={d}")).send().await.unwrap();
    assert_eq!(done.status(), 201);
    let got = c.get(server.url(&format!("/v2/ns/chunked/blobs/{d}"))).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().len(), body.len());
}

#[tokio::test]
async fn streamed_patch_without_content_range() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let location = start_upload(&server, "ns/stream").await;
    let body = random_bytes(200_000, 4);
    let first = c.patch(server.url(&location)).body(body[..150_000].to_vec()).send().await.unwrap();
    assert_eq!(first.status(), 202);
    let second = c.patch(server.url(&location)).body(body[150_000..].to_vec()).send().await.unwrap();
    assert_eq!(second.headers()["range"], "0-199999");
    let done = c.put(server.url(&format!("{location}?digest={}", digest(&body)))).send().await.unwrap();
    assert_eq!(done.status(), 201);
}

#[tokio::test]
async fn digest_mismatch_and_missing_digest() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let wrong = digest(b"something else");
    let response = c.post(server.url(&format!("/v2/ns/app/blobs/uploads/?digest={wrong}"))).body("actual bytes").send().await.unwrap();
    expect_error(response, 400, "DIGEST_INVALID").await;
    expect_error(c.get(server.url(&format!("/v2/ns/app/blobs/{wrong}"))).send().await.unwrap(), 404, "BLOB_UNKNOWN").await;

    let location = start_upload(&server, "ns/app").await;
    let response = c.put(server.url(&location)).body("x").send().await.unwrap();
    expect_error(response, 400, "DIGEST_INVALID").await;
    let response = c.put(server.url(&format!("{location}?digest=sha999:abc"))).send().await.unwrap();
    expect_error(response, 400, "DIGEST_INVALID").await;
    let bad_range = c.patch(server.url(&location)).header("content-range", "banana").body("x").send().await.unwrap();
    expect_error(bad_range, 400, "BLOB_UPLOAD_INVALID").await;
    let short = c.patch(server.url(&location)).header("content-range", "0-9").body("12345").send().await.unwrap();
    expect_error(short, 400, "BLOB_UPLOAD_INVALID").await;
}

#[tokio::test]
async fn sha512_digests_are_accepted() {
    use sha2::Digest as _;
    let server = Server::start();
    org(&server, "ns").await;
    let body = b"sha512 content";
    let d = format!("sha512:{}", hex::encode(sha2::Sha512::digest(body)));
    let response = client().post(server.url(&format!("/v2/ns/app/blobs/uploads/?digest={d}"))).body(body.to_vec()).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let got = client().get(server.url(&format!("/v2/ns/app/blobs/{d}"))).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), body);
}

#[tokio::test]
async fn cancel_and_wrong_repository() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let location = start_upload(&server, "ns/app").await;
    let elsewhere = location.replace("/v2/ns/app/", "/v2/ns/other/");
    expect_error(c.get(server.url(&elsewhere)).send().await.unwrap(), 404, "BLOB_UPLOAD_UNKNOWN").await;
    let cancelled = c.delete(server.url(&location)).send().await.unwrap();
    assert_eq!(cancelled.status(), 204);
    expect_error(c.get(server.url(&location)).send().await.unwrap(), 404, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(c.delete(server.url(&location)).send().await.unwrap(), 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn interrupted_body_keeps_what_arrived_and_the_upload_resumes() {
    let server = Server::start();
    org(&server, "ns").await;
    let location = start_upload(&server, "ns/cut").await;
    let body = random_bytes(100_000, 5);
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        basic("admin", ADMIN_PASSWORD),
        body.len()
    );
    // Half the declared body, then the client goes away.
    tokio::task::spawn_blocking({
        let (server_http, head, half) = (server.http.clone(), head.clone(), body[..50_000].to_vec());
        move || {
            let mut stream = TcpStream::connect(server_http.trim_start_matches("http://")).unwrap();
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&half).unwrap();
        }
    })
    .await
    .unwrap();
    let c = client();
    let mut offset = 0;
    for _ in 0..100 {
        let status = c.get(server.url(&location)).send().await.unwrap();
        offset = status.headers()["range"].to_str().unwrap().trim_start_matches("0-").parse::<usize>().unwrap() + 1;
        if offset == 50_000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(offset, 50_000, "the bytes that arrived are kept");
    let rest = c
        .patch(server.url(&location))
        .header("content-range", format!("50000-{}", body.len() - 1))
        .body(body[50_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 202);
    let done = c.put(server.url(&format!("{location}?digest={}", digest(&body)))).send().await.unwrap();
    assert_eq!(done.status(), 201);
    assert!(c.get(server.url("/_ping")).send().await.unwrap().status().is_success());
}

#[tokio::test]
async fn body_longer_than_declared_is_cut_at_the_declared_length() {
    let server = Server::start();
    org(&server, "ns").await;
    let location = start_upload(&server, "ns/long").await;
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
        basic("admin", ADMIN_PASSWORD)
    );
    let answer = tokio::task::spawn_blocking({
        let base = server.http.clone();
        move || raw_request(&base, &head, b"0123456789-and-twenty-more")
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let status = client().get(server.url(&location)).send().await.unwrap();
    assert_eq!(status.headers()["range"], "0-9");
}
