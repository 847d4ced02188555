//! `TestApp`: a running `avatar-api`, optionally with separate
//! `avatar-worker` processes, under a Redis prefix and a bucket (or data
//! directory) of its own. Dropping it kills the processes and removes the
//! test's Redis keys.
//!
//! Each process logs to a file of its own under the system's temporary
//! folder (`avatar-test-logs/{prefix}/`), not to the test's output: a test
//! that panics prints the tail of every log of its app, and a passing one
//! deletes them. The fault suite, which reports failures without panicking,
//! asks for the logs with [`take_log_dirs`] and [`print_log_tails`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::s3;

/// How many lines of each log a failing test prints.
const LOG_TAIL_LINES: usize = 60;

/// The log folders of the apps started since the last [`take_log_dirs`],
/// kept when [`keep_logs`] was called.
static KEPT_LOGS: Mutex<Option<Vec<PathBuf>>> = Mutex::new(None);

/// Keep every app's logs when it is dropped, for [`take_log_dirs`]: for a
/// harness whose failures are not panics.
pub fn keep_logs() {
    let mut kept = KEPT_LOGS.lock().unwrap_or_else(|p| p.into_inner());
    kept.get_or_insert_with(Vec::new);
}

/// The log folders kept since the last call.
pub fn take_log_dirs() -> Vec<PathBuf> {
    let mut kept = KEPT_LOGS.lock().unwrap_or_else(|p| p.into_inner());
    kept.as_mut().map(std::mem::take).unwrap_or_default()
}

/// Prints the last lines of every log (`*.log`) in `dir` to standard error.
pub fn print_log_tails(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        eprintln!(
            "--- last {} of {} lines of {}",
            tail.len(),
            lines.len(),
            log.display()
        );
        for line in tail {
            eprintln!("{line}");
        }
    }
}

/// The HS256 secret every test API is started with.
pub const SECRET: &str = "integration-test-secret-0123456789";

/// Where a test app stores avatars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A fresh bucket on the test S3 server.
    S3,
    /// A fresh local directory, served by the API under /media.
    Local,
}

/// Builds a [`TestApp`].
pub struct TestAppBuilder {
    storage: Storage,
    in_process_workers: usize,
    worker_processes: usize,
    env: Vec<(String, String)>,
    redis_url: Option<String>,
    s3_endpoint: Option<String>,
    data_dir: Option<PathBuf>,
}

impl TestAppBuilder {
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Job slots inside the API process (`--workers N`).
    pub fn in_process_workers(mut self, n: usize) -> Self {
        self.in_process_workers = n;
        self
    }

    /// Separate `avatar-worker` processes.
    pub fn worker_processes(mut self, n: usize) -> Self {
        self.worker_processes = n;
        self
    }

    /// Another Redis than the shared one.
    pub fn redis_url(mut self, url: &str) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// Reach the S3 server through this endpoint (a proxy, say).
    pub fn s3_endpoint(mut self, endpoint: &str) -> Self {
        self.s3_endpoint = Some(endpoint.into());
        self
    }

    /// Keep local storage in this directory.
    pub fn data_dir(mut self, dir: PathBuf) -> Self {
        self.data_dir = Some(dir);
        self
    }

    /// An extra environment variable for every process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub async fn start(self) -> TestApp {
        let prefix = format!("it-{}", ulid::Ulid::generate());
        let port = s3::free_port();
        let redis = self.redis_url.clone().unwrap_or_else(redis_url);
        let mut env: Vec<(String, String)> = vec![
            ("AVATARS_REDIS_URL".into(), redis.clone()),
            ("AVATARS_REDIS_PREFIX".into(), prefix.clone()),
            ("AVATARS_JWT_SECRET".into(), SECRET.into()),
            ("AVATARS_ALLOW_PRIVATE_SOURCES".into(), "true".into()),
            // The tests' origin servers listen on ports of their own.
            ("AVATARS_FETCH_ALLOWED_PORTS".into(), "any".into()),
            (
                "AVATARS_LOG".into(),
                "warn,avatar_api=info,avatar_worker=info".into(),
            ),
            ("AVATARS_SHUTDOWN_GRACE_SECS".into(), "5".into()),
            // The tests run debug builds, several times slower than a
            // release, on machines that may be busy: every conversion
            // gets 10 s more than its time bound in production.
            ("AVATARS_CONVERT_TIME_BASE_MS".into(), "12000".into()),
        ];
        let (bucket, data_dir) = match self.storage {
            Storage::S3 => {
                let bucket = s3::fresh_bucket().await;
                env.extend([
                    ("AVATARS_S3_BUCKET".into(), bucket.clone()),
                    (
                        "AVATARS_S3_ENDPOINT".into(),
                        self.s3_endpoint.clone().unwrap_or_else(s3::endpoint),
                    ),
                    ("AVATARS_S3_REGION".into(), s3::REGION.into()),
                    ("AWS_ACCESS_KEY_ID".into(), s3::ACCESS_KEY.into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), s3::SECRET_KEY.into()),
                ]);
                (Some(bucket), None)
            }
            Storage::Local => {
                let dir = self
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| std::env::temp_dir().join(&prefix));
                env.push(("AVATARS_DATA_DIR".into(), dir.display().to_string()));
                (None, Some(dir))
            }
        };
        env.extend(self.env);
        let logs = std::env::temp_dir().join("avatar-test-logs").join(&prefix);
        std::fs::create_dir_all(&logs).expect("cannot create the test's log folder");
        let mut app = TestApp {
            redis_url: redis,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            prefix,
            bucket,
            data_dir,
            env,
            api: None,
            api_port: port,
            workers: Vec::new(),
            other_apis: Vec::new(),
            logs,
        };
        app.api = Some(app.spawn_api(port, self.in_process_workers));
        app.api_port = port;
        for _ in 0..self.worker_processes {
            app.add_worker();
        }
        app.wait_until_healthy().await;
        app
    }
}

/// A running API and its workers.
pub struct TestApp {
    pub redis_url: String,
    pub address: String,
    pub client: reqwest::Client,
    pub prefix: String,
    pub bucket: Option<String>,
    pub data_dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    api: Option<Child>,
    api_port: u16,
    pub workers: Vec<Child>,
    /// API processes started beside the first.
    other_apis: Vec<Child>,
    /// The folder of this app's process logs.
    pub logs: PathBuf,
}

impl TestApp {
    /// An API on S3 storage with two in-process job slots.
    pub async fn spawn() -> Self {
        Self::builder().start().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            storage: Storage::S3,
            in_process_workers: 2,
            worker_processes: 0,
            env: Vec::new(),
            redis_url: None,
            s3_endpoint: None,
            data_dir: None,
        }
    }

    /// Standard output and error for a process, appended to `name.log`.
    fn log_to(&self, name: &str) -> (Stdio, Stdio) {
        let file = File::options()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{name}.log")))
            .expect("cannot open a process log");
        let err = file.try_clone().expect("cannot share a process log");
        (Stdio::from(file), Stdio::from(err))
    }

    fn api_command(&self, port: u16, workers: usize) -> Command {
        let mut command = Command::new(api_binary());
        command
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--workers",
                &workers.to_string(),
            ])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    fn spawn_api(&self, port: u16, workers: usize) -> Child {
        let (out, err) = self.log_to("api");
        self.api_command(port, workers)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("cannot start avatar-api")
    }

    /// Starts the API again (after it was stopped), on the same port.
    pub async fn restart_api(&mut self, workers: usize) {
        if let Some(mut old) = self.api.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        self.api = Some(self.spawn_api(self.api_port, workers));
        self.wait_until_healthy().await;
    }

    /// Runs `avatar-worker` with `args` (a subcommand) and this app's
    /// settings; returns its standard output.
    pub fn worker_command(&self, args: &[&str]) -> String {
        let output = Command::new(worker_binary())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("cannot run avatar-worker");
        assert!(
            output.status.success(),
            "avatar-worker {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts one more `avatar-worker` process.
    pub fn add_worker(&mut self) {
        self.add_worker_with(&[]);
    }

    /// Starts one more `avatar-worker` process with extra environment.
    pub fn add_worker_with(&mut self, extra: &[(&str, &str)]) {
        let (out, err) = self.log_to(&format!("worker-{}", self.workers.len() + 1));
        let worker = Command::new(worker_binary())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AVATARS_CONCURRENCY", "2")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("cannot start avatar-worker");
        self.workers.push(worker);
    }

    async fn wait_until_healthy(&mut self) {
        let ready = self.url("/readyz");
        wait_ready(&self.client, &ready, self.api.as_mut()).await;
    }

    /// Starts one more API process with this app's settings and no job
    /// slots, beside the first; answers its address (`http://…`).
    pub async fn add_api(&mut self) -> String {
        let port = s3::free_port();
        let (out, err) = self.log_to(&format!("api-{}", self.other_apis.len() + 2));
        let mut api = self
            .api_command(port, 0)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("cannot start avatar-api");
        let address = format!("http://127.0.0.1:{port}");
        wait_ready(&self.client, &format!("{address}/readyz"), Some(&mut api)).await;
        self.other_apis.push(api);
        address
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The name of this app's Redis key `rest`: its prefix is the keys'
    /// hash tag, `{prefix}:rest`.
    pub fn key(&self, rest: &str) -> String {
        format!("{{{}}}:{rest}", self.prefix)
    }

    /// A connection to this app's Redis.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("the app's Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("cannot connect to the app's Redis")
    }

    /// A bearer token for `sub`, valid for an hour.
    pub fn token(&self, sub: &str) -> String {
        token_with(json!({"sub": sub, "exp": now() + 3600}))
    }

    /// A bearer token for `sub` with the admin scope.
    pub fn admin_token(&self, sub: &str) -> String {
        token_with(json!({"sub": sub, "exp": now() + 3600, "scope": "openid avatars:admin"}))
    }

    /// `PUT .../avatarBytes` with `body`, as `sub`.
    pub async fn put_bytes(
        &self,
        sub: &str,
        user: &str,
        query: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/api/public/user/{user}/avatarBytes{query}")))
            .bearer_auth(self.token(sub))
            .body(body)
            .send()
            .await
            .expect("request failed")
    }

    /// `PUT .../updateAvatarFile` with `body` in the part `avatar`, as `sub`.
    pub async fn put_file(&self, sub: &str, user: &str, body: Vec<u8>) -> reqwest::Response {
        let form = reqwest::multipart::Form::new().part(
            "avatar",
            reqwest::multipart::Part::bytes(body).file_name("photo.bin"),
        );
        self.client
            .put(self.url(&format!("/api/public/user/{user}/updateAvatarFile")))
            .bearer_auth(self.token(sub))
            .multipart(form)
            .send()
            .await
            .expect("request failed")
    }

    /// `PUT .../avatar` with `{"avatarUrl": url}`, as `sub`.
    pub async fn put_url(
        &self,
        sub: &str,
        user: &str,
        query: &str,
        url: &str,
    ) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/api/public/user/{user}/avatar{query}")))
            .bearer_auth(self.token(sub))
            .json(&json!({"avatarUrl": url}))
            .send()
            .await
            .expect("request failed")
    }

    /// `GET .../avatar`, as `sub`.
    pub async fn get_avatar(&self, sub: &str, user: &str) -> reqwest::Response {
        self.get_avatar_with(&self.token(sub), user).await
    }

    /// `GET .../avatar` of `user` with `token`.
    pub async fn get_avatar_with(&self, token: &str, user: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/public/user/{user}/avatar")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request failed")
    }

    /// `DELETE .../avatar` of `user` with `token`.
    pub async fn delete_avatar(&self, token: &str, user: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/api/public/user/{user}/avatar")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request failed")
    }

    /// `GET .../avatar` as `sub`, read as JSON: the current avatar, or the
    /// error.
    pub async fn current_avatar(&self, sub: &str, user: &str) -> Value {
        self.get_avatar(sub, user).await.json().await.expect("json")
    }

    /// `GET /jobs/{id}` as `sub`.
    pub async fn get_job(&self, sub: &str, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/public/jobs/{id}")))
            .bearer_auth(self.token(sub))
            .send()
            .await
            .expect("request failed")
    }

    /// Polls the job until it has ended, and returns its final state.
    pub async fn job_outcome(&self, sub: &str, id: &str) -> Value {
        super::eventually(
            Duration::from_secs(60),
            Duration::from_millis(50),
            &format!("job {id} did not end"),
            || async {
                let job: Value = self.get_job(sub, id).await.json().await.expect("json");
                if matches!(job["status"].as_str(), Some("completed" | "failed")) {
                    Ok(job)
                } else {
                    Err(job.to_string())
                }
            },
        )
        .await
    }

    /// `POST /imports` with a JSON body, as an admin.
    pub async fn post_import(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/public/imports"))
            .bearer_auth(self.admin_token("importer"))
            .json(body)
            .send()
            .await
            .expect("request failed")
    }

    /// `POST /imports{query}` with an NDJSON body, as an admin.
    pub async fn post_import_ndjson(
        &self,
        query: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/public/imports{query}")))
            .bearer_auth(self.admin_token("importer"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("request failed")
    }

    /// `DELETE /imports/{id}` as an admin: cancels the import.
    pub async fn cancel_import(&self, id: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/api/public/imports/{id}")))
            .bearer_auth(self.admin_token("importer"))
            .send()
            .await
            .expect("request failed")
    }

    /// `GET /imports/{id}{rest}` as an admin, read as JSON.
    pub async fn get_import(&self, id: &str, rest: &str) -> Value {
        self.client
            .get(self.url(&format!("/api/public/imports/{id}{rest}")))
            .bearer_auth(self.admin_token("importer"))
            .send()
            .await
            .expect("request failed")
            .json()
            .await
            .expect("json")
    }

    /// Polls the import until every item has ended, and returns its state.
    /// (See [`import_counts`] for its counts.)
    pub async fn import_outcome(&self, id: &str) -> Value {
        super::eventually(
            Duration::from_secs(90),
            Duration::from_millis(100),
            &format!("import {id} did not end"),
            || async {
                let import = self.get_import(id, "").await;
                if import["finishedAt"].is_string() {
                    Ok(import)
                } else {
                    Err(import.to_string())
                }
            },
        )
        .await
    }

    /// Downloads the avatar whose URL a PUT answered with, and reads it.
    pub async fn stored_avatar(&self, body: &Value) -> super::images::AvatarInfo {
        super::images::inspect(&self.stored_avatar_bytes(body).await)
    }

    /// The bytes of the avatar an answer's `avatarUrl` names.
    pub async fn stored_avatar_bytes(&self, body: &Value) -> Vec<u8> {
        let url = body["avatarUrl"]
            .as_str()
            .expect("the answer has no avatarUrl");
        let stored = self.download(url).await.bytes().await.expect("body");
        stored.to_vec()
    }

    /// Downloads a returned avatarUrl.
    pub async fn download(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.expect("download failed")
    }

    /// The API process.
    pub fn api(&mut self) -> &mut Child {
        self.api.as_mut().expect("api process")
    }

    /// The process ids of every API process (the first, then those of
    /// [`TestApp::add_api`]).
    pub fn api_pids(&self) -> Vec<u32> {
        self.api
            .iter()
            .chain(&self.other_apis)
            .map(Child::id)
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let children = self.api.iter_mut().chain(&mut self.other_apis);
        for child in children.chain(self.workers.iter_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Ok(client) = redis::Client::open(self.redis_url.as_str())
            && let Ok(mut conn) = client.get_connection()
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(self.key("*"))
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if std::thread::panicking() {
            print_log_tails(&self.logs);
            return;
        }
        let mut kept = KEPT_LOGS.lock().unwrap_or_else(|p| p.into_inner());
        match kept.as_mut() {
            Some(kept) => kept.push(self.logs.clone()),
            None => {
                let _ = std::fs::remove_dir_all(&self.logs);
            }
        }
    }
}

/// Waits until the API at `ready` (its `/readyz`) answers, failing at once
/// if its process `api` exits first.
async fn wait_ready(client: &reqwest::Client, ready: &str, mut api: Option<&mut Child>) {
    super::eventually(
        Duration::from_secs(30),
        Duration::from_millis(20),
        "avatar-api did not become ready",
        || {
            if let Some(Ok(Some(status))) = api.as_mut().map(|api| api.try_wait()) {
                panic!("avatar-api exited at start-up with {status}");
            }
            let answer = client.get(ready).send();
            async move {
                match answer.await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("/readyz answered {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            }
        },
    )
    .await;
}

/// The Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("AVATARS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// An HS256 token with these claims.
pub fn token_with(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("cannot sign a token")
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The binaries the tests run: those `cargo test --workspace` builds for
/// this run (each package with integration tests has its binaries built
/// first), or those in `AVATARS_TEST_BIN_DIR` when it is set. No test
/// builds anything itself.
fn binary(name: &str) -> PathBuf {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let path = if let Some(dir) = std::env::var_os("AVATARS_TEST_BIN_DIR") {
        PathBuf::from(dir).join(&file)
    } else if let Some(own) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        // Set by cargo for the binaries of the package under test.
        PathBuf::from(own)
    } else {
        // Another package's binary: in the target folder of this build,
        // beside the `deps/` folder that holds the test.
        let test = std::env::current_exe().expect("the test knows its own path");
        let mut dir = test
            .parent()
            .expect("the test is in a folder")
            .to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        dir.join(&file)
    };
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --workspace`, which builds every binary, \
         or build them with `cargo build --workspace --bins` (or set AVATARS_TEST_BIN_DIR)",
        path.display()
    );
    path
}

/// The `avatar-api` binary of this build.
pub fn api_binary() -> PathBuf {
    binary("avatar-api")
}

/// The `avatar-worker` binary of this build.
pub fn worker_binary() -> PathBuf {
    binary("avatar-worker")
}

/// The `avatar-import` binary of this build.
pub fn import_binary() -> PathBuf {
    binary("avatar-import")
}

/// The counts of an import's state, in the order `queued`, `processing`,
/// `completed`, `failed`, `skipped`, `cancelled`; `None` when one is
/// missing.
pub fn import_counts(import: &Value) -> Option<[u64; 6]> {
    let mut counts = [0; 6];
    let names = [
        "queued",
        "processing",
        "completed",
        "failed",
        "skipped",
        "cancelled",
    ];
    for (count, name) in counts.iter_mut().zip(names) {
        *count = import[name].as_u64()?;
    }
    Some(counts)
}
