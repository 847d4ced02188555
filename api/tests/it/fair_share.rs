//! One user cannot hold every job slot while others wait: a user's jobs
//! beyond AVATARS_USER_MAX_RUNNING are parked until one of them ends, and
//! then run in turn.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, eventually, images, source_server};

/// How long each of the busy user's jobs takes: its source answers slowly.
const SLOW: Duration = Duration::from_millis(1500);

async fn accepted_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    body["jobId"].as_str().expect("jobId").to_owned()
}

async fn status(app: &TestApp, id: &str) -> String {
    let body: Value = app.get_job("alice", id).await.json().await.expect("json");
    body["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_user_with_many_slow_jobs_leaves_a_slot_for_another() {
    // Two job slots; alice may run one job at a time (the default).
    let app = TestApp::spawn().await;
    let source = source_server::start(images::png(64, 64), SLOW).await;
    let mut alice = Vec::new();
    for _ in 0..6 {
        let response = app
            .put_url("alice", "me", "?wait=0", &format!("{source}/slow"))
            .await;
        alice.push(accepted_id(response).await);
    }
    // Bob's upload meets a free slot at once, though six of alice's jobs
    // were queued before it and each holds a slot for 1.5 s.
    let bob = app
        .put_bytes("bob", "me", "?wait=10", images::jpeg(64, 64))
        .await;
    assert_eq!(bob.status(), StatusCode::OK);
    let mut completed = 0;
    for id in &alice {
        if status(&app, id).await == "completed" {
            completed += 1;
        }
    }
    assert!(
        completed <= 1,
        "{completed} of alice's jobs ended before bob's: she held both slots"
    );
    // Her parked jobs all run in turn, and her last update wins.
    let last = alice.last().expect("six jobs").clone();
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        "alice's parked jobs did not all run",
        || {
            let app = &app;
            let alice = &alice;
            async move {
                let mut pending = 0;
                for id in alice {
                    if status(app, id).await != "completed" {
                        pending += 1;
                    }
                }
                if pending == 0 {
                    Ok(())
                } else {
                    Err(format!("{pending} not completed"))
                }
            }
        },
    )
    .await;
    let current: Value = app.current_avatar("alice", "me").await;
    let last_job = app.job_outcome("alice", &last).await;
    assert_eq!(current["avatarUrl"], last_job["avatarUrl"], "{current}");
}
