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
    assert!(metrics.contains(r#"berth_http_requests_total{route="manifest",method="PUT",status="201"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"berth_http_request_duration_seconds_bucket{le="#), "{metrics}");
    assert!(metrics.contains("berth_uploads_in_progress 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("berth_http_received_bytes_total ") && !l.ends_with(" 0")), "{metrics}");
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
