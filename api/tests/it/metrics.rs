//! `GET /metrics` serves the Prometheus text format.

use reqwest::StatusCode;

use crate::support::{TestApp, images};

#[tokio::test]
async fn metrics_show_jobs_queue_depth_and_requests_by_route() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.put_bytes("alice", "me", "", images::png(64, 64))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.put_bytes("alice", "me", "", images::truncated_jpeg())
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("body");
    for needle in [
        "avatar_jobs_total{outcome=\"completed\"",
        "avatar_jobs_total{outcome=\"failed\",code=\"image_rejected\"}",
        "avatar_queue_depth{lane=\"interactive\"} 0",
        "avatar_queue_depth{lane=\"bulk\"} 0",
        "avatar_queue_oldest_seconds{lane=\"bulk\"} 0",
        "avatar_job_wait_seconds_bucket{lane=\"interactive\"",
        "avatar_job_wait_seconds_bucket",
        "avatar_http_requests_total{route=\"/api/public/user/{user_id}/avatarBytes\",method=\"PUT\",status=\"200\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(!text.contains("user/alice"), "a user id became a label");
}

/// The metric names the Prometheus rules and the Grafana dashboard of
/// `deploy/` use.
fn names_used_in_deploy() -> std::collections::BTreeSet<String> {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut names = std::collections::BTreeSet::new();
    for file in ["prometheus/rules.yml", "grafana/avatar-service.json"] {
        let path = deploy.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for (at, _) in text.match_indices("avatar_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            names.insert(name.trim_end_matches('_').to_owned());
        }
    }
    names
}

/// The metric names in a Prometheus text page.
fn exported(page: &str) -> std::collections::BTreeSet<String> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_metric_the_deploy_rules_and_dashboard_use_is_exported() {
    let receiver =
        crate::support::receiver::Receiver::start(crate::support::receiver::Behaviour::Accept)
            .await;
    let mut app = TestApp::builder()
        .in_process_workers(0)
        .env("AVATARS_WEBHOOK_URL", &receiver.to_string())
        .env(
            "AVATARS_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .start()
        .await;
    let metrics_port = crate::support::s3::free_port();
    app.add_worker_with(&[(
        "AVATARS_METRICS_LISTEN",
        &format!("127.0.0.1:{metrics_port}"),
    )]);
    // An upload and a URL import: every stage of a job runs.
    assert_eq!(
        app.put_bytes("stages", "me", "?wait=30", images::png(64, 64))
            .await
            .status(),
        StatusCode::OK
    );
    let origin =
        crate::support::source_server::start(images::jpeg(80, 60), std::time::Duration::ZERO).await;
    assert_eq!(
        app.put_url("stages", "me", "?wait=30", &format!("{origin}/image"))
            .await
            .status(),
        StatusCode::OK
    );
    receiver
        .wait_accepted(2, std::time::Duration::from_secs(30))
        .await;
    let page = |url: String| {
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("request failed")
                .text()
                .await
                .expect("body")
        }
    };
    let api = page(app.url("/metrics")).await;
    let worker = page(format!("http://127.0.0.1:{metrics_port}/metrics")).await;
    let mut all = exported(&api);
    all.extend(exported(&worker));
    let missing: Vec<String> = names_used_in_deploy()
        .into_iter()
        .filter(|name| {
            !["", "_bucket", "_count", "_sum"]
                .iter()
                .any(|suffix| all.contains(&format!("{name}{suffix}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/ uses metrics no process exports: {missing:?}\nexported: {all:?}"
    );
    for stage in ["fetch", "read", "decode", "resize", "encode", "store"] {
        assert!(
            worker.contains(&format!(
                "avatar_job_stage_seconds_count{{stage=\"{stage}\"}}"
            )),
            "no {stage} stage in:\n{worker}"
        );
    }
    assert!(worker.contains("avatar_job_slots 2"), "{worker}");
    assert!(worker.contains("avatar_redis_up 1"), "{worker}");
    assert!(api.contains("avatar_redis_up 1"), "{api}");
}
