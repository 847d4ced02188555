//! `X-Request-Id`: the client's own when it is sane, else a new one, on
//! every response, and on the log lines of the request and of its job, in
//! the API and in the worker.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, eventually, images};

fn answered_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn log_lines(app: &TestApp, process: &str, needle: &str) -> Vec<String> {
    let path = app.logs.join(format!("{process}.log"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_clients_request_id_is_answered_and_logged_by_the_api_and_the_worker() {
    let app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(1)
        .env("AVATARS_LOG", "info")
        .start()
        .await;
    let response = app
        .client
        .put(app.url("/api/public/user/me/avatarBytes?wait=30"))
        .bearer_auth(app.token("rita"))
        .header("x-request-id", "edge-4bf92f3577b34da6")
        .body(images::png(64, 64))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(answered_id(&response), "edge-4bf92f3577b34da6");
    let body: Value = response.json().await.expect("json");
    let job_id = body["jobId"].as_str().expect("jobId");

    let api = log_lines(&app, "api", "edge-4bf92f3577b34da6");
    assert!(
        api.iter()
            .any(|line| line.contains("accepted") && line.contains(job_id)),
        "the API's acceptance is not logged with the request id: {api:?}"
    );
    assert!(api.iter().any(|line| line.contains("answered")), "{api:?}");
    // The worker logs the job's end just after the API hears of it.
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        "the worker logged nothing of the job",
        || {
            let found = log_lines(&app, "worker-1", job_id);
            async move {
                match found.iter().any(|line| line.contains("completed")) {
                    true => Ok(()),
                    false => Err(format!("{found:?}")),
                }
            }
        },
    )
    .await;
    let worker = log_lines(&app, "worker-1", job_id);
    assert!(
        worker
            .iter()
            .all(|line| line.contains("edge-4bf92f3577b34da6")),
        "a worker line of the job lacks its request id: {worker:?}"
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_an_odd_one_is_replaced() {
    let app = TestApp::spawn().await;
    // Refused before any handler, without a token.
    let refused = app
        .client
        .put(app.url("/api/public/user/me/avatarBytes"))
        .header("x-request-id", "two words")
        .send()
        .await
        .expect("request failed");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let made = answered_id(&refused);
    assert_ne!(made, "two words");
    assert_eq!(made.len(), 26, "not a ULID: {made}");
    let long = "r".repeat(65);
    for (header, path) in [(None, "/healthz"), (Some(long.as_str()), "/nowhere")] {
        let mut request = app.client.get(app.url(path));
        if let Some(value) = header {
            request = request.header("x-request-id", value);
        }
        let response = request.send().await.expect("request failed");
        let id = answered_id(&response);
        assert!(
            !id.is_empty() && Some(id.as_str()) != header,
            "{path}: {id}"
        );
    }
}
