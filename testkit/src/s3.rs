//! The S3-compatible server the tests use: the one named by
//! `AVATARS_TEST_S3_ENDPOINT`, or a `moto_server` started once per test run
//! and stopped when the run ends.

use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;

/// Credentials sent to the test server (moto accepts any).
pub const ACCESS_KEY: &str = "avatars-test";
pub const SECRET_KEY: &str = "avatars-test-secret";
pub const REGION: &str = "us-east-1";

/// The moto process lives as long as this pipe: its shell wrapper kills it
/// when the test binary exits and the pipe closes (the wrapper then exits).
static SERVER: OnceLock<(String, Child, ChildStdin)> = OnceLock::new();

/// The endpoint of the S3 server, starting one if needed.
pub fn endpoint() -> String {
    if let Ok(endpoint) = std::env::var("AVATARS_TEST_S3_ENDPOINT") {
        return endpoint;
    }
    SERVER.get_or_init(start_moto).0.clone()
}

fn start_moto() -> (String, Child, ChildStdin) {
    let port = free_port();
    let moto = std::env::var("AVATARS_TEST_MOTO").unwrap_or_else(|_| "moto_server".into());
    let script = format!("{moto} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; read _; kill $m");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .spawn()
        .expect("cannot run sh to start moto_server");
    let stdin = child.stdin.take().expect("piped stdin");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}; install it with `pip install 'moto[server]'` \
             or name an S3 server in AVATARS_TEST_S3_ENDPOINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (endpoint, child, stdin)
}

/// A client for the test server.
pub async fn client() -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "tests",
        ))
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .endpoint_url(endpoint())
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// Creates a fresh, publicly readable bucket and returns its name.
pub async fn fresh_bucket() -> String {
    let name = format!("it-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let client = client().await;
    client
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("cannot create a test bucket");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{name}/*"}}]}}"#
    );
    client
        .put_bucket_policy()
        .bucket(&name)
        .policy(policy)
        .send()
        .await
        .expect("cannot set the bucket policy");
    name
}

/// Keys of every object in `bucket`.
pub async fn keys(bucket: &str) -> Vec<String> {
    let listed = client()
        .await
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("cannot list the bucket");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// The keys of `bucket` once `settled` holds for them, polled for up to 30 s;
/// past that the test fails, naming `waiting_for` and the keys it saw.
pub async fn keys_once(
    bucket: &str,
    settled: impl Fn(&[String]) -> bool,
    waiting_for: &str,
) -> Vec<String> {
    super::eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        waiting_for,
        || async {
            let keys = keys(bucket).await;
            if settled(&keys) {
                Ok(keys)
            } else {
                Err(format!("{keys:?}"))
            }
        },
    )
    .await
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}
