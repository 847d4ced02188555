//! The service on the Redis deployments operators run besides a single
//! server: a Redis Cluster of three primaries (each key under the
//! deployment's hash tag, so every script runs in one slot), one whose
//! primary dies and is replaced by its replica mid-run (the API answering
//! for a job only once a replica holds it), a server that speaks only
//! TLS, with a private certificate authority, and a cluster that does.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::receiver::{Behaviour, Receiver};
use crate::support::redis_servers::{RedisCluster, TlsRedis};
use crate::support::{TestApp, eventually, images, source_server};
use crate::webhooks::SECRET;

async fn on_cluster(cluster: &RedisCluster, receiver: Option<&Receiver>) -> TestApp {
    let mut builder = TestApp::builder()
        .redis_url(&cluster.url())
        .env("AVATARS_REDIS_CLUSTER", "true")
        .env("AVATARS_USER_MAX_RUNNING", "0");
    if cluster.replicas() > 0 {
        builder = builder.env("AVATARS_REDIS_WAIT_REPLICAS", "1");
    }
    if let Some(receiver) = receiver {
        builder = builder
            .env("AVATARS_WEBHOOK_URL", &receiver.to_string())
            .env("AVATARS_WEBHOOK_SECRET", SECRET);
    }
    builder.start().await
}

fn job_id(body: &Value) -> &str {
    body["jobId"].as_str().expect("jobId")
}

#[tokio::test]
async fn on_a_redis_cluster_uploads_complete_and_the_update_accepted_last_wins() {
    let cluster = RedisCluster::start(0);
    let app = on_cluster(&cluster, None).await;
    let response = app
        .put_bytes("carol", "me", "?wait=20", images::png(300, 200))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let first: Value = response.json().await.expect("json");
    assert_eq!(
        app.current_avatar("carol", "me").await["avatarUrl"],
        first["avatarUrl"]
    );

    // A is accepted first but its source is slow; B, accepted second,
    // finishes first and stays current.
    let source = source_server::start(images::png(400, 400), Duration::from_secs(2)).await;
    let a = app
        .put_url("carol", "me", "?wait=0", &format!("{source}/slow"))
        .await;
    assert_eq!(a.status(), StatusCode::ACCEPTED);
    let a: Value = a.json().await.expect("json");
    let b = app
        .put_bytes("carol", "me", "?wait=20", images::jpeg(300, 300))
        .await;
    assert_eq!(b.status(), StatusCode::OK);
    let b: Value = b.json().await.expect("json");
    let a_job = app.job_outcome("carol", job_id(&a)).await;
    assert_eq!(a_job["status"], "completed", "{a_job}");
    assert_eq!(
        app.current_avatar("carol", "me").await["avatarUrl"],
        b["avatarUrl"]
    );
}

#[tokio::test]
async fn on_a_redis_cluster_an_import_fetches_a_shared_url_once_and_its_webhooks_arrive() {
    let cluster = RedisCluster::start(0);
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = on_cluster(&cluster, Some(&receiver)).await;
    let origin = source_server::start(images::jpeg(600, 400), Duration::ZERO).await;
    let shared = format!("{origin}/image/default-picture");
    let items: Vec<Value> = (0..9)
        .map(|n| match n % 3 {
            0 => json!({"userId": format!("own-{n}"), "avatarUrl": format!("{origin}/image/{n}")}),
            _ => json!({"userId": format!("default-{n}"), "avatarUrl": shared}),
        })
        .collect();
    let response = app.post_import(&json!({"items": items})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    let id = body["importId"].as_str().expect("importId");
    let done = app.import_outcome(id).await;
    assert_eq!(done["completed"], 9, "{done}");
    assert_eq!(origin.hits("/image/default-picture"), 1);
    for n in (0..9).filter(|n| n % 3 != 0) {
        let current = app.current_avatar("anyone", &format!("default-{n}")).await;
        assert!(current["avatarUrl"].is_string(), "{current}");
    }
    // Nine avatar.updated and one import.completed.
    let delivered = receiver.wait_accepted(10, Duration::from_secs(30)).await;
    let types: Vec<String> = delivered
        .iter()
        .map(|d| d.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "import.completed").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "avatar.updated").count(),
        9,
        "{types:?}"
    );
}

#[tokio::test]
async fn a_primary_killed_mid_run_is_replaced_by_its_replica_and_no_accepted_job_is_lost() {
    let mut cluster = RedisCluster::start(1);
    let app = on_cluster(&cluster, None).await;
    let tag = format!("{{{}}}", app.prefix);
    let source = source_server::start(images::png(200, 200), Duration::from_millis(200)).await;
    let mut accepted = Vec::new();
    for n in 0..10 {
        let user = format!("failover-{n}");
        let response = app
            .put_url(&user, "me", "?wait=0", &format!("{source}/slow/{n}"))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.expect("json");
        accepted.push((user, job_id(&body).to_owned()));
    }
    let primary = cluster.primary_of(&tag);
    cluster.kill(primary);
    let promoted = cluster.wait_for_failover(&tag, primary);
    assert_ne!(promoted, primary);
    // A job counts as accepted once a replica holds it
    // (AVATARS_REDIS_WAIT_REPLICAS=1): the killed node comes back as the
    // promoted one's replica, as an operator would replace it.
    cluster.restart(primary);
    // Accepted after the failover, as soon as the API answers again.
    for n in 10..15 {
        let user = format!("failover-{n}");
        let body: Value = eventually(
            Duration::from_secs(30),
            Duration::from_millis(200),
            "the API did not accept jobs after the failover",
            || async {
                let response = app
                    .put_url(&user, "me", "?wait=0", &format!("{source}/slow/{n}"))
                    .await;
                match response.status() {
                    StatusCode::ACCEPTED => Ok(response.json::<Value>().await.expect("json")),
                    other => Err(other.to_string()),
                }
            },
        )
        .await;
        accepted.push((user, job_id(&body).to_owned()));
    }
    for (user, job) in &accepted {
        let outcome = app.job_outcome(user, job).await;
        assert_eq!(outcome["status"], "completed", "{outcome}");
        let current = app.current_avatar(user, "me").await;
        assert_eq!(current["avatarUrl"], outcome["avatarUrl"], "{user}");
    }
}

#[tokio::test]
async fn over_tls_with_a_private_certificate_authority_uploads_complete() {
    let server = TlsRedis::start();
    let app = TestApp::builder()
        .redis_url(&server.url())
        .env(
            "AVATARS_REDIS_CA_FILE",
            &server.ca_file().display().to_string(),
        )
        .start()
        .await;
    let response = app
        .put_bytes("tina", "me", "?wait=20", images::png(300, 200))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        app.current_avatar("tina", "me").await["avatarUrl"],
        body["avatarUrl"]
    );
}

#[tokio::test]
async fn on_a_redis_cluster_over_tls_uploads_complete_and_their_webhooks_arrive() {
    let cluster = RedisCluster::start_tls();
    let receiver = Receiver::start(Behaviour::Accept).await;
    let app = TestApp::builder()
        .redis_url(&cluster.url())
        .env("AVATARS_REDIS_CLUSTER", "true")
        .env(
            "AVATARS_REDIS_CA_FILE",
            &cluster.ca_file().display().to_string(),
        )
        .env("AVATARS_WEBHOOK_URL", &receiver.to_string())
        .env("AVATARS_WEBHOOK_SECRET", SECRET)
        .start()
        .await;
    assert!(cluster.url().starts_with("rediss://"));
    let response = app
        .put_bytes("tess", "me", "?wait=20", images::png(300, 200))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        app.current_avatar("tess", "me").await["avatarUrl"],
        body["avatarUrl"]
    );
    // Pub/sub and the pools' wake-ups work over it too: the event arrives.
    let event = receiver.wait_accepted(1, Duration::from_secs(30)).await[0].json();
    assert_eq!(event["type"], "avatar.updated", "{event}");
    assert_eq!(event["data"]["userId"], "tess");
}
