//! Manifests: push by tag and digest, pull, validation, references, deletion semantics.

use crate::harness::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[tokio::test]
async fn push_and_pull_by_tag_and_digest() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let d = push_image(&server, "ns/app", "v1", 1).await;
    for reference in ["v1", d.as_str()] {
        let got = c.get(server.url(&format!("/v2/ns/app/manifests/{reference}"))).header("accept", OCI_MANIFEST).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(got.headers()["docker-content-digest"], d.as_str());
        assert_eq!(got.headers()["etag"], format!("\"{d}\"").as_str());
        let body = got.bytes().await.unwrap();
        assert_eq!(digest(&body), d);
        let head = c.head(server.url(&format!("/v2/ns/app/manifests/{reference}"))).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["content-length"], body.len().to_string().as_str());
    }
    // Push by digest.
    let config = push_blob(&server, "ns/app", b"{}").await;
    let manifest = image_manifest((&config, 2), &[], "");
    let md = digest(manifest.as_bytes());
    let response = c
        .put(server.url(&format!("/v2/ns/app/manifests/{md}")))
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], format!("/v2/ns/app/manifests/{md}").as_str());
    expect_error(c.get(server.url("/v2/ns/app/manifests/nope")).send().await.unwrap(), 404, "MANIFEST_UNKNOWN").await;
    expect_error(c.get(server.url("/v2/no/such/manifests/v1")).send().await.unwrap(), 404, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn docker_schema2_and_manifest_list() {
    let server = Server::start();
    org(&server, "ns").await;
    let config = push_blob(&server, "ns/multi", br#"{"os":"linux"}"#).await;
    let layer = push_blob(&server, "ns/multi", b"layer").await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":14,"digest":"{config}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":5,"digest":"{layer}"}}]}}"#
    );
    let child = put_manifest(&server, "ns/multi", "amd64", DOCKER_MANIFEST, &manifest).await;
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","size":{},"digest":"{child}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
        manifest.len()
    );
    put_manifest(&server, "ns/multi", "latest", DOCKER_LIST, &list).await;
    let got = client().get(server.url("/v2/ns/multi/manifests/latest")).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], DOCKER_LIST);
    assert_eq!(got.text().await.unwrap(), list);

    // An index may only name manifests the repository holds.
    let missing = digest(b"not a manifest here");
    let bad_index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{missing}"}}]}}"#
    );
    let response =
        client().put(server.url("/v2/ns/multi/manifests/bad")).header("content-type", OCI_INDEX).body(bad_index).send().await.unwrap();
    let body = expect_error(response, 400, "MANIFEST_BLOB_UNKNOWN").await;
    assert_eq!(body["errors"][0]["detail"]["digests"][0], missing.as_str());
}

#[tokio::test]
async fn invalid_manifests_are_refused() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let config = push_blob(&server, "ns/app", b"{}").await;
    let put = |body: String, content_type: &'static str| {
        c.put(server.url("/v2/ns/app/manifests/t")).header("content-type", content_type).body(body).send()
    };
    expect_error(put("not json".into(), OCI_MANIFEST).await.unwrap(), 400, "MANIFEST_INVALID").await;
    expect_error(put("{}".into(), "application/vnd.example.unknown+json").await.unwrap(), 400, "MANIFEST_INVALID").await;
    let mismatch = image_manifest((&config, 2), &[], "");
    expect_error(put(mismatch, DOCKER_MANIFEST).await.unwrap(), 400, "MANIFEST_INVALID").await;
    let unknown_layer = digest(b"never uploaded");
    let manifest = image_manifest((&config, 2), &[(&unknown_layer, 14)], "");
    let body = expect_error(put(manifest, OCI_MANIFEST).await.unwrap(), 400, "MANIFEST_BLOB_UNKNOWN").await;
    assert_eq!(body["errors"][0]["detail"]["digests"][0], unknown_layer.as_str());
    // A blob of another repository does not count.
    let elsewhere = push_blob(&server, "other/app", b"other layer").await;
    let manifest = image_manifest((&config, 2), &[(&elsewhere, 11)], "");
    expect_error(put(manifest, OCI_MANIFEST).await.unwrap(), 400, "MANIFEST_BLOB_UNKNOWN").await;
    // Over 4 MiB.
    let huge = image_manifest((&config, 2), &[], &format!(r#","annotations":{{"pad":"{}"}}"#, "x".repeat(4 << 20)));
    expect_error(put(huge, OCI_MANIFEST).await.unwrap(), 413, "SIZE_INVALID").await;
    // Pushed by digest, but the body hashes to something else.
    let manifest = image_manifest((&config, 2), &[], "");
    let wrong = digest(b"other");
    let response = c
        .put(server.url(&format!("/v2/ns/app/manifests/{wrong}")))
        .header("content-type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "DIGEST_INVALID").await;
    expect_error(c.get(server.url("/v2/ns/app/manifests/t")).send().await.unwrap(), 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn deleting_a_tag_removes_only_that_tag() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let d = push_image(&server, "ns/app", "one", 7).await;
    let manifest = c.get(server.url(&format!("/v2/ns/app/manifests/{d}"))).send().await.unwrap().text().await.unwrap();
    put_manifest(&server, "ns/app", "two", OCI_MANIFEST, &manifest).await;

    let response = c.delete(server.url("/v2/ns/app/manifests/one")).send().await.unwrap();
    assert_eq!(response.status(), 202);
    expect_error(c.get(server.url("/v2/ns/app/manifests/one")).send().await.unwrap(), 404, "MANIFEST_UNKNOWN").await;
    assert_eq!(c.get(server.url("/v2/ns/app/manifests/two")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(server.url(&format!("/v2/ns/app/manifests/{d}"))).send().await.unwrap().status(), 200);
    let tags: serde_json::Value = c.get(server.url("/v2/ns/app/tags/list")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["two"]));
    expect_error(c.delete(server.url("/v2/ns/app/manifests/one")).send().await.unwrap(), 404, "MANIFEST_UNKNOWN").await;

    // Deleting by digest removes the manifest and every tag pointing at it.
    assert_eq!(c.delete(server.url(&format!("/v2/ns/app/manifests/{d}"))).send().await.unwrap().status(), 202);
    expect_error(c.get(server.url("/v2/ns/app/manifests/two")).send().await.unwrap(), 404, "MANIFEST_UNKNOWN").await;
    expect_error(c.get(server.url(&format!("/v2/ns/app/manifests/{d}"))).send().await.unwrap(), 404, "MANIFEST_UNKNOWN").await;
    let tags: serde_json::Value = c.get(server.url("/v2/ns/app/tags/list")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!([]));
}

#[tokio::test]
async fn referrers_with_artifact_type_filter() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    let subject = push_image(&server, "ns/signed", "v1", 3).await;
    let subject_size = c.get(server.url("/v2/ns/signed/manifests/v1")).send().await.unwrap().bytes().await.unwrap().len();
    let empty = push_blob(&server, "ns/signed", b"{}").await;
    let mut referrers = Vec::new();
    for (i, artifact_type) in ["application/vnd.example.sig", "application/vnd.example.sbom"].iter().enumerate() {
        let sig = push_blob(&server, "ns/signed", format!("signature {i}").as_bytes()).await;
        let extra = format!(
            r#","artifactType":"{artifact_type}","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{subject_size}}},"annotations":{{"n":"{i}"}}"#
        );
        let body = image_manifest((&empty, 2), &[(&sig, 11)], &extra)
            .replace("application/vnd.oci.image.config.v1+json", "application/vnd.oci.empty.v1+json");
        let response = c
            .put(server.url(&format!("/v2/ns/signed/manifests/{}", digest(body.as_bytes()))))
            .header("content-type", OCI_MANIFEST)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["oci-subject"], subject.as_str());
        referrers.push(digest(body.as_bytes()));
    }
    let all = c.get(server.url(&format!("/v2/ns/signed/referrers/{subject}"))).send().await.unwrap();
    assert_eq!(all.headers()["content-type"], OCI_INDEX);
    assert!(all.headers().get("oci-filters-applied").is_none());
    let index: serde_json::Value = all.json().await.unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let listed: Vec<&str> = index["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 2);
    assert!(referrers.iter().all(|r| listed.contains(&r.as_str())));

    let filtered =
        c.get(server.url(&format!("/v2/ns/signed/referrers/{subject}?artifactType=application/vnd.example.sbom"))).send().await.unwrap();
    assert_eq!(filtered.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = filtered.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["artifactType"], "application/vnd.example.sbom");
    assert_eq!(index["manifests"][0]["annotations"]["n"], "1");
    assert_eq!(index["manifests"][0]["digest"], referrers[1].as_str());

    // A repository with nothing pushed yet answers an empty index too.
    let fresh = c.get(server.url(&format!("/v2/never/pushed/referrers/{subject}"))).send().await.unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(fresh.headers()["content-type"], OCI_INDEX);
    let fresh: serde_json::Value = fresh.json().await.unwrap();
    assert_eq!((fresh["schemaVersion"].as_u64(), fresh["manifests"].as_array().map(Vec::len)), (Some(2), Some(0)));
    // A subject with no referrers (or unknown) has an empty list; deleting a referrer removes it.
    let none: serde_json::Value =
        c.get(server.url(&format!("/v2/ns/signed/referrers/{}", digest(b"x")))).send().await.unwrap().json().await.unwrap();
    assert_eq!(none["manifests"], serde_json::json!([]));
    c.delete(server.url(&format!("/v2/ns/signed/manifests/{}", referrers[0]))).send().await.unwrap();
    let index: serde_json::Value =
        c.get(server.url(&format!("/v2/ns/signed/referrers/{subject}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
}
