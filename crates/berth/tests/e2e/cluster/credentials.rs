//! Credentials across replicas: a password change or a token revocation made through one
//! replica applies on the others as soon as they apply the command, whatever they had
//! cached (a checked password is remembered for a minute).

use std::time::{Duration, Instant};

use super::*;

/// Waits (up to 2 s) until `user:secret` gets `status` on `server`.
async fn until(server: &Server, user: &str, secret: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let got = client_as(user, secret).get(server.url("/v2/")).send().await.unwrap().status().as_u16();
        if got == status {
            return;
        }
        assert!(Instant::now() < deadline, "{user} still gets {got} on {}, not {status}", server.http);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_changes_and_revocations_apply_on_every_replica() {
    let _one = exclusive().await;
    let cluster = Cluster::start(3, false).await;
    let made = client()
        .post(cluster.server(0).url("/api/v0/accounts"))
        .json(&serde_json::json!({"name": "erin", "password": "erin-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let (secret, id) = access_token(cluster.server(0), "erin", "erin-password-1", "laptop").await;
    // Every replica has checked (and cached) the password and the token.
    for i in cluster.live() {
        until(cluster.server(i), "erin", "erin-password-1", 200).await;
        until(cluster.server(i), "erin", &secret, 200).await;
    }
    // The password changes through one replica: the others refuse the old one at once.
    let changed = client()
        .patch(cluster.server(1).url("/api/v0/accounts/erin"))
        .json(&serde_json::json!({"password": "erin-password-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    for i in cluster.live() {
        until(cluster.server(i), "erin", "erin-password-1", 401).await;
        until(cluster.server(i), "erin", "erin-password-2", 200).await;
    }
    // The token is revoked through another: no replica takes it any more.
    let revoked = client().delete(cluster.server(2).url(&format!("/api/v0/accounts/erin/tokens/{id}"))).send().await.unwrap();
    assert_eq!(revoked.status(), 204);
    for i in cluster.live() {
        until(cluster.server(i), "erin", &secret, 401).await;
    }
}
