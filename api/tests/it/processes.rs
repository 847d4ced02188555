//! The processes as an operator runs them: API and workers apart, clear
//! start-up failures, and clean exits on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::app::worker_binary;
use crate::support::{TestApp, images};

#[tokio::test]
async fn api_and_separate_worker_processes_serve_every_route() {
    let app = TestApp::builder()
        .in_process_workers(0)
        .worker_processes(2)
        .start()
        .await;
    let first = app
        .put_bytes("alice", "me", "", images::jpeg(900, 600))
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = app.put_file("alice", "me", images::webp(600, 900)).await;
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.expect("json");
    let current: Value = app.current_avatar("alice", "me").await;
    assert_eq!(current["avatarUrl"], second["avatarUrl"]);
}

/// Runs a binary with `env` and returns its exit status and standard error.
fn run_briefly(
    binary: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let output = Command::new(binary)
        .env_remove("AVATARS_JWT_SECRET")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the binary");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn misconfiguration_stops_start_up_with_one_clear_line() {
    let api = std::path::PathBuf::from(env!("CARGO_BIN_EXE_avatar-api"));
    let listen = format!("127.0.0.1:{}", crate::support::s3::free_port());
    let (status, stderr) = run_briefly(&api, &[("AVATARS_LISTEN", &listen)]);
    assert!(!status.success());
    assert!(stderr.contains("AVATARS_JWT_SECRET"), "{stderr}");

    let (status, stderr) = run_briefly(
        &api,
        &[
            ("AVATARS_LISTEN", &listen),
            ("AVATARS_JWT_SECRET", "a-long-enough-secret-for-tests"),
            ("AVATARS_REDIS_URL", "redis://127.0.0.1:1"),
        ],
    );
    assert!(!status.success());
    assert!(stderr.contains("AVATARS_REDIS_URL"), "{stderr}");

    // A Redis password is never printed, not even in a start-up error.
    let (status, stderr) = run_briefly(
        &api,
        &[
            ("AVATARS_LISTEN", &listen),
            ("AVATARS_JWT_SECRET", "a-long-enough-secret-for-tests"),
            (
                "AVATARS_REDIS_URL",
                "redis://avatars:s3cret-pa55@127.0.0.1:1",
            ),
        ],
    );
    assert!(!status.success());
    assert!(!stderr.contains("s3cret-pa55"), "{stderr}");
    assert!(
        stderr.contains("redis://avatars:***@127.0.0.1:1"),
        "{stderr}"
    );

    let (status, stderr) = run_briefly(
        &worker_binary(),
        &[
            ("AVATARS_S3_BUCKET", "no-such-bucket-anywhere"),
            ("AVATARS_S3_ENDPOINT", &crate::support::s3::endpoint()),
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "y"),
        ],
    );
    assert!(!status.success());
    assert!(stderr.contains("no-such-bucket-anywhere"), "{stderr}");
}

#[tokio::test]
async fn sigterm_stops_the_api_and_a_worker_cleanly() {
    let mut app = TestApp::builder().worker_processes(1).start().await;
    assert_eq!(
        app.put_bytes("bob", "me", "", images::jpeg(64, 64))
            .await
            .status(),
        StatusCode::OK
    );
    let pids: Vec<u32> = std::iter::once(app.api().id())
        .chain(app.workers.iter().map(|w| w.id()))
        .collect();
    for pid in &pids {
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for worker in app.workers.iter_mut() {
        let status = wait_with_deadline(worker, deadline);
        assert!(status.success(), "the worker exited with {status}");
    }
    let status = wait_with_deadline(app.api(), deadline);
    assert!(status.success(), "the API exited with {status}");
}

fn wait_with_deadline(
    child: &mut std::process::Child,
    deadline: Instant,
) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
