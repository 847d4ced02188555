//! The fault scenarios. Each returns `Err` with what went wrong.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::infra::{Proxy, RedisServer};
use crate::support::{Storage, TestApp, images, s3, source_server};

type Outcome = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// Waits until `check` answers `Some`, or fails after `limit`.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn job(app: &TestApp, sub: &str, id: &str) -> Value {
    match app.get_job(sub, id).await.json::<Value>().await {
        Ok(v) => v,
        Err(_) => Value::Null,
    }
}

async fn job_with_status(
    app: &TestApp,
    sub: &str,
    id: &str,
    statuses: &[&str],
    limit: Duration,
) -> Result<Value, String> {
    wait_for(
        &format!("job {id} reaching {statuses:?}"),
        limit,
        || async {
            let job = job(app, sub, id).await;
            statuses
                .contains(&job["status"].as_str().unwrap_or(""))
                .then_some(job)
        },
    )
    .await
}

async fn accepted_id(response: reqwest::Response) -> Result<String, String> {
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    ensure!(status.is_success(), "PUT answered {status}: {body}");
    body["jobId"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no jobId in {body}"))
}

async fn current_url(app: &TestApp, user: &str) -> Option<String> {
    let body: Value = app.get_avatar(user, user).await.json().await.ok()?;
    body["avatarUrl"].as_str().map(str::to_owned)
}

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

fn wait_exit(
    child: &mut std::process::Child,
    limit: Duration,
) -> Result<std::process::ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "process {} still running after {limit:?}",
                child.id()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An app with one worker process, running a job for `user` whose source
/// takes 2 s to arrive.
async fn job_running_in_one_worker(user: &str) -> Result<(TestApp, String), String> {
    let app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(1)
        .start()
        .await;
    let source = source_server::start(images::png(400, 400), Duration::from_secs(2)).await;
    let id = accepted_id(
        app.put_url(user, "me", "?wait=0", &format!("{source}/slow"))
            .await,
    )
    .await?;
    job_with_status(&app, user, &id, &["processing"], Duration::from_secs(10)).await?;
    Ok((app, id))
}

/// A worker is SIGKILLed while it runs a job; another worker completes the
/// job within 15 s.
pub async fn killed_worker() -> Outcome {
    let (mut app, id) = job_running_in_one_worker("alice").await?;
    app.workers[0].kill().map_err(|e| e.to_string())?;
    let killed = Instant::now();
    app.add_worker();
    let done = job_with_status(
        &app,
        "alice",
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await?;
    let took = killed.elapsed();
    ensure!(done["status"] == "completed", "the job ended {done}");
    ensure!(took <= Duration::from_secs(15), "took over after {took:?}");
    ensure!(
        current_url(&app, "alice").await == done["avatarUrl"].as_str().map(str::to_owned),
        "not current"
    );
    Ok(())
}

/// A worker is SIGKILLed while it runs one of alice's jobs and holds her
/// one running slot; her next two jobs are parked behind it. The job is
/// taken over, and then both parked jobs run: none is stranded, and the
/// one accepted last is current.
pub async fn killed_worker_with_parked_jobs() -> Outcome {
    let (mut app, slow) = job_running_in_one_worker("alice").await?;
    let mut parked = Vec::new();
    for side in [48, 64] {
        parked.push(
            accepted_id(
                app.put_bytes("alice", "me", "?wait=0", images::jpeg(side, side))
                    .await,
            )
            .await?,
        );
    }
    for id in &parked {
        let queued = job(&app, "alice", id).await;
        ensure!(queued["status"] == "queued", "not parked: {queued}");
    }
    app.workers[0].kill().map_err(|e| e.to_string())?;
    app.add_worker();
    for id in std::iter::once(&slow).chain(&parked) {
        let done = job_with_status(
            &app,
            "alice",
            id,
            &["completed", "failed"],
            Duration::from_secs(40),
        )
        .await?;
        ensure!(done["status"] == "completed", "job {id} ended {done}");
    }
    let last = job(&app, "alice", &parked[1]).await;
    ensure!(
        current_url(&app, "alice").await == last["avatarUrl"].as_str().map(str::to_owned),
        "the last accepted update is not current"
    );
    Ok(())
}

/// A worker is SIGKILLed mid-fetch while it holds the one fetch permit of
/// an origin host: the permit's lease ends it, the job is taken over, and
/// another job for the same host completes too; no permit is left held.
pub async fn killed_worker_holding_a_fetch_permit() -> Outcome {
    let mut app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(1)
        .env("AVATARS_FETCH_PER_HOST_CONCURRENCY", "1")
        .env("AVATARS_FETCH_TIMEOUT_SECS", "4")
        .start()
        .await;
    let source = source_server::start(images::png(200, 200), Duration::from_secs(2)).await;
    let slow = format!("{source}/slow");
    let first = accepted_id(
        app.put_url("ann", "me", "?priority=bulk&wait=0", &slow)
            .await,
    )
    .await?;
    job_with_status(
        &app,
        "ann",
        &first,
        &["processing"],
        Duration::from_secs(10),
    )
    .await?;
    app.workers[0].kill().map_err(|e| e.to_string())?;
    app.add_worker();
    let second = accepted_id(
        app.put_url("ben", "me", "?priority=bulk&wait=0", &slow)
            .await,
    )
    .await?;
    for (user, id) in [("ann", &first), ("ben", &second)] {
        let done = job_with_status(
            &app,
            user,
            id,
            &["completed", "failed"],
            Duration::from_secs(45),
        )
        .await?;
        ensure!(done["status"] == "completed", "job {id} ended {done}");
    }
    let client = redis::Client::open(app.redis_url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let held: u64 = redis::cmd("ZCARD")
        .arg(app.key("fetch-host:127.0.0.1"))
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    ensure!(held == 0, "{held} fetch permits are still held");
    Ok(())
}

/// SIGTERM to a worker running a job: it finishes the job and exits 0.
pub async fn sigterm_worker() -> Outcome {
    let (mut app, id) = job_running_in_one_worker("bob").await?;
    signal(app.workers[0].id(), "-TERM");
    let status = wait_exit(&mut app.workers[0], Duration::from_secs(20))?;
    ensure!(status.success(), "the worker exited with {status}");
    let done = job(&app, "bob", &id).await;
    ensure!(
        done["status"] == "completed",
        "the stopping worker left the job {done}"
    );
    Ok(())
}

/// SIGTERM to the API while a synchronous PUT waits: the PUT is answered
/// and the API exits 0.
pub async fn sigterm_api() -> Outcome {
    let mut app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(1)
        .start()
        .await;
    let source = source_server::start(images::png(400, 400), Duration::from_secs(2)).await;
    let client = app.client.clone();
    let url = app.url("/api/public/user/me/avatar?wait=10");
    let token = app.token("carol");
    let slow = format!("{source}/slow");
    let request = tokio::spawn(async move {
        client
            .put(url)
            .bearer_auth(token)
            .json(&serde_json::json!({"avatarUrl": slow}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = app.api().id();
    signal(pid, "-TERM");
    let response = request
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    ensure!(
        response.status() == 200,
        "the PUT in flight got {}",
        response.status()
    );
    let status = wait_exit(app.api(), Duration::from_secs(20))?;
    ensure!(status.success(), "the API exited with {status}");
    Ok(())
}

/// Redis is restarted (with AOF) while a worker holds and queues jobs;
/// while it is down the API answers 503 and is not ready; afterwards API
/// and worker recover by themselves and every accepted job completes.
pub async fn redis_restart() -> Outcome {
    let mut redis = RedisServer::start();
    let app = TestApp::builder()
        .redis_url(&redis.url())
        .env("AVATARS_USER_RATE_BURST", "1000")
        .in_process_workers(0)
        .worker_processes(1)
        .start()
        .await;
    let source = source_server::start(images::png(200, 200), Duration::from_secs(1)).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            accepted_id(
                app.put_url("dave", "me", "?wait=0", &format!("{source}/slow"))
                    .await,
            )
            .await?,
        );
    }
    redis.stop();
    let refused = app
        .put_bytes("dave", "me", "?wait=0", images::png(64, 64))
        .await;
    ensure!(
        refused.status() == 503,
        "a PUT during the outage got {}",
        refused.status()
    );
    let body: Value = refused.json().await.map_err(|e| e.to_string())?;
    ensure!(body["error"]["code"] == "unavailable", "{body}");
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    ensure!(
        ready.status() == 503,
        "/readyz answered {} during the outage",
        ready.status()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.resume();
    for id in &ids {
        let done = job_with_status(
            &app,
            "dave",
            id,
            &["completed", "failed"],
            Duration::from_secs(60),
        )
        .await?;
        ensure!(done["status"] == "completed", "job {id} ended {done}");
    }
    let again = app.put_bytes("dave", "me", "", images::png(70, 70)).await;
    ensure!(
        again.status() == 200,
        "the API did not recover: {}",
        again.status()
    );
    Ok(())
}

/// An app that reaches the S3 server through a proxy the test can switch
/// off, with extra settings.
async fn behind_proxy(env: &[(&str, &str)]) -> (Proxy, TestApp) {
    let proxy = Proxy::start(s3::endpoint().trim_start_matches("http://").to_owned()).await;
    let builder = env.iter().fold(
        TestApp::builder().s3_endpoint(&proxy.endpoint()),
        |b, (k, v)| b.env(k, v),
    );
    (proxy, builder.start().await)
}

/// The object store is unreachable for a minute: jobs retry with backoff
/// and complete when it returns; uploads are refused with 503 meanwhile.
pub async fn store_outage() -> Outcome {
    let (proxy, app) = behind_proxy(&[
        ("AVATARS_RETRY_BASE_MS", "200"),
        ("AVATARS_RETRY_MAX_DELAY_SECS", "3"),
    ])
    .await;
    let source = source_server::start(images::png(300, 300), Duration::ZERO).await;
    proxy.set_up(false);
    let id = accepted_id(
        app.put_url("erin", "me", "?wait=0", &format!("{source}/image"))
            .await,
    )
    .await?;
    let upload = app
        .put_bytes("erin", "me", "?wait=0", images::png(64, 64))
        .await;
    ensure!(
        upload.status() == 503,
        "an upload during the outage got {}",
        upload.status()
    );
    // The outage outlasts several retries (each at most 3 s apart): the
    // job is still waiting when the store comes back.
    let mut redis = app.redis().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let retries: Option<u64> = redis::cmd("HGET")
            .arg(app.key(&format!("job:{id}")))
            .arg("retries")
            .query_async(&mut redis)
            .await
            .map_err(|e| e.to_string())?;
        if retries.unwrap_or(0) >= 4 {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the job was retried {retries:?} times in 60 s of outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waiting = job(&app, "erin", &id).await;
    ensure!(
        matches!(waiting["status"].as_str(), Some("queued" | "processing")),
        "during the outage the job was {waiting}"
    );
    proxy.set_up(true);
    let done = job_with_status(
        &app,
        "erin",
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await?;
    ensure!(done["status"] == "completed", "the job ended {done}");
    let stored = app
        .download(done["avatarUrl"].as_str().unwrap_or_default())
        .await;
    ensure!(
        stored.status() == 200,
        "the avatar is not served: {}",
        stored.status()
    );
    Ok(())
}

/// Past the retry budget a job fails as unavailable; `avatar-worker
/// requeue-failed` queues it again and it completes.
pub async fn retry_budget() -> Outcome {
    let (proxy, app) = behind_proxy(&[
        ("AVATARS_RETRY_BASE_MS", "200"),
        ("AVATARS_RETRY_MAX_DELAY_SECS", "1"),
        ("AVATARS_RETRY_BUDGET_SECS", "3"),
    ])
    .await;
    let id = accepted_id(
        app.put_bytes("frank", "me", "?wait=0", images::png(200, 200))
            .await,
    )
    .await?;
    proxy.set_up(false);
    // The job may have finished before the outage; then take another.
    let first = job_with_status(
        &app,
        "frank",
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await?;
    let id = if first["status"] == "completed" {
        proxy.set_up(true);
        let source = source_server::start(images::png(200, 200), Duration::from_secs(1)).await;
        let id = accepted_id(
            app.put_url("frank", "me", "?wait=0", &format!("{source}/slow"))
                .await,
        )
        .await?;
        proxy.set_up(false);
        id
    } else {
        id
    };
    let failed = job_with_status(
        &app,
        "frank",
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await?;
    ensure!(failed["status"] == "failed", "the job ended {failed}");
    ensure!(failed["error"]["code"] == "unavailable", "{failed}");
    proxy.set_up(true);
    let printed = app.worker_command(&["requeue-failed"]);
    ensure!(
        printed.contains("queued 1 failed job"),
        "requeue-failed said {printed:?}"
    );
    let done = job_with_status(
        &app,
        "frank",
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        done["status"] == "completed",
        "the queued-again job ended {done}"
    );
    Ok(())
}

/// With local storage on a full disk, a new avatar cannot be written: the
/// job retries, the previous avatar stays current and intact, and the new
/// one completes once space is freed.
pub async fn full_disk() -> Outcome {
    let dir = std::env::temp_dir().join(format!("avatars-fault-disk-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&dir)
        .status()
        .map_err(|e| e.to_string())?;
    ensure!(
        mounted.success(),
        "cannot mount a small tmpfs (this scenario needs root)"
    );
    let outcome = full_disk_on(&dir).await;
    let _ = Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn full_disk_on(dir: &std::path::Path) -> Outcome {
    let app = TestApp::builder()
        .storage(Storage::Local)
        .data_dir(dir.to_path_buf())
        .env("AVATARS_RETRY_BASE_MS", "200")
        .env("AVATARS_RETRY_MAX_DELAY_SECS", "1")
        .start()
        .await;
    let first = app
        .put_bytes("grace", "me", "", images::jpeg(600, 600))
        .await;
    ensure!(
        first.status() == 200,
        "the first avatar got {}",
        first.status()
    );
    let first: Value = first.json().await.map_err(|e| e.to_string())?;
    let first_url = first["avatarUrl"].as_str().unwrap_or_default().to_owned();
    let before = app
        .download(&first_url)
        .await
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    // The staged upload is deleted just after the job is recorded: let that
    // happen before filling the disk, or it would free room again.
    let staging = dir.join("staging");
    wait_for(
        "the staged upload deleted",
        Duration::from_secs(10),
        || async { walk(&staging).is_empty().then_some(()) },
    )
    .await?;

    let filler = dir.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let source = source_server::start(images::png(500, 500), Duration::ZERO).await;
    let id = accepted_id(
        app.put_url("grace", "me", "?wait=0", &format!("{source}/image"))
            .await,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = job(&app, "grace", &id).await;
    ensure!(
        waiting["status"] != "completed",
        "the job completed on a full disk: {waiting}"
    );
    ensure!(
        current_url(&app, "grace").await.as_deref() == Some(first_url.as_str()),
        "the current avatar changed"
    );
    let after = app
        .download(&first_url)
        .await
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    ensure!(after == before, "the previous avatar changed on disk");
    let tmp_left = walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .count();
    ensure!(
        tmp_left == 0,
        "{tmp_left} temporary files left by failed writes"
    );

    std::fs::remove_file(&filler).map_err(|e| e.to_string())?;
    let done = job_with_status(
        &app,
        "grace",
        &id,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        done["status"] == "completed",
        "after freeing space the job ended {done}"
    );
    ensure!(
        current_url(&app, "grace").await == done["avatarUrl"].as_str().map(str::to_owned),
        "the new avatar is not current"
    );
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// Update A's worker dies after storing A and before recording it; B,
/// accepted after A, completes meanwhile; when A is taken over and
/// completes, B stays current.
pub async fn abort_after_store() -> Outcome {
    let mut app = TestApp::builder().in_process_workers(0).start().await;
    app.add_worker_with(&[("AVATARS_FAULT_ABORT_AFTER_STORE", "true")]);
    let a = accepted_id(
        app.put_bytes("heidi", "me", "?wait=0", images::png(300, 300))
            .await,
    )
    .await?;
    let status = wait_exit(&mut app.workers[0], Duration::from_secs(20))?;
    ensure!(!status.success(), "the faulty worker did not die");
    app.add_worker();
    let b = app
        .put_bytes("heidi", "me", "", images::jpeg(300, 300))
        .await;
    ensure!(b.status() == 200, "B got {}", b.status());
    let b: Value = b.json().await.map_err(|e| e.to_string())?;
    let a_done = job_with_status(
        &app,
        "heidi",
        &a,
        &["completed", "failed"],
        Duration::from_secs(30),
    )
    .await?;
    ensure!(a_done["status"] == "completed", "A ended {a_done}");
    ensure!(
        current_url(&app, "heidi").await == b["avatarUrl"].as_str().map(str::to_owned),
        "A replaced B"
    );
    Ok(())
}

/// A worker dies after deleting the first of the four objects of a
/// deleted user's avatar; the next worker deletes the rest.
pub async fn abort_mid_delete() -> Outcome {
    let mut app = TestApp::builder()
        .in_process_workers(0)
        .env("AVATARS_SIZES", "512,256,128,64")
        .start()
        .await;
    app.add_worker();
    let put = app.put_bytes("ivan", "me", "", images::png(600, 600)).await;
    ensure!(put.status() == 200, "the PUT got {}", put.status());
    let bucket = app.bucket.clone().ok_or("no bucket")?;
    let avatars = |keys: Vec<String>| -> Vec<String> {
        keys.into_iter()
            .filter(|k| k.contains("/userAvatars/"))
            .collect()
    };
    let stored = avatars(s3::keys(&bucket).await);
    ensure!(stored.len() == 4, "stored {stored:?}");
    app.workers[0].kill().map_err(|e| e.to_string())?;
    let _ = app.workers[0].wait();
    app.add_worker_with(&[("AVATARS_FAULT_ABORT_MID_DELETE", "true")]);
    let deleted = app.delete_avatar(&app.token("ivan"), "me").await;
    ensure!(
        deleted.status() == 204,
        "the DELETE got {}",
        deleted.status()
    );
    let status = wait_exit(&mut app.workers[1], Duration::from_secs(20))?;
    ensure!(!status.success(), "the faulty worker did not die");
    let left = avatars(s3::keys(&bucket).await);
    ensure!(
        left.len() == 3,
        "the faulty worker was to stop after one of four objects: {left:?}"
    );
    app.add_worker();
    wait_for(
        "every object of the avatar to go",
        Duration::from_secs(30),
        || async { avatars(s3::keys(&bucket).await).is_empty().then_some(()) },
    )
    .await?;
    ensure!(
        current_url(&app, "ivan").await.is_none(),
        "the deleted avatar is current again"
    );
    Ok(())
}

/// 10,000 jobs from 50 clients through 3 worker processes, one killed
/// halfway and restarted: every job ends, and every user's current avatar
/// is the last one accepted for them.
pub async fn load() -> Outcome {
    const JOBS: usize = 10_000;
    const CLIENTS: usize = 50;
    const USERS: usize = 500;
    let mut app = TestApp::builder()
        .storage(Storage::Local)
        .in_process_workers(0)
        .worker_processes(3)
        .start()
        .await;
    let app_ref = Arc::new(tokio::sync::Mutex::new(()));
    let image = Arc::new(images::png(32, 32));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (client, base, image, next, _guard) = (
            app.client.clone(),
            app.address.clone(),
            image.clone(),
            next.clone(),
            app_ref.clone(),
        );
        let tokens: Vec<String> = (0..USERS)
            .map(|u| app.token(&format!("load-{u}")))
            .collect();
        clients.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= JOBS {
                    return Ok::<_, String>(accepted);
                }
                let user = n % USERS;
                let sent = Instant::now();
                let response = client
                    .put(format!("{base}/api/public/user/me/avatarBytes?wait=0"))
                    .bearer_auth(&tokens[user])
                    .body(image.as_ref().clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let latency = sent.elapsed();
                let body: Value = response.json().await.map_err(|e| e.to_string())?;
                let id = body["jobId"]
                    .as_str()
                    .ok_or(format!("no job id: {body}"))?
                    .to_owned();
                accepted.push((user, id, latency));
            }
        }));
    }
    // Kill one worker halfway and start a new one.
    wait_for(
        "half the jobs accepted",
        Duration::from_secs(120),
        || async { (next.load(std::sync::atomic::Ordering::SeqCst) >= JOBS / 2).then_some(()) },
    )
    .await?;
    app.workers[0].kill().map_err(|e| e.to_string())?;
    app.add_worker();

    let mut per_user_last: HashMap<usize, String> = HashMap::new();
    let mut all = Vec::new();
    let mut latencies = Vec::new();
    for client in clients {
        for (user, id, latency) in client.await.map_err(|e| e.to_string())?? {
            latencies.push(latency.as_secs_f64() * 1e3);
            all.push((user, id));
        }
    }
    let accepted_in = started.elapsed();
    // Job ids are ULIDs: within one user, the later id was accepted later
    // only if the acceptance order is known; the record's stamp decides.
    let client = redis::Client::open(app.redis_url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut pending: Vec<String> = all.iter().map(|(_, id)| id.clone()).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for chunk in pending.chunks(500) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.hget(app.key(&format!("job:{id}")), "status");
            }
            let statuses: Vec<Option<String>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            for (id, status) in chunk.iter().zip(statuses) {
                match status.as_deref() {
                    Some("completed") => {}
                    Some("failed") => return Err(format!("job {id} failed")),
                    _ => still.push(id.clone()),
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            ensure!(
                Instant::now() < deadline,
                "{} jobs never ended",
                pending.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let finished_in = started.elapsed();
    let mut stamps: HashMap<usize, (u64, String)> = HashMap::new();
    for (user, id) in &all {
        let (stamp, key): (u64, String) = redis::cmd("HMGET")
            .arg(app.key(&format!("job:{id}")))
            .arg("stamp")
            .arg("key")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let entry = stamps.entry(*user).or_insert((0, String::new()));
        if stamp > entry.0 {
            *entry = (stamp, key);
        }
    }
    for (user, (_, key)) in &stamps {
        per_user_last.insert(*user, key.clone());
        let current: Option<String> = redis::cmd("HGET")
            .arg(app.key(&format!("user:load-{user}")))
            .arg("key")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        ensure!(
            current.as_deref() == Some(key.as_str()),
            "user load-{user}: current {current:?}, last accepted {key}"
        );
    }
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "    load: {JOBS} jobs from {CLIENTS} clients, 3 workers (one killed halfway): accepted in {:.1} s, all ended in {:.1} s ({:.0} jobs/s); PUT latency p50 {:.1} ms, p99 {:.1} ms",
        accepted_in.as_secs_f64(),
        finished_in.as_secs_f64(),
        JOBS as f64 / finished_in.as_secs_f64(),
        p(0.5),
        p(0.99)
    );
    Ok(())
}

/// A worker is SIGKILLed in the middle of an import; another worker
/// finishes it, and every item ends completed, with counts that add up.
pub async fn killed_worker_mid_import() -> Outcome {
    let mut app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(1)
        .start()
        .await;
    let source = source_server::start(images::png(200, 200), Duration::from_millis(150)).await;
    let items: Vec<Value> = (0..60)
        .map(|n| serde_json::json!({"userId": format!("mig-{n}"), "avatarUrl": format!("{source}/slow/{n}")}))
        .collect();
    let response = app.post_import(&serde_json::json!({"items": items})).await;
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    let id = body["importId"]
        .as_str()
        .ok_or_else(|| format!("no importId in {body}"))?
        .to_owned();
    wait_for("a third of the import", Duration::from_secs(30), || async {
        let import = app.get_import(&id, "").await;
        (import["completed"].as_u64() >= Some(20)).then_some(())
    })
    .await?;
    app.workers[0].kill().map_err(|e| e.to_string())?;
    let _ = app.workers[0].wait();
    app.add_worker();
    let done = wait_for("the import to end", Duration::from_secs(120), || async {
        let import = app.get_import(&id, "").await;
        import["finishedAt"].is_string().then_some(import)
    })
    .await?;
    let counts: u64 = crate::support::app::import_counts(&done)
        .ok_or_else(|| format!("an import without its counts: {done}"))?
        .iter()
        .sum();
    ensure!(
        done["completed"] == 60 && counts == 60,
        "the import ended {done}"
    );
    for n in 0..60 {
        let user = format!("mig-{n}");
        ensure!(
            current_url(&app, &user).await.is_some(),
            "{user} has no avatar"
        );
    }
    Ok(())
}

/// A worker is SIGKILLed while its delivery pool waits for a receiver
/// that does not answer; once the claim's lease has run out, a new worker
/// delivers the event, with the same `webhook-id`.
pub async fn killed_worker_with_a_pending_webhook() -> Outcome {
    use crate::support::receiver::{Behaviour, Receiver};
    let receiver = Receiver::start(Behaviour::HangUntilTold).await;
    let mut app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(1)
        .env("AVATARS_WEBHOOK_URL", &receiver.to_string())
        .env(
            "AVATARS_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .env("AVATARS_WEBHOOK_RETRY_BASE_MS", "200")
        .env("AVATARS_WEBHOOK_LEASE_SECS", "11")
        .start()
        .await;
    let id = accepted_id(
        app.put_bytes("hooked", "me", "?wait=10", images::png(64, 64))
            .await,
    )
    .await?;
    wait_for("a delivery in flight", Duration::from_secs(20), || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await?;
    app.workers[0].kill().map_err(|e| e.to_string())?;
    let _ = app.workers[0].wait();
    let refused = receiver.received();
    receiver.accept_from_now();
    app.add_worker();
    let delivered = wait_for("the delivery", Duration::from_secs(60), || async {
        receiver.accepted().into_iter().next()
    })
    .await?;
    ensure!(
        delivered.header("webhook-id") == refused[0].header("webhook-id"),
        "the delivery came back under another id"
    );
    let event = delivered.json();
    ensure!(
        event["type"] == "avatar.updated" && event["data"]["jobId"] == id.as_str(),
        "delivered {event}"
    );
    Ok(())
}
