//! Health, nginx stub status and Prometheus metrics.

use crate::harness::*;

#[tokio::test]
async fn ping_health_status_and_metrics() {
    let server = Server::start();
    org(&server, "ns").await;
    let c = client();
    for path in ["/_ping", "/health"] {
        let response = c.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"Error": "", "Healthy": true}));
    }
    let base = c.get(server.url("/v2/")).send().await.unwrap();
    assert_eq!(base.headers()["docker-distribution-api-version"], "registry/2.0");
    assert!(base.headers().contains_key("x-request-id"));
    push_image(&server, "ns/app", "v1", 1).await;
    c.get(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap();
    c.post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();

    let status = c.get(server.url("/nginx_status")).send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = status.lines().collect();
    assert!(lines[0].starts_with("Active connections: "), "{status}");
    assert_eq!(lines[1], "server accepts handled requests");
    let counts: Vec<u64> = lines[2].split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert!(counts[0] >= 1 && counts[1] == counts[0] && counts[2] >= 9, "{status}");
    assert!(lines[3].starts_with("Reading: ") && lines[3].contains(" Writing: 1 ") && lines[3].contains("Waiting: "), "{status}");

    let metrics = c.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"berth_http_requests_total{handler="manifest",method="PUT",code="201"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"berth_http_request_duration_seconds_bucket{le="#), "{metrics}");
    assert!(metrics.contains("berth_uploads_in_progress 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("berth_http_received_bytes_total ") && !l.ends_with(" 0")), "{metrics}");
}

/// The value of the sample `line_start` (a name with its labels) in an exposition.
fn sample(metrics: &str, line_start: &str) -> u64 {
    let line = metrics.lines().find(|l| l.starts_with(&format!("{line_start} "))).unwrap_or_else(|| panic!("no {line_start} in {metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn metrics_count_what_the_registry_did() {
    let server = Server::start();
    let c = client();
    // Two images sharing nothing, one pulled twice (and once by HEAD, which is no pull),
    // one blob pulled.
    push_image(&server, "ns/app", "v1", 1).await;
    push_image(&server, "ns/other", "v1", 2).await;
    for _ in 0..2 {
        assert_eq!(c.get(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap().status(), 200);
    }
    assert_eq!(c.head(server.url("/v2/ns/app/manifests/v1")).send().await.unwrap().status(), 200);
    let config = r#"{"architecture":"amd64","os":"linux","seed":1}"#;
    assert_eq!(c.get(server.url(&format!("/v2/ns/app/blobs/{}", digest(config.as_bytes())))).send().await.unwrap().status(), 200);
    // A wrong password, a bearer token, an access token.
    assert_eq!(client_as("admin", "wrong").get(server.url("/v2/")).send().await.unwrap().status(), 401);
    assert_eq!(c.get(server.url("/auth/token?service=berth&scope=repository:ns/app:pull")).send().await.unwrap().status(), 200);
    access_token(&server, "admin", ADMIN_PASSWORD, "ci").await;

    // Answers whose length hyper writes (JSON, pages) count as sent bytes too.
    let sent_before = sample(&c.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap(), "berth_http_sent_bytes_total");
    let document = anonymous().get(server.url("/api/v0/openapi.json")).send().await.unwrap().bytes().await.unwrap();
    let metrics = c.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let sent = sample(&metrics, "berth_http_sent_bytes_total") - sent_before;
    assert!(sent >= document.len() as u64, "{sent} bytes counted for a {} byte answer", document.len());
    assert_eq!(sample(&metrics, r#"berth_trust_updates_total{result="refused"}"#), 0, "every series exists from the start");
    assert_eq!(sample(&metrics, r#"berth_registry_pushes_total{kind="manifest"}"#), 2);
    assert_eq!(sample(&metrics, r#"berth_registry_pushes_total{kind="blob"}"#), 4);
    assert_eq!(sample(&metrics, r#"berth_registry_pulls_total{kind="manifest"}"#), 2);
    assert_eq!(sample(&metrics, r#"berth_registry_pulls_total{kind="blob"}"#), 1);
    assert_eq!(sample(&metrics, "berth_repositories"), 2);
    assert_eq!(sample(&metrics, "berth_tags"), 2);
    assert_eq!(sample(&metrics, "berth_manifests"), 2);
    assert_eq!(sample(&metrics, "berth_blobs"), 4);
    let layers = 1001 + 1002; // random_bytes(1000 + seed % 100)
    let configs = config.len() + config.replace("seed\":1", "seed\":2").len();
    assert_eq!(sample(&metrics, "berth_storage_used_bytes"), (layers + configs) as u64);
    assert_eq!(sample(&metrics, r#"berth_authentications_total{credential="password",result="failed"}"#), 1);
    assert!(sample(&metrics, r#"berth_authentications_total{credential="password",result="ok"}"#) >= 10);
    assert_eq!(sample(&metrics, r#"berth_tokens_issued_total{kind="bearer"}"#), 1);
    assert_eq!(sample(&metrics, r#"berth_tokens_issued_total{kind="access_token"}"#), 1);
    assert_eq!(sample(&metrics, "berth_gc_running"), 0);
    assert_eq!(sample(&metrics, "berth_raft_leader"), 1);
    assert_eq!(metrics.matches("# EOF").count(), 1, "one exposition");
    // No label names a namespace, repository or user.
    assert!(!metrics.contains("ns/app") && !metrics.contains("\"admin\""), "{metrics}");
}

#[tokio::test]
async fn health_names_the_failing_part() {
    if filesystem_only("health_names_the_failing_part") {
        return;
    }
    let server = Server::start();
    // Storage that cannot be read any more.
    std::fs::rename(server.data_dir.join("storage/uploads"), server.data_dir.join("storage/gone")).unwrap();
    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["Healthy"], false);
    assert!(body["Error"].as_str().unwrap().starts_with("storage"), "{body}");
}
