//! Content trust with the real clients: `DOCKER_CONTENT_TRUST=1 docker push` / trusted
//! `docker pull` / `docker trust inspect` and the notary CLI against Berth's own HTTPS
//! port, with `docker login`.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;

use crate::clients::{DockerCa, docker_clis, docker_login, random_files, run, stdout};
use crate::harness::*;

const PASSPHRASE: &str = "trust-passphrase-for-tests";

/// A docker CLI with its own configuration directory and content trust set to `trust`.
fn docker(cli: &str, config: &Path, trust: bool) -> Command {
    let mut c = Command::new(cli);
    c.env("DOCKER_CONFIG", config)
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONTENT_TRUST", if trust { "1" } else { "0" })
        .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", PASSPHRASE)
        .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", PASSPHRASE);
    c
}

/// Builds a one-file image from scratch as `reference`; its image id.
fn build(cli: &str, config: &Path, dir: &Path, seed: u64, reference: &str) -> String {
    let context = dir.join(format!("context{seed}"));
    random_files(&context, 1, seed);
    std::fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY file0 /a\n").unwrap();
    run(docker(cli, config, false).args(["build", "-q", "-t", reference]).arg(&context));
    stdout(&run(docker(cli, config, false).args(["image", "inspect", "-f", "{{.Id}}", reference])))
}

fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The notary CLI against Berth, proving Berth's certificate chain with its CA.
pub(crate) fn notary(server: &Server, trust_dir: &Path) -> Command {
    let mut c = Command::new("notary");
    c.arg("-s")
        .arg(format!("https://{}", server.https_localhost()))
        .arg("-d")
        .arg(trust_dir)
        .arg("--tlscacert")
        .arg(server.data_dir.join("tls/ca.crt"))
        .env("NOTARY_AUTH", base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}")))
        .env("NOTARY_ROOT_PASSPHRASE", PASSPHRASE)
        .env("NOTARY_TARGETS_PASSPHRASE", PASSPHRASE)
        .env("NOTARY_SNAPSHOT_PASSPHRASE", PASSPHRASE)
        .env("NOTARY_DELEGATION_PASSPHRASE", PASSPHRASE);
    c
}

async fn manifest_digest(server: &Server, repo: &str, tag: &str) -> String {
    let response = client()
        .head(server.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("accept", "application/vnd.docker.distribution.manifest.v2+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["docker-content-digest"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn signed_push_trusted_pull_inspect_tamper_and_notary() {
    if !client_available("docker", &["info"]) || !client_available("notary", &["version"]) {
        return;
    }
    let server = Server::start();
    org(&server, "e2e").await;
    let host = server.https_localhost();
    let _ca = DockerCa::install_for(&server, &host);
    let temp = tempfile::tempdir().unwrap();
    for (i, cli) in docker_clis().into_iter().enumerate() {
        let repo = format!("e2e/signed{i}");
        let gun = format!("{host}/{repo}");
        let signer = temp.path().join(format!("signer{i}"));
        std::fs::create_dir_all(&signer).unwrap();
        assert!(docker_login(&|| docker(cli, &signer, false), "admin", ADMIN_PASSWORD, &host));

        // A signed push initialises the repository's trust data; a second tag adds to it.
        let one = format!("{gun}:1");
        let id_one = build(cli, &signer, temp.path(), 10 + i as u64 * 10, &one);
        let out = run(docker(cli, &signer, true).args(["push", &one]));
        assert!(String::from_utf8_lossy(&out.stdout).contains("Successfully signed"), "{cli}: {}", stdout(&out));
        let two = format!("{gun}:2");
        build(cli, &signer, temp.path(), 11 + i as u64 * 10, &two);
        run(docker(cli, &signer, true).args(["push", &two]));
        let signed_one = manifest_digest(&server, &repo, "1").await;
        let signed_two = manifest_digest(&server, &repo, "2").await;

        // `docker trust inspect` reads back both signed tags with their digests.
        let out = run(docker(cli, &signer, false).args(["trust", "inspect", &gun]));
        let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tags = inspect[0]["SignedTags"].as_array().unwrap();
        let digest_of = |t: &str| tags.iter().find(|x| x["SignedTag"] == t).map(|x| format!("sha256:{}", x["Digest"].as_str().unwrap()));
        assert_eq!(digest_of("1"), Some(signed_one.clone()), "{inspect}");
        assert_eq!(digest_of("2"), Some(signed_two.clone()), "{inspect}");

        // Tampering: an unsigned push over the signed tag moves the registry's tag only.
        build(cli, &signer, temp.path(), 12 + i as u64 * 10, &one);
        run(docker(cli, &signer, false).args(["push", &one]));
        assert_ne!(manifest_digest(&server, &repo, "1").await, signed_one);
        // An unsigned tag.
        let three = format!("{gun}:3");
        build(cli, &signer, temp.path(), 13 + i as u64 * 10, &three);
        run(docker(cli, &signer, false).args(["push", &three]));
        for reference in [&one, &two, &three] {
            let _ = docker(cli, &signer, false).args(["rmi", "-f", reference]).output();
        }
        let _ = docker(cli, &signer, false).args(["rmi", "-f", &id_one]).output();

        // A consumer that never saw the repository gets exactly the signed image.
        let consumer = temp.path().join(format!("consumer{i}"));
        std::fs::create_dir_all(&consumer).unwrap();
        assert!(docker_login(&|| docker(cli, &consumer, false), "admin", ADMIN_PASSWORD, &host));
        let out = run(docker(cli, &consumer, true).args(["pull", &one]));
        assert!(stdout(&out).contains(&signed_one), "{cli}: {}", stdout(&out));
        let pulled = stdout(&run(docker(cli, &consumer, false).args(["image", "inspect", "-f", "{{.Id}}", &one])));
        assert_eq!(pulled, id_one, "{cli}: the trusted pull must give the signed image");
        let refused = fails(&docker(cli, &consumer, true).args(["pull", &three]).output().unwrap());
        assert!(refused.contains("No valid trust data"), "{cli}: {refused}");

        // The notary CLI reads the same trust data, with Berth's CA verified.
        let notary_dir = temp.path().join(format!("notary{i}"));
        let out = run(notary(&server, &notary_dir).args(["list", &gun]));
        let listing = stdout(&out);
        assert!(
            listing.contains(signed_one.trim_start_matches("sha256:")) && listing.contains(signed_two.trim_start_matches("sha256:")),
            "{listing}"
        );

        // Rotating the timestamp key with the signer's keys publishes root version 2.
        run(notary(&server, &signer.join("trust")).args(["key", "rotate", &gun, "timestamp", "-r"]));
        for version in ["1", "2"] {
            let response = client().get(server.url(&format!("/v2/{gun}/_trust/tuf/{version}.root.json"))).send().await.unwrap();
            assert_eq!(response.status(), 200, "{version}.root.json");
        }
        let out = run(notary(&server, &temp.path().join(format!("notary-after{i}"))).args(["list", &gun]));
        assert!(stdout(&out).contains(signed_two.trim_start_matches("sha256:")));
        let _ = docker(cli, &consumer, false).args(["rmi", "-f", &one]).output();
        let out = run(docker(cli, &consumer, true).args(["pull", &two]));
        assert!(stdout(&out).contains(&signed_two), "{cli}: pull after rotation: {}", stdout(&out));

        // Delegations: a signer added with `docker trust signer add`, then `docker trust sign`.
        let keys = temp.path().join(format!("keys{i}"));
        std::fs::create_dir_all(&keys).unwrap();
        run(docker(cli, &signer, false).args(["trust", "key", "generate", "alice", "--dir"]).arg(&keys));
        run(docker(cli, &signer, false).args(["trust", "signer", "add", "--key"]).arg(keys.join("alice.pub")).args(["alice", &gun]));
        let four = format!("{gun}:4");
        build(cli, &signer, temp.path(), 14 + i as u64 * 10, &four);
        run(docker(cli, &signer, false).args(["trust", "sign", &four]));
        let signed_four = manifest_digest(&server, &repo, "4").await;
        let out = run(docker(cli, &signer, false).args(["trust", "inspect", &four]));
        let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tag = &inspect[0]["SignedTags"][0];
        assert_eq!(format!("sha256:{}", tag["Digest"].as_str().unwrap()), signed_four, "{inspect}");
        assert_eq!(tag["Signers"], serde_json::json!(["alice"]), "{inspect}");
        let out = run(docker(cli, &consumer, true).args(["pull", &four]));
        assert!(stdout(&out).contains(&signed_four), "{cli}: {}", stdout(&out));
        let _ = docker(cli, &consumer, false).args(["rmi", "-f", &four]).output();

        // The tags API reports the trust state; a signed tag cannot be deleted.
        let tags: serde_json::Value =
            client().get(server.url(&format!("/api/v0/repositories/{repo}/tags"))).send().await.unwrap().json().await.unwrap();
        let state = |t: &str| {
            let tag = tags.as_array().unwrap().iter().find(|x| x["name"] == t).unwrap();
            (tag["inNotary"].as_bool().unwrap(), tag["hashMismatch"].as_bool().unwrap())
        };
        assert_eq!((state("1"), state("2"), state("3")), ((true, true), (true, false), (false, false)), "{tags}");
        let trust: serde_json::Value =
            client().get(server.url(&format!("/api/v0/repositories/{repo}/tags/2/trust"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(trust["signedDigest"], signed_two.as_str(), "{trust}");
        assert_eq!(trust["signers"][0]["name"], "Repo Admin", "{trust}");
        // "Signed pulls only": pulls by tag answer for signed tags with the signed digest only.
        // Set on the repository with the first CLI, on its whole namespace with the second.
        let policy = serde_json::json!({"signedPullsOnly": true});
        let response = if i == 0 {
            client().patch(server.url(&format!("/api/v0/repositories/{repo}"))).json(&policy).send().await.unwrap()
        } else {
            client().put(server.url("/api/v0/repositoryNamespaces/e2e/signingPolicy")).json(&policy).send().await.unwrap()
        };
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["signedPullsOnly"], true);
        let pull = |reference: &str| {
            client()
                .get(server.url(&format!("/v2/{repo}/manifests/{reference}")))
                .header("accept", "application/vnd.docker.distribution.manifest.v2+json")
                .send()
        };
        assert_eq!(pull("2").await.unwrap().status(), 200);
        assert_eq!(pull("4").await.unwrap().status(), 200, "signed in targets/releases");
        let error = expect_error(pull("1").await.unwrap(), 403, "DENIED").await;
        assert!(error.to_string().contains("signed pulls only"), "{error}");
        expect_error(pull("3").await.unwrap(), 403, "DENIED").await;
        assert_eq!(pull(&signed_one).await.unwrap().status(), 200, "pulls by digest pass");
        let refused = fails(&docker(cli, &consumer, false).args(["pull", &three]).output().unwrap());
        assert!(refused.contains("signed pulls only"), "{cli}: {refused}");
        let _ = docker(cli, &consumer, false).args(["rmi", "-f", &two]).output();
        let out = run(docker(cli, &consumer, true).args(["pull", &two]));
        assert!(stdout(&out).contains(&signed_two), "{cli}: {}", stdout(&out));

        let tag_url = |t: &str| server.url(&format!("/api/v0/repositories/{repo}/tags/{t}"));
        expect_error(client().delete(tag_url("2")).send().await.unwrap(), 400, "TAG_IN_NOTARY").await;
        assert_eq!(client().delete(tag_url("3")).send().await.unwrap().status(), 204);
        // Nor through the registry API, by tag or by the digest its signature names.
        let v2 = |reference: &str| server.url(&format!("/v2/{repo}/manifests/{reference}"));
        let refused = expect_error(client().delete(v2("2")).send().await.unwrap(), 403, "DENIED").await;
        assert!(refused.to_string().contains("signed"), "{refused}");
        expect_error(client().delete(v2(&signed_two)).send().await.unwrap(), 403, "DENIED").await;
        expect_error(client().delete(v2(&signed_one)).send().await.unwrap(), 403, "DENIED").await;
        assert_eq!(pull(&signed_two).await.unwrap().status(), 200, "still there");
        // A second trust collection for the repository, under another of the registry's
        // names or under a host that is not the registry's, gets no key and holds no data.
        let port = host.rsplit(':').next().unwrap();
        let alias = |gun: &str| server.url(&format!("/v2/{gun}/_trust/tuf/timestamp.key"));
        expect_error(client().get(alias(&format!("127.0.0.1:{port}/{repo}"))).send().await.unwrap(), 409, "INVALID_GUN").await;
        expect_error(client().get(alias(&format!("evil.example.com/{repo}"))).send().await.unwrap(), 400, "INVALID_GUN").await;

        let root_url = server.url(&format!("/v2/{gun}/_trust/tuf/root.json"));
        if i == 0 {
            // `notary delete --remote` removes the trust data; the tag can go then.
            run(notary(&server, &signer.join("trust")).args(["delete", &gun, "--remote"]));
            assert_eq!(client().get(&root_url).send().await.unwrap().status(), 404);
            assert_eq!(client().delete(tag_url("2")).send().await.unwrap().status(), 204);
        } else {
            // Deleting the repository deletes its trust data.
            let response = client().delete(server.url(&format!("/api/v0/repositories/{repo}"))).send().await.unwrap();
            assert_eq!(response.status(), 204);
            assert_eq!(client().get(&root_url).send().await.unwrap().status(), 404);
        }
        let _ = docker(cli, &consumer, false).args(["rmi", "-f", &one, &two]).output();
    }
}

/// A multipart body as the trust clients send it: parts named `files`, filename = role.
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "4139d9berthtrustboundary";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn trust_endpoints_answer_with_notary_codes_and_leave_data_unchanged() {
    let server = Server::start();
    push_image(&server, "e2e/codes", "v1", 1).await;
    let gun = format!("{}/e2e/codes", server.https_localhost());
    let url = |file: &str| server.url(&format!("/v2/{gun}/_trust/tuf/{file}"));
    let post = |body: (String, Vec<u8>)| client().post(url("")).header("content-type", body.0).body(body.1).send();

    expect_error(client().get(url("root.json")).send().await.unwrap(), 404, "METADATA_NOT_FOUND").await;
    expect_error(client().get(url("2.targets.json")).send().await.unwrap(), 404, "METADATA_NOT_FOUND").await;
    expect_error(client().get(url("root.key")).send().await.unwrap(), 404, "METADATA_NOT_FOUND").await;
    expect_error(client().get(url("nonsense.json")).send().await.unwrap(), 404, "METADATA_NOT_FOUND").await;

    // Anonymous callers are challenged for the host-qualified scope, and get an anonymous token.
    let response = anonymous().get(url("root.json")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(&format!("scope=\"repository:{gun}:pull\"")), "{challenge}");
    let response = anonymous().get(server.url(&format!("/auth/token?service=berth&scope=repository:{gun}:pull"))).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // A token asked for with the trust client's host-qualified scope works on the trust routes.
    let token: serde_json::Value = client()
        .get(server.url(&format!("/auth/token?service=berth&scope=repository:{gun}:push,pull")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let key: serde_json::Value =
        anonymous().get(url("timestamp.key")).header("authorization", &bearer).send().await.unwrap().json().await.unwrap();
    assert_eq!(key["keytype"], "ed25519", "{key}");
    let again: serde_json::Value = client().get(url("timestamp.key")).send().await.unwrap().json().await.unwrap();
    assert_eq!(again, key, "the pending key is the same until rotated");
    let rotated: serde_json::Value = client().post(url("timestamp.key")).send().await.unwrap().json().await.unwrap();
    assert_ne!(rotated, key);

    let response = client().post(url("")).header("content-type", "application/json").body("{}").send().await.unwrap();
    expect_error(response, 400, "MALFORMED_UPLOAD").await;
    let response =
        client().post(url("")).header("content-type", "multipart/form-data; boundary=x").body("--x\r\ngarbage").send().await.unwrap();
    expect_error(response, 400, "MALFORMED_UPLOAD").await;
    let doc = br#"{"signed":{"_type":"Targets","expires":"2099-01-01T00:00:00Z","version":2,"targets":{}},"signatures":[]}"#;
    expect_error(post(multipart(&[("foo", doc)])).await.unwrap(), 400, "INVALID_ROLE").await;
    expect_error(post(multipart(&[("targets", b"not json")])).await.unwrap(), 400, "MALFORMED_JSON").await;
    let error = expect_error(post(multipart(&[("targets", doc)])).await.unwrap(), 400, "INVALID_UPDATE").await;
    assert_eq!(error["errors"][0]["detail"]["Name"], "ErrValidation", "{error}");
    let huge = vec![b' '; 17 << 20];
    expect_error(post(multipart(&[("targets", &huge)])).await.unwrap(), 400, "MALFORMED_UPLOAD").await;

    // Nothing was stored.
    expect_error(client().get(url("targets.json")).send().await.unwrap(), 404, "METADATA_NOT_FOUND").await;
    assert_eq!(client().delete(url("")).send().await.unwrap().status(), 200);
}

/// An ECDSA P-256 key as cosign uses it, with its PEM public key.
fn cosign_key() -> (aws_lc_rs::signature::EcdsaKeyPair, String) {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let der = pair.public_key().as_der().unwrap();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    );
    (pair, pem)
}

#[tokio::test]
async fn signed_pulls_only_accepts_a_cosign_referrer_from_a_configured_key() {
    let server = Server::start();
    let repo = "e2e/cosigned";
    let signed = push_image(&server, repo, "1", 71).await;
    let unsigned = push_image(&server, repo, "2", 72).await;
    let size = client().get(server.url(&format!("/v2/{repo}/manifests/{signed}"))).send().await.unwrap().bytes().await.unwrap().len();

    // A cosign signature of tag 1's manifest, stored as an OCI 1.1 referrer.
    let (pair, pem) = cosign_key();
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"{signed}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let signature = base64::engine::general_purpose::STANDARD
        .encode(pair.sign(&aws_lc_rs::rand::SystemRandom::new(), payload.as_bytes()).unwrap().as_ref());
    let payload_digest = push_blob(&server, repo, payload.as_bytes()).await;
    let empty = push_blob(&server, repo, b"{}").await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{payload_digest}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"{signature}"}}}}],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{signed}","size":{size}}}}}"#,
        payload.len()
    );
    let signature_manifest = digest(manifest.as_bytes());
    put_manifest(&server, repo, &signature_manifest, "application/vnd.oci.image.manifest.v1+json", &manifest).await;

    let settings = |body: serde_json::Value| client().patch(server.url(&format!("/api/v0/repositories/{repo}"))).json(&body).send();
    let pull = |tag: &str| client().get(server.url(&format!("/v2/{repo}/manifests/{tag}"))).send();
    assert_eq!(pull("1").await.unwrap().status(), 200, "no policy yet");
    assert_eq!(settings(serde_json::json!({"signedPullsOnly": true})).await.unwrap().status(), 200);
    // No key configured: the signature does not count.
    let error = expect_error(pull("1").await.unwrap(), 403, "DENIED").await;
    assert!(error.to_string().contains("signed pulls only"), "{error}");
    // Another key configured: still refused.
    let (_, other) = cosign_key();
    assert_eq!(settings(serde_json::json!({"signatureKeys": [other]})).await.unwrap().status(), 200);
    expect_error(pull("1").await.unwrap(), 403, "DENIED").await;
    // The signer's key configured: tag 1 passes, the unsigned tag 2 does not.
    assert_eq!(settings(serde_json::json!({"signatureKeys": [pem]})).await.unwrap().status(), 200);
    assert_eq!(pull("1").await.unwrap().status(), 200);
    expect_error(pull("2").await.unwrap(), 403, "DENIED").await;
    assert_eq!(pull(&unsigned).await.unwrap().status(), 200, "pulls by digest pass");
    // Keys that are not PEM public keys are refused.
    let response = settings(serde_json::json!({"signatureKeys": ["not a key"]})).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(pull("1").await.unwrap().status(), 200, "the configured keys are unchanged");
}

#[tokio::test]
async fn namespace_signed_pulls_accept_a_notation_signature_from_a_namespace_key() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let server = Server::start();
    let repo = "notated/app";
    let signed = push_image(&server, repo, "1", 81).await;
    push_image(&server, repo, "2", 82).await;
    let size = client().get(server.url(&format!("/v2/{repo}/manifests/{signed}"))).send().await.unwrap().bytes().await.unwrap().len();

    // A signing key, its certificate, and a JWS envelope over tag 1's manifest, as notation makes them.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let key = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["signer.example".to_owned()]).unwrap().self_signed(&key).unwrap();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(pair.public_key().as_der().unwrap().as_ref())
    );
    let protected = URL_SAFE_NO_PAD.encode(
        r#"{"alg":"ES256","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2026-11-27T00:00:00Z"}"#,
    );
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"targetArtifact":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{signed}","size":{size}}}}}"#
    ));
    let signature = URL_SAFE_NO_PAD.encode(pair.sign(&rng, format!("{protected}.{payload}").as_bytes()).unwrap().as_ref());
    let envelope = format!(
        r#"{{"payload":"{payload}","protected":"{protected}","header":{{"x5c":["{}"],"io.cncf.notary.signingAgent":"berth-test"}},"signature":"{signature}"}}"#,
        STANDARD.encode(certificate.der().as_ref())
    );
    let envelope_digest = push_blob(&server, repo, envelope.as_bytes()).await;
    let empty = push_blob(&server, repo, b"{}").await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/jose+json","digest":"{envelope_digest}","size":{}}}],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{signed}","size":{size}}}}}"#,
        envelope.len()
    );
    put_manifest(&server, repo, &digest(manifest.as_bytes()), "application/vnd.oci.image.manifest.v1+json", &manifest).await;

    let policy =
        |body: serde_json::Value| client().put(server.url("/api/v0/repositoryNamespaces/notated/signingPolicy")).json(&body).send();
    let pull = |tag: &str| client().get(server.url(&format!("/v2/{repo}/manifests/{tag}"))).send();
    assert_eq!(pull("1").await.unwrap().status(), 200, "no policy yet");
    assert_eq!(policy(serde_json::json!({"signedPullsOnly": true})).await.unwrap().status(), 200);
    let error = expect_error(pull("1").await.unwrap(), 403, "DENIED").await;
    assert!(error.to_string().contains("notation"), "{error}");
    // Someone else's key: refused.
    let (_, other) = cosign_key();
    assert_eq!(policy(serde_json::json!({"signedPullsOnly": true, "signatureKeys": [other]})).await.unwrap().status(), 200);
    expect_error(pull("1").await.unwrap(), 403, "DENIED").await;
    // The signer's key for the whole namespace: tag 1 passes, unsigned tag 2 does not.
    let set = policy(serde_json::json!({"signedPullsOnly": true, "signatureKeys": [pem]})).await.unwrap();
    let body: serde_json::Value = set.json().await.unwrap();
    assert_eq!(body["signatureKeys"][0], pem.as_str());
    assert_eq!(pull("1").await.unwrap().status(), 200);
    expect_error(pull("2").await.unwrap(), 403, "DENIED").await;
    // Not a key: refused, and the policy stays as it was.
    let bad = policy(serde_json::json!({"signedPullsOnly": true, "signatureKeys": ["nope"]})).await.unwrap();
    expect_error_v0(bad, 400).await;
    assert_eq!(pull("1").await.unwrap().status(), 200);
}

async fn expect_error_v0(response: reqwest::Response, status: u16) {
    assert_eq!(response.status(), status);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "INVALID_INPUT", "{body}");
}
