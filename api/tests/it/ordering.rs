//! When updates for one user overlap, the one accepted last wins, whatever
//! order the workers finish them in.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, eventually, images, source_server};

#[tokio::test]
async fn the_update_accepted_last_stays_current_when_an_earlier_one_finishes_after_it() {
    // No cap on one user's running jobs, so that both of alice's run at
    // once and finish out of order.
    let app = TestApp::builder()
        .in_process_workers(2)
        .env("AVATARS_USER_MAX_RUNNING", "0")
        .start()
        .await;
    let source = source_server::start(images::png(400, 400), Duration::from_secs(2)).await;

    // A is accepted first but its source is slow; B is accepted second and
    // finishes first.
    let a = app
        .put_url("alice", "me", "?wait=0", &format!("{source}/slow"))
        .await;
    assert_eq!(a.status(), StatusCode::ACCEPTED);
    let a: Value = a.json().await.expect("json");
    let b = app
        .put_bytes("alice", "me", "", images::jpeg(300, 300))
        .await;
    assert_eq!(b.status(), StatusCode::OK);
    let b: Value = b.json().await.expect("json");

    let a_job = app
        .job_outcome("alice", a["jobId"].as_str().expect("jobId"))
        .await;
    assert_eq!(a_job["status"], "completed", "{a_job}");
    let a_updated = a_job["updatedAt"].as_str().expect("updatedAt").to_owned();
    let b_job = app
        .job_outcome("alice", b["jobId"].as_str().expect("jobId"))
        .await;
    assert!(
        a_updated.as_str() > b_job["updatedAt"].as_str().expect("updatedAt"),
        "A did not finish last"
    );

    let current: Value = app.current_avatar("alice", "me").await;
    assert_eq!(
        current["avatarUrl"], b["avatarUrl"],
        "A, accepted first, replaced B"
    );
    assert_ne!(a_job["avatarUrl"], b["avatarUrl"]);
}

#[tokio::test]
async fn many_updates_accepted_in_order_leave_the_last_one_current() {
    let app = TestApp::builder().in_process_workers(4).start().await;
    let mut last = None;
    for i in 0..12 {
        let response = app
            .put_bytes("bob", "me", "?wait=0", images::png(40 + i, 40 + i))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.expect("json");
        last = Some(body["jobId"].as_str().expect("jobId").to_owned());
    }
    let last = last.expect("a job");
    let job = app.job_outcome("bob", &last).await;
    assert_eq!(job["status"], "completed");
    // Earlier jobs may still be finishing; none of them may take over.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(50),
        "earlier jobs never ended",
        || async {
            match pending_jobs(&app).await {
                0 => Ok(()),
                depth => Err(format!("{depth} still pending")),
            }
        },
    )
    .await;
    let current: Value = app.current_avatar("bob", "me").await;
    assert_eq!(current["avatarUrl"], job["avatarUrl"]);
}

/// Jobs still in the test's stream.
async fn pending_jobs(app: &TestApp) -> u64 {
    let mut conn = app.redis().await;
    redis::cmd("XLEN")
        .arg(app.key("jobs"))
        .query_async(&mut conn)
        .await
        .expect("xlen")
}
