//! Two lanes: interactive work always goes first, bulk work (a PUT with
//! `priority=bulk`) uses the slots that are left and is never starved.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, assert_error, eventually, images, source_server};

/// How long each bulk job holds its slot: its source answers slowly.
const SLOW: Duration = Duration::from_millis(1500);

async fn accepted_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    body["jobId"].as_str().expect("jobId").to_owned()
}

async fn completed(app: &TestApp, jobs: &[(String, String)]) -> usize {
    let mut done = 0;
    for (user, id) in jobs {
        let job: Value = app.get_job(user, id).await.json().await.expect("json");
        if job["status"] == "completed" {
            done += 1;
        }
    }
    done
}

#[tokio::test]
async fn an_interactive_upload_goes_before_a_queued_bulk_backlog() {
    let app = TestApp::spawn().await;
    let source = source_server::start(images::png(64, 64), SLOW).await;
    let mut bulk = Vec::new();
    for n in 0..8 {
        let user = format!("importer-{n}");
        let response = app
            .put_url(
                &user,
                "me",
                "?wait=0&priority=bulk",
                &format!("{source}/slow"),
            )
            .await;
        bulk.push((user.clone(), accepted_id(response).await));
    }
    // Both slots hold a bulk job; the upload waits at most for one of them.
    let upload = app
        .put_bytes("alice", "me", "?wait=10", images::jpeg(64, 64))
        .await;
    assert_eq!(upload.status(), StatusCode::OK);
    let done = completed(&app, &bulk).await;
    assert!(
        done <= 3,
        "{done} of 8 bulk jobs ended before the interactive upload: it waited behind them"
    );
    // The bulk lane is not starved: all of it ends.
    eventually(
        Duration::from_secs(40),
        Duration::from_millis(200),
        "the bulk backlog did not drain",
        || {
            let (app, bulk) = (&app, &bulk);
            async move {
                match completed(app, bulk).await {
                    8 => Ok(()),
                    n => Err(format!("{n} of 8 completed")),
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn jobs_waiting_on_a_slow_origin_hold_no_conversion_slot() {
    let app = TestApp::builder().in_process_workers(1).start().await;
    let source = source_server::start(images::png(64, 64), Duration::from_secs(4)).await;
    let mut bulk = Vec::new();
    for n in 0..3 {
        let user = format!("slow-origin-{n}");
        let response = app
            .put_url(
                &user,
                "me",
                "?wait=0&priority=bulk",
                &format!("{source}/slow/{n}"),
            )
            .await;
        bulk.push((user.clone(), accepted_id(response).await));
    }
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        "the bulk jobs did not all start fetching",
        || async {
            match source.hits_under("/slow/") {
                3 => Ok(()),
                n => Err(format!("{n} of 3 fetching")),
            }
        },
    )
    .await;
    // Three fetches at once on one conversion slot, and the slot is free
    // for the upload while they wait.
    let upload = app
        .put_bytes("alice", "me", "?wait=10", images::jpeg(64, 64))
        .await;
    assert_eq!(upload.status(), StatusCode::OK);
    assert_eq!(
        completed(&app, &bulk).await,
        0,
        "the upload waited for a fetch"
    );
}

#[tokio::test]
async fn an_unknown_priority_is_refused_with_400() {
    let app = TestApp::spawn().await;
    let response = app
        .put_bytes("alice", "me", "?priority=urgent", images::jpeg(16, 16))
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(message.contains("interactive or bulk"), "{message}");
}
