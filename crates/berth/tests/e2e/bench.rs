//! The benchmark tool (`berth-bench`) against a test server: every scenario of the reference
//! workload with a tiny workload, through the token flow, and the web UI's pages signed in through
//! the login form, so the tool keeps working. Nothing is timed.

use crate::harness::{ADMIN_PASSWORD, Server};

fn bench(server: &Server, extra: &[&str]) {
    let pid = server.pid().to_string();
    let mut args = vec![
        "berth-bench",
        "--url",
        &server.http,
        "--user",
        "admin",
        "--password",
        ADMIN_PASSWORD,
        "--server-pid",
        &pid,
        "--max-seconds",
        "300",
        "--namespace",
        "admin",
    ];
    args.extend_from_slice(extra);
    berth_bench::main_with_args(args).unwrap();
}

#[test]
fn the_benchmark_tool_runs_every_scenario_on_a_tiny_workload() {
    let server = Server::start();
    let json = tempfile::NamedTempFile::new().unwrap();
    bench(
        &server,
        &[
            "--scenario",
            "all,ui",
            "--blob-mib",
            "3",
            "--chunk-mib",
            "1",
            "--images",
            "6",
            "--concurrency",
            "3",
            "--connections",
            "3",
            "--duration",
            "0.5",
            "--tags",
            "25",
            "--tags-page",
            "10",
            "--repos",
            "12",
            "--catalog-page",
            "5",
            "--json",
            json.path().to_str().unwrap(),
        ],
    );
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(json.path()).unwrap()).unwrap();
    let scenarios: Vec<&str> = results.as_array().unwrap().iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    assert_eq!(scenarios, [berth_bench::SCENARIOS, berth_bench::UI_SCENARIOS].concat());
    assert!(results.as_array().unwrap().iter().all(|r| r["auth"] == "token" && r["figure"]["value"].as_f64().unwrap() > 0.0));
}

#[test]
fn blobs_go_over_https_with_http_1_1_and_http_2_and_pull_back_verified() {
    let server = Server::start();
    let ca = server.data_dir.join("tls/ca.crt");
    for http in ["1.1", "2"] {
        let json = tempfile::NamedTempFile::new().unwrap();
        let args = [
            "berth-bench",
            "--url",
            &server.https,
            "--cacert",
            ca.to_str().unwrap(),
            "--http",
            http,
            "--user",
            "admin",
            "--password",
            ADMIN_PASSWORD,
            "--server-pid",
            &server.pid().to_string(),
            "--namespace",
            "admin",
            "--scenario",
            "blob_push_large,blob_pull_large",
            // Several of the server's 1 MiB read pieces and HTTP/2 windows, and not a multiple of them.
            "--blob-mib",
            "5",
            "--seed",
            if http == "2" { "8" } else { "9" },
            "--json",
            json.path().to_str().unwrap(),
        ];
        // The pull checks the body's SHA-256 against the pushed blob.
        berth_bench::main_with_args(args).unwrap();
        let results: serde_json::Value = serde_json::from_slice(&std::fs::read(json.path()).unwrap()).unwrap();
        for result in results.as_array().unwrap() {
            assert!(result["figure"]["value"].as_f64().unwrap() > 0.0, "{result}");
            assert!(result["server_cpu_s_per_gib"].as_f64().is_some(), "transfers give CPU per GiB: {result}");
        }
    }
}

#[test]
fn the_ui_scenarios_refuse_a_peer_without_pages() {
    let server = Server::start();
    let args = ["berth-bench", "--url", &server.http, "--user", "admin", "--password", ADMIN_PASSWORD, "--compare", &server.http];
    let error = berth_bench::main_with_args(args.iter().chain(&["--scenario", "ui_tags"])).unwrap_err().to_string();
    assert!(error.contains("no peer"), "{error}");
}
