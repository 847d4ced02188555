//! Hostile image bytes through the running service: every file of the
//! corpus's `edge` folder (named by AVATARS_TEST_CORPUS) and a few thousand
//! deterministic mutations of small generated images. Afterwards every
//! job has ended, completed or failed, and every worker is alive and still
//! converts a good image.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Storage, TestApp, eventually, images};

/// Requests in flight at once.
const CONCURRENCY: usize = 16;
/// Mutations of each generated image.
const MUTATIONS_PER_IMAGE: usize = 250;

/// xorshift64*: the same mutations on every run.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `source` with its first 16 bytes kept (so most still sniff as an
    /// image and reach a worker) and the rest damaged: bytes overwritten,
    /// runs repeated, or the tail cut.
    fn mutate(&mut self, source: &[u8]) -> Vec<u8> {
        let mut bytes = source.to_vec();
        let keep = 16.min(bytes.len());
        for _ in 0..1 + self.below(4) {
            let span = bytes.len() - keep;
            if span == 0 {
                break;
            }
            match self.below(4) {
                0 | 1 => {
                    for _ in 0..1 + self.below(8) {
                        let at = keep + self.below(span);
                        bytes[at] = self.next() as u8;
                    }
                }
                2 => {
                    let at = keep + self.below(span);
                    let len = self.below(64).min(bytes.len() - at);
                    let run = bytes[at..at + len].to_vec();
                    bytes.splice(at..at, run);
                }
                _ => bytes.truncate(keep + self.below(span)),
            }
        }
        bytes
    }
}

fn edge_corpus() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = crate::support::corpus::dir("hostile_images_end_their_jobs")?.join("edge");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e != "md"))
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a corpus file");
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    Some(files)
}

fn mutated_images() -> Vec<(String, Vec<u8>)> {
    let sources = [
        ("jpeg", images::jpeg(48, 40)),
        ("png", images::png(40, 48)),
        ("webp", images::webp(32, 32)),
        ("gif", images::gif(40, 24)),
        ("transparent png", images::transparent_png(24, 40)),
        ("progressive-ish jpeg", images::jpeg(120, 80)),
        ("large png", images::png(160, 120)),
        ("large gif", images::gif(96, 96)),
    ];
    let mut mutator = Mutator(0x5EC0_417E_D0C5_1DE5);
    sources
        .iter()
        .flat_map(|(name, bytes)| {
            (0..MUTATIONS_PER_IMAGE)
                .map(|i| (format!("{name} mutation {i}"), mutator.mutate(bytes)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Submits `body` without waiting; the job id if a job was made. Refusals
/// before any job must be 4xx.
async fn submit(app: &TestApp, token: &str, name: &str, body: Vec<u8>) -> Option<String> {
    let response = app
        .client
        .put(app.url("/api/public/user/me/avatarBytes?wait=0"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("request failed");
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    match status {
        StatusCode::ACCEPTED => Some(answer["jobId"].as_str().expect("jobId").to_owned()),
        s if s.is_client_error() => {
            assert!(answer["error"]["code"].is_string(), "{name}: {answer}");
            None
        }
        s => panic!("{name}: answered {s} {answer}"),
    }
}

/// Polls `id` until it has ended, at the latest by `deadline`; its final
/// status.
async fn final_status(app: &TestApp, token: &str, id: &str, deadline: Instant) -> String {
    eventually(
        deadline.saturating_duration_since(Instant::now()),
        Duration::from_millis(100),
        &format!("job {id} did not end"),
        || async {
            let job: Value = app
                .client
                .get(app.url(&format!("/api/public/jobs/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .expect("request failed")
                .json()
                .await
                .expect("json");
            match job["status"].as_str() {
                Some(status @ ("completed" | "failed")) => Ok(status.to_owned()),
                _ => Err(job.to_string()),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_images_end_their_jobs_and_leave_every_worker_alive() {
    let mut app = TestApp::builder()
        .storage(Storage::Local)
        .in_process_workers(0)
        .worker_processes(2)
        .env("AVATARS_USER_RATE_PER_MINUTE", "0")
        .start()
        .await;
    let token = app.token("fuzzy");
    let mut inputs = mutated_images();
    if let Some(files) = edge_corpus() {
        inputs.extend(files);
    }
    let total = inputs.len();
    let jobs: Vec<(String, String)> = futures::stream::iter(inputs)
        .map(|(name, bytes)| {
            let (app, token) = (&app, &token);
            async move { submit(app, token, &name, bytes).await.map(|id| (name, id)) }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|job| async move { job })
        .collect()
        .await;
    assert!(
        jobs.len() > total / 2,
        "only {} of {total} reached a worker",
        jobs.len()
    );

    let deadline = Instant::now() + Duration::from_secs(240);
    let outcomes: Vec<String> = futures::stream::iter(&jobs)
        .map(|(_, id)| final_status(&app, &token, id, deadline))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let completed = outcomes.iter().filter(|s| *s == "completed").count();
    eprintln!(
        "{total} inputs, {} jobs: {completed} completed, {} failed",
        jobs.len(),
        jobs.len() - completed
    );

    for worker in &mut app.workers {
        assert!(
            worker.try_wait().expect("worker status").is_none(),
            "a worker died"
        );
    }
    let good = app
        .put_bytes("fuzzy", "me", "?wait=30", images::jpeg(64, 64))
        .await;
    assert_eq!(good.status(), StatusCode::OK);
}
