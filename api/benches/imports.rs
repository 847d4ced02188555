//! Bulk imports through the whole service, next to references in the same
//! run. Needs `AVATARS_TEST_CORPUS` (its `photos/`: the phone photos).
//!
//! Starts the release `avatar-api --workers 0`, one `avatar-worker` with a
//! conversion slot per core, local storage under `/dev/shm` (so the disk is
//! not what is measured), the Redis at `AVATARS_BENCH_REDIS_URL`, and a
//! local origin that serves the corpus photos at `/photo/{n}` (photo `n`
//! modulo their number: every item has a URL of its own, so none is
//! converted once for many), and reports, each as soon as it is measured:
//!
//! 1. webhook latency over `AVATARS_BENCH_WEBHOOKS` (default 300)
//!    synchronous PUTs: from each job's completion, as its record says, to
//!    the receiver's 2xx;
//! 2. the interactive round trip (a synchronous PUT of a small JPEG),
//!    idle and while an import of `AVATARS_BENCH_IMPORT_ITEMS` (default
//!    10,000) photos is being processed, for `AVATARS_BENCH_BACKLOG_SECS`
//!    (default 60), next to one photo's conversion alone: the goal is a
//!    p99 within the idle p99 plus one photo conversion;
//! 3. import throughput, items/s from `POST /imports` to the last item's
//!    end, for `AVATARS_BENCH_IMPORT_ITEMS` URL items with the origin
//!    answering at once and after 300 ms, next to the bare pipeline:
//!    `avatar-worker convert` run once per core over the same photos; and
//!    once more with every third item naming one default picture, which
//!    is fetched and converted once;
//! 4. accepting an NDJSON import of `AVATARS_BENCH_ACCEPT_ITEMS` (default
//!    100,000) items on an API of its own: seconds, and the API's peak RSS
//!    before and after.
//!
//! Run with `cargo bench -p avatar-api --bench imports`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Killed, SECRET, admin_token, forget, report, report_head, small_jpeg, token};

/// The origin's host limit for the throughput runs: high enough that the
/// 300 ms origin is not throttled by it (the default of 8 allows at most
/// 8 / 0.3 s ≈ 27 fetches a second).
const PER_HOST: &str = "64";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An API (and maybe a worker) on one Redis prefix.
struct Service {
    base: String,
    api: Killed,
    _worker: Option<Killed>,
}

impl Service {
    async fn start(
        http: &reqwest::Client,
        redis_url: &str,
        prefix: &str,
        data_dir: &Path,
        with_worker: bool,
        extra: &[(&str, &str)],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let media = format!("http://127.0.0.1:{port}/media");
        let env = [
            ("AVATARS_PUBLIC_BASE_URL", media.as_str()),
            ("AVATARS_JWT_SECRET", SECRET),
            ("AVATARS_REDIS_URL", redis_url),
            ("AVATARS_REDIS_PREFIX", prefix),
            ("AVATARS_DATA_DIR", data_dir.to_str().expect("a UTF-8 path")),
            ("AVATARS_LOG", "warn"),
            ("AVATARS_USER_RATE_PER_MINUTE", "0"),
            ("AVATARS_ALLOW_PRIVATE_SOURCES", "true"),
            ("AVATARS_FETCH_ALLOWED_PORTS", "any"),
            ("AVATARS_FETCH_PER_HOST_CONCURRENCY", PER_HOST),
        ];
        let api = Killed(
            Command::new(avatar_testkit::app::api_binary())
                .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "0"])
                .envs(env)
                .envs(extra.iter().copied())
                .stdin(Stdio::null())
                .spawn()
                .expect("cannot start avatar-api"),
        );
        let base = format!("http://127.0.0.1:{port}");
        support::wait_ready(http, &base).await;
        let worker = with_worker.then(|| {
            Killed(
                Command::new(avatar_testkit::app::worker_binary())
                    .envs(env)
                    .envs(extra.iter().copied())
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("cannot start avatar-worker"),
            )
        });
        Self {
            base,
            api,
            _worker: worker,
        }
    }

    /// Posts an NDJSON import of `items` photos from `origin`, for users
    /// named after `tag`, each from a URL of its own, or, with `shared`,
    /// every third from one URL (a platform's default picture); returns
    /// its id.
    async fn import(
        &self,
        http: &reqwest::Client,
        origin: &str,
        tag: &str,
        items: u64,
        shared: bool,
    ) -> String {
        let body: String = (0..items)
            .map(|n| {
                let url = match shared && n % 3 == 0 {
                    true => format!("{origin}/photo/default"),
                    false => format!("{origin}/photo/{n}"),
                };
                format!(
                    "{}\n",
                    json!({"userId": format!("{tag}-{n}"), "avatarUrl": url})
                )
            })
            .collect();
        let response = http
            .post(format!("{}/api/public/imports", self.base))
            .bearer_auth(admin_token("bench-importer"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("post import");
        assert_eq!(response.status(), 202, "the import was not accepted");
        let body: Value = response.json().await.expect("json");
        body["importId"].as_str().expect("importId").to_owned()
    }

    async fn import_state(&self, http: &reqwest::Client, id: &str) -> Value {
        http.get(format!("{}/api/public/imports/{id}", self.base))
            .bearer_auth(admin_token("bench-importer"))
            .send()
            .await
            .expect("get import")
            .json()
            .await
            .expect("json")
    }

    async fn until_finished(&self, http: &reqwest::Client, id: &str) -> Value {
        loop {
            let state = self.import_state(http, id).await;
            if state["finishedAt"].is_string() {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn cancel(&self, http: &reqwest::Client, id: &str) {
        let response = http
            .delete(format!("{}/api/public/imports/{id}", self.base))
            .bearer_auth(admin_token("bench-importer"))
            .send()
            .await
            .expect("cancel");
        assert_eq!(response.status(), 200);
    }

    /// `n` synchronous PUTs of a small JPEG, one after another, or as many
    /// as fit in `within`: their round trips in ms.
    async fn round_trips(&self, http: &reqwest::Client, n: usize, within: Duration) -> Vec<f64> {
        let (image, token) = (small_jpeg(), token("bench-user"));
        let url = format!("{}/api/public/user/me/avatarBytes", self.base);
        let deadline = Instant::now() + within;
        let mut samples = Vec::new();
        while samples.len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let (ms, _) = support::synchronous_put(http, &url, &token, &image).await;
            samples.push(ms);
        }
        samples
    }

    /// The API's peak resident memory so far, in MiB.
    fn api_peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.api.0.id()))
            .expect("the API's /proc status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib / 1024.0
    }
}

#[tokio::main]
async fn main() {
    let corpus = avatar_testkit::corpus::dir("the import benchmark")
        .expect("set AVATARS_TEST_CORPUS to the corpus folder");
    let redis_url = std::env::var("AVATARS_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let items = env_number("AVATARS_BENCH_IMPORT_ITEMS", 10_000);
    let backlog = Duration::from_secs(env_number("AVATARS_BENCH_BACKLOG_SECS", 60));
    let accept_items = env_number("AVATARS_BENCH_ACCEPT_ITEMS", 100_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let (photos, photo_bytes): (Vec<PathBuf>, Vec<Vec<u8>>) =
        support::corpus_photos(&corpus).into_iter().unzip();
    let one_photo = support::conversion_times(&photo_bytes);

    let prefix = format!("bench-{}", ulid::Ulid::generate());
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let data_dir = root.join(&prefix);
    let http = reqwest::Client::new();
    let redis = redis::Client::open(redis_url.as_str()).expect("redis url");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");

    // 1. Webhook latency, from a job's completion (its record's time) to
    // the receiver's 2xx.
    let hooks = env_number("AVATARS_BENCH_WEBHOOKS", 300) as usize;
    let receiver =
        avatar_testkit::receiver::Receiver::start(avatar_testkit::receiver::Behaviour::Accept)
            .await;
    let hook_prefix = format!("{prefix}-hooks");
    let receiver_url = receiver.to_string();
    let hooked = Service::start(
        &http,
        &redis_url,
        &hook_prefix,
        &data_dir,
        true,
        &[
            ("AVATARS_WEBHOOK_URL", receiver_url.as_str()),
            (
                "AVATARS_WEBHOOK_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ],
    )
    .await;
    hooked
        .round_trips(&http, hooks, Duration::from_secs(120))
        .await;
    let delivered = receiver.wait_accepted(hooks, Duration::from_secs(60)).await;
    let mut hook_latency = Vec::with_capacity(delivered.len());
    for received in &delivered {
        let job = received.json()["data"]["jobId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let completed: Option<u64> = redis::cmd("HGET")
            .arg(format!("{{{hook_prefix}}}:job:{job}"))
            .arg("updated")
            .query_async(&mut conn)
            .await
            .expect("hget");
        if let Some(completed) = completed {
            hook_latency.push(received.at_unix_ms.saturating_sub(completed) as f64);
        }
    }
    drop(hooked);
    println!("\nwebhook delivery, a job's completion to the receiver's 2xx (ms, 1 ms clock)\n");
    report_head();
    report("avatar.updated to AVATARS_WEBHOOK_URL", hook_latency);

    let service = Service::start(&http, &redis_url, &prefix, &data_dir, true, &[]).await;
    let instant =
        avatar_testkit::source_server::start_many(photo_bytes.clone(), Duration::ZERO).await;
    let slow =
        avatar_testkit::source_server::start_many(photo_bytes, Duration::from_millis(300)).await;

    // 2. The interactive round trip, idle and behind a bulk backlog.
    service
        .round_trips(&http, 20, Duration::from_secs(10))
        .await;
    let idle = service
        .round_trips(&http, 500, Duration::from_secs(60))
        .await;
    let backlog_id = service
        .import(&http, &instant.to_string(), "backlog", items, false)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let behind = service.round_trips(&http, usize::MAX, backlog).await;
    let state = service.import_state(&http, &backlog_id).await;
    let converted_meanwhile = state["completed"].as_u64().unwrap_or_default();
    service.cancel(&http, &backlog_id).await;
    service.until_finished(&http, &backlog_id).await;
    println!("\ninteractive round trip (ms), {cores} conversion slots\n");
    report_head();
    report("round trip: synchronous PUT, idle", idle);
    report(
        &format!("round trip: behind a {items}-photo import"),
        behind,
    );
    report("reference: one photo's conversion alone", one_photo);
    println!("\n({converted_meanwhile} photos of the backlog converted meanwhile)");

    // 3. Import throughput at two origin latencies, next to the bare
    // pipeline.
    let bare = support::bare_pipeline(&photos, cores, 20, &data_dir);
    println!(
        "\nimport throughput, {items} URL items of {} photos\n",
        photos.len()
    );
    println!(
        "| {:<48} | {:>9} | {:>8} | {:>11} |",
        "run", "items/s", "seconds", "of bare"
    );
    println!("|{:-<50}|{:->11}|{:->10}|{:->13}|", "", "", "", "");
    println!(
        "| {:<48} | {:>9.1} | {:>8} | {:>11} |",
        format!("bare pipeline, {cores} × avatar-worker convert"),
        bare,
        "",
        "100 %"
    );
    for (name, origin, shared) in [
        ("in 0 ms", &instant, false),
        ("in 300 ms", &slow, false),
        ("in 0 ms, a third one URL", &instant, true),
    ] {
        let started = Instant::now();
        let tag = format!("run-{}", name.len());
        let id = service
            .import(&http, &origin.to_string(), &tag, items, shared)
            .await;
        let done = service.until_finished(&http, &id).await;
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(done["completed"].as_u64(), Some(items), "{done}");
        let rate = items as f64 / secs;
        println!(
            "| {:<48} | {:>9.1} | {:>8.1} | {:>9.0} % |",
            format!("import, origin answering {name}"),
            rate,
            secs,
            rate / bare * 100.0
        );
    }
    drop(service);

    // 4. Accepting a large NDJSON import, on an API of its own.
    let accept_prefix = format!("{prefix}-accept");
    let acceptor = Service::start(&http, &redis_url, &accept_prefix, &data_dir, false, &[]).await;
    let rss_before = acceptor.api_peak_rss_mib();
    let started = Instant::now();
    let accept_id = acceptor
        .import(&http, &instant.to_string(), "accept", accept_items, false)
        .await;
    let accept_secs = started.elapsed().as_secs_f64();
    let rss_after = acceptor.api_peak_rss_mib();
    acceptor.cancel(&http, &accept_id).await;
    drop(acceptor);
    println!(
        "\naccepting an NDJSON import of {accept_items} items: {accept_secs:.1} s ({:.0} items/s); API peak RSS {rss_before:.1} MiB before, {rss_after:.1} MiB after",
        accept_items as f64 / accept_secs
    );

    forget(&mut conn, &prefix).await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
