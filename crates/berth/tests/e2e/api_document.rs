//! The OpenAPI document as its users rely on it: every operation it names exists, every
//! answer has a schema, the page people read shows it, and a client generated from it
//! (openapi-python-client) drives a whole session, each answer parsing into the model the
//! document names (`openapi_client.py`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

async fn document(server: &Server) -> Value {
    let response = anonymous().get(server.url("/api/v0/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_documented_operation_exists_and_says_what_it_answers() {
    let server = Server::start();
    let doc = document(&server).await;
    assert_eq!(doc["components"]["securitySchemes"]["basic"]["scheme"], "basic", "{}", doc["components"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let mut ids = std::collections::HashSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} is not unique");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("default"), "{method} {path}: no default (error) answer");
            for (status, answer) in responses.iter().filter(|(s, _)| s.starts_with('2') && *s != "204" && *s != "202") {
                assert!(answer["content"].as_object().is_some_and(|c| !c.is_empty()), "{method} {path} {status}: no body schema");
            }
            // The operation exists: an anonymous call is refused by it, never by the
            // fallback that answers paths and methods with no operation.
            let concrete = path.replace(['{', '}'], "");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = anonymous().request(method.clone(), server.url(&concrete)).send().await.unwrap();
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap();
            assert!(
                !body.contains("no such API operation") && !body.contains("does not take"),
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
    assert!(count >= 66, "{count} operations");
    // Account operations are documented under DTR's /enzi/v0 too.
    assert!(doc["paths"]["/enzi/v0/accounts/{name}"]["get"].is_object());

    // The page people read.
    let page = anonymous().get(server.url("/api/v0/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    for shown in ["accounts_create", "/api/v0/repositories/{ns}/{repo}/teamAccess/{team}", "ErrorBody", "RepositoryPage"] {
        assert!(html.contains(shown), "the docs page lacks {shown}");
    }
}

/// openapi-python-client and the Python that runs its clients, from the virtual
/// environment `scripts/test.sh` makes (`BERTH_OPENAPI_VENV`, default
/// `~/.cache/berth-openapi`).
fn generator() -> Option<PathBuf> {
    let venv = std::env::var_os("BERTH_OPENAPI_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/berth-openapi")))?;
    let bin = venv.join("bin");
    if client_available(bin.join("openapi-python-client").to_str()?, &["--version"]) { Some(bin) } else { None }
}

#[tokio::test]
async fn a_client_generated_from_the_document_drives_the_api() {
    let Some(bin) = generator() else { return };
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, serde_json::to_vec(&document(&server).await).unwrap()).unwrap();
    let generated = Command::new(bin.join("openapi-python-client"))
        .args(["generate", "--meta", "none", "--path"])
        .arg(&spec)
        .arg("--output-path")
        .arg(dir.path().join("berth_api_client"))
        .output()
        .unwrap();
    assert!(generated.status.success(), "generating: {}", String::from_utf8_lossy(&generated.stderr));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/openapi_client.py");
    let run = Command::new(bin.join("python")).arg(script).arg(dir.path()).arg(&server.http).arg(ADMIN_PASSWORD).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the generated client failed:\n{out}\n{err}");
    assert!(out.contains("parsed every answer"), "{out}");
}
