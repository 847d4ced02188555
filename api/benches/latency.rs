//! Latency of the whole service, measured against references in the same run.
//!
//! Starts the release `avatar-api --workers 2` with local storage against
//! the Redis at `AVATARS_BENCH_REDIS_URL` (default 127.0.0.1:6379), then
//! sends `AVATARS_BENCH_JOBS` (default 1000) small synchronous PUTs one
//! after another, so every job meets idle workers, and reports:
//! - pick-up: from the job's acceptance (recorded by the enqueue script) to
//!   a worker starting it (recorded by the worker), both in microseconds;
//! - round trip: the client's time for the synchronous PUT, beside the
//!   same PUT to a second API that converts in its own process instead of
//!   in converter processes (the cage's cost), the two taking turns;
//!
//! and, as references, a Redis PING round trip, the conversion alone of the
//! same image, and the pick-up of apalis-redis 1.0 with a 1 s heartbeat
//! (40 tasks, each after 250 ms idle).
//!
//! With `AVATARS_TEST_CORPUS` set, it then queues `AVATARS_BENCH_BULK_JOBS`
//! (default 300) phone photos from the corpus in the bulk lane, each for a
//! user of its own, and measures the same synchronous PUT while that
//! backlog is being converted, next to one photo's conversion alone: the
//! goal is a p99 within the idle p99 plus one photo conversion.
//!
//! Run with `cargo bench -p avatar-api --bench latency`.

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};
use futures::StreamExt as _;
use support::{
    Killed, SECRET, admin_token, forget, report, report_head, small_jpeg, synchronous_put, token,
    wait_ready,
};

/// The pause before each job, so that it meets workers blocked waiting.
const IDLE_GAP: Duration = Duration::from_millis(5);

/// The pause before each apalis-redis task: its workers look for new tasks
/// right after finishing one, and otherwise only on their heartbeat.
const APALIS_IDLE_GAP: Duration = Duration::from_millis(250);

#[tokio::main]
async fn main() {
    let redis_url = std::env::var("AVATARS_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let jobs: usize = std::env::var("AVATARS_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let prefix = format!("bench-{}", ulid::Ulid::generate());
    let data_dir = std::env::temp_dir().join(&prefix);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let api = start_api(port, &redis_url, &prefix, &data_dir, false);
    // The reference for the cage: the same service converting in the API
    // process itself, under a prefix and folder of its own.
    let in_process_prefix = format!("{prefix}-in-process");
    let in_process_dir = std::env::temp_dir().join(&in_process_prefix);
    let in_process_port = free_port();
    let in_process_base = format!("http://127.0.0.1:{in_process_port}");
    let in_process_api = start_api(
        in_process_port,
        &redis_url,
        &in_process_prefix,
        &in_process_dir,
        true,
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    wait_ready(&http, &in_process_base).await;
    let redis = redis::Client::open(redis_url.as_str()).expect("redis url");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");

    let image = small_jpeg();
    let token = token("bench-user");
    let url = format!("{base}/api/public/user/me/avatarBytes");
    let in_process_url = format!("{in_process_base}/api/public/user/me/avatarBytes");
    // Warm up connections and caches.
    for _ in 0..20 {
        synchronous_put(&http, &url, &token, &image).await;
        synchronous_put(&http, &in_process_url, &token, &image).await;
    }

    let (mut pickup, mut round_trip) = (Vec::with_capacity(jobs), Vec::with_capacity(jobs));
    let mut in_process_round_trip = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        // Let the workers go idle, as between real requests; the two
        // services take turns, so that both see the same machine.
        tokio::time::sleep(IDLE_GAP).await;
        let (ms, _) = synchronous_put(&http, &in_process_url, &token, &image).await;
        in_process_round_trip.push(ms);
        tokio::time::sleep(IDLE_GAP).await;
        let (ms, body) = synchronous_put(&http, &url, &token, &image).await;
        round_trip.push(ms);
        let id = body["jobId"].as_str().expect("jobId");
        let fields: HashMap<String, u64> = redis::cmd("HGETALL")
            .arg(format!("{{{prefix}}}:job:{id}"))
            .query_async::<HashMap<String, String>>(&mut conn)
            .await
            .expect("record")
            .into_iter()
            .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
            .collect();
        pickup.push((fields["started_us"] - fields["accepted_us"]) as f64 / 1e3);
    }

    let mut ping = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let started = Instant::now();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .expect("ping");
        ping.push(started.elapsed().as_secs_f64() * 1e3);
    }

    let options = avatar_pipeline::Options::default();
    let mut convert = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let started = Instant::now();
        avatar_pipeline::convert(&image, &options).expect("convert");
        convert.push(started.elapsed().as_secs_f64() * 1e3);
    }

    let during_backlog = match avatar_testkit::corpus::dir("the bulk-backlog phase") {
        Some(corpus) => Some(
            during_bulk_backlog(
                &http, &base, &url, &token, &image, &corpus, &mut conn, &prefix,
            )
            .await,
        ),
        None => None,
    };

    let apalis_samples = apalis_redis_pickup(&redis_url, &prefix, 40).await;

    println!("\nlatency over {jobs} small jobs, idle workers (ms)\n");
    report_head();
    report("pick-up: accepted -> worker starts", pickup);
    report("round trip: synchronous PUT, local storage", round_trip);
    report(
        "reference: the same, converting in the API process",
        in_process_round_trip,
    );
    report("reference: Redis PING round trip", ping);
    report("reference: conversion alone, same image", convert);
    report(
        "reference: apalis-redis pick-up, 1 s heartbeat",
        apalis_samples,
    );
    if let Some((queued, round_trip, photo)) = during_backlog {
        println!("\nthe same PUT while {queued} bulk photos are converted (ms)\n");
        report("round trip: synchronous PUT, bulk backlog", round_trip);
        report("reference: one photo's conversion alone", photo);
    }

    drop(api);
    drop(in_process_api);
    forget(&mut conn, &prefix).await;
    forget(&mut conn, &in_process_prefix).await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let _ = std::fs::remove_dir_all(&in_process_dir);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// The release `avatar-api --workers 2` on `port`, with local storage in
/// `data_dir`; with `in_process`, converting in its own process instead
/// of in converter processes.
fn start_api(
    port: u16,
    redis_url: &str,
    prefix: &str,
    data_dir: &std::path::Path,
    in_process: bool,
) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_avatar-api"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "2"])
            .env("AVATARS_JWT_SECRET", SECRET)
            .env("AVATARS_REDIS_URL", redis_url)
            .env("AVATARS_REDIS_PREFIX", prefix)
            .env("AVATARS_DATA_DIR", data_dir)
            .env("AVATARS_LOG", "warn")
            .env("AVATARS_USER_RATE_PER_MINUTE", "0")
            .env("AVATARS_CONVERTER_IN_PROCESS", in_process.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start avatar-api"),
    )
}

/// Queues `AVATARS_BENCH_BULK_JOBS` corpus photos in the bulk lane, each
/// for its own user, then times the synchronous `url` PUT until the bulk
/// stream is empty. Returns how many were queued, the round trips, and
/// each photo's conversion time alone.
#[allow(clippy::too_many_arguments)]
async fn during_bulk_backlog(
    http: &reqwest::Client,
    base: &str,
    url: &str,
    token: &str,
    image: &[u8],
    corpus: &std::path::Path,
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> (usize, Vec<f64>, Vec<f64>) {
    let bulk_jobs: usize = std::env::var("AVATARS_BENCH_BULK_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let photos: Vec<Vec<u8>> = support::corpus_photos(corpus)
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let photo = support::conversion_times(&photos);
    let admin = admin_token("bench-importer");
    futures::stream::iter(0..bulk_jobs)
        .for_each_concurrent(8, |n| {
            let request = http
                .put(format!(
                    "{base}/api/public/user/bulk-{n}/avatarBytes?priority=bulk&wait=0"
                ))
                .bearer_auth(&admin)
                .body(photos[n % photos.len()].clone());
            async move {
                let response = request.send().await.expect("bulk put");
                assert_eq!(response.status(), 202, "a bulk PUT was not accepted");
            }
        })
        .await;
    let bulk_stream = format!("{{{prefix}}}:jobs:bulk");
    let mut round_trip = Vec::new();
    loop {
        let depth: u64 = redis::cmd("XLEN")
            .arg(&bulk_stream)
            .query_async(conn)
            .await
            .expect("xlen");
        if depth == 0 {
            break;
        }
        tokio::time::sleep(IDLE_GAP).await;
        let (ms, _) = synchronous_put(http, url, token, image).await;
        round_trip.push(ms);
    }
    (bulk_jobs, round_trip, photo)
}

/// Pick-up latency of apalis-redis: push one task at a time to a worker
/// idle for a while, and time until the handler starts.
async fn apalis_redis_pickup(redis_url: &str, prefix: &str, n: usize) -> Vec<f64> {
    let queue = format!("{prefix}-apalis-redis");
    let conn = apalis_redis::connect(redis_url).await.expect("redis");
    let config = Config::default()
        .queue(&queue)
        .heartbeat_interval(Duration::from_secs(1));
    let mut storage = RedisStorage::<u64>::new(conn.clone()).with_config(config.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let worker = WorkerBuilder::new(format!("{queue}-worker"))
        .backend(RedisStorage::<u64>::new(conn).with_config(config))
        .data(tx)
        .build(
            |_: u64, tx: Data<tokio::sync::mpsc::UnboundedSender<Instant>>| async move {
                let _ = tx.send(Instant::now());
                Ok::<(), BoxDynError>(())
            },
        );
    let handle = tokio::spawn(worker.run());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep(APALIS_IDLE_GAP).await;
        let pushed = Instant::now();
        storage.push(i as u64).await.expect("push");
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(started)) => samples.push((started - pushed).as_secs_f64() * 1e3),
            _ => {
                println!("apalis-redis: job {i} did not start within 10 s");
                break;
            }
        }
    }
    handle.abort();
    if samples.is_empty() {
        samples.push(f64::NAN);
    }
    samples
}
