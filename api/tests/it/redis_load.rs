//! What the service asks of Redis: commands per synchronous job and per
//! second while idle, read from a Redis server of the test's own with
//! `INFO commandstats`, so that no other test's commands are counted.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::redis_servers::OwnRedis;
use crate::support::{Storage, TestApp, images};

/// Synchronous PUTs counted.
const JOBS: usize = 60;

/// Most Redis commands one synchronous job may cost, those the scripts
/// run included: 26 measured (3 for the rate limit, 5 to enqueue, 1 to
/// read the result, 1 to read the job, 5 to start it, 11 to complete it).
const PER_JOB: f64 = 27.0;

/// Most Redis commands per second an idle process may cost.
const IDLE_PER_SECOND: f64 = 2.0;

/// The calls of each command since the statistics were last reset,
/// leaving out the test's own `INFO` and `CONFIG`.
fn command_calls(conn: &mut redis::Connection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .filter(|(name, _)| name != "info" && name != "config|resetstat")
        .collect()
}

fn reset(conn: &mut redis::Connection) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(conn)
        .expect("CONFIG RESETSTAT");
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

#[tokio::test]
async fn a_synchronous_job_and_an_idle_process_cost_redis_little() {
    let redis = OwnRedis::start(&[]);
    // Webhooks on (callbacks only), so the delivery pools are counted.
    let mut app = TestApp::builder()
        .redis_url(&redis.url())
        .storage(Storage::Local)
        .in_process_workers(0)
        .env(
            "AVATARS_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .env("AVATARS_PUBLIC_BASE_URL", "https://avatars.example.com")
        .start()
        .await;
    for _ in 0..2 {
        app.add_worker_with(&[("AVATARS_CONCURRENCY", "1")]);
    }
    let body = images::png(64, 48);
    // Both workers are up and have read once.
    for n in 0..4 {
        let response = app.put_bytes("warm", "me", "?wait=30", body.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "warm-up {n}");
    }
    let mut conn = redis::Client::open(redis.url())
        .expect("redis url")
        .get_connection()
        .expect("redis");

    reset(&mut conn);
    for n in 0..JOBS {
        let response = app
            .put_bytes(&format!("user-{n}"), "me", "?wait=30", body.clone())
            .await;
        assert_eq!(response.status(), StatusCode::OK, "job {n}");
    }
    let busy = command_calls(&mut conn);
    let per_job = total(&busy) as f64 / JOBS as f64;

    tokio::time::sleep(Duration::from_secs(2)).await;
    reset(&mut conn);
    let idle_for = Duration::from_secs(10);
    tokio::time::sleep(idle_for).await;
    let idle = command_calls(&mut conn);
    // One API and two worker processes.
    let per_process_second = total(&idle) as f64 / idle_for.as_secs_f64() / 3.0;

    eprintln!("per job: {per_job:.1} commands {busy:?}");
    eprintln!("idle: {per_process_second:.2} commands/s per process {idle:?}");
    assert!(
        per_job <= PER_JOB,
        "{per_job:.1} Redis commands per synchronous job, more than {PER_JOB}: {busy:?}"
    );
    assert!(
        per_process_second <= IDLE_PER_SECOND,
        "{per_process_second:.2} Redis commands per second per idle process, more than {IDLE_PER_SECOND}: {idle:?}"
    );
}
