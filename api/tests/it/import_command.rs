//! `avatar-import`, run as a child process against the running service.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::app::import_binary;
use crate::support::{TestApp, eventually, images, source_server};

/// A folder of its own for one test's input files.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avatar-import-{name}-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("cannot make the input folder");
    dir
}

/// Runs `avatar-import` with `args` against `app`, stdout piped (not a
/// terminal).
async fn run(app: &TestApp, args: &[&str]) -> Output {
    run_against(&app.address, &app.admin_token("migrator"), args).await
}

/// Runs `avatar-import` with `args` against the API at `address`.
async fn run_against(address: &str, token: &str, args: &[&str]) -> Output {
    let mut command = Command::new(import_binary());
    command
        .args(["--api", address, "--token", token])
        .args(args)
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().expect("cannot run avatar-import"))
        .await
        .expect("joined")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_csv_of_urls_and_files_is_imported_and_a_second_run_redoes_nothing() {
    let app = TestApp::spawn().await;
    let origin = source_server::start(images::png(300, 300), Duration::ZERO).await;
    let dir = folder("csv");
    std::fs::write(dir.join("a.png"), images::png(200, 200)).expect("write");
    std::fs::write(dir.join("b.jpg"), images::jpeg(200, 150)).expect("write");
    std::fs::write(dir.join("notes.txt"), "not a picture").expect("write");
    let mut csv = String::from("userId,avatarUrl,path\n");
    for n in 0..5 {
        csv += &format!("url-{n},{origin}/image/{n},\n");
    }
    csv += &format!("url-gone,{origin}/missing,\n");
    csv += "file-a,,a.png\nfile-b,,b.jpg\nfile-text,,notes.txt\n";
    let input = dir.join("users.csv");
    std::fs::write(&input, csv).expect("write");
    let input_arg = input.to_str().expect("path");

    let first = run(&app, &["--chunk", "4", input_arg]).await;
    let out = text(&first.stdout);
    assert_eq!(first.status.code(), Some(1), "{out}{}", text(&first.stderr));
    assert!(out.contains("progress: 9/9 done, 2 failed"), "{out}");
    assert!(
        out.contains("9 rows: 7 completed, 0 skipped, 2 failed"),
        "{out}"
    );

    let failures =
        std::fs::read_to_string(dir.join("users.csv.failures.csv")).expect("failures file");
    let lines: Vec<&str> = failures.lines().collect();
    assert_eq!(lines.len(), 3, "{failures}");
    assert_eq!(lines[0], "userId,avatarUrl,path,row,code,message");
    assert!(
        lines[1].starts_with(&format!("url-gone,{origin}/missing,,6,image_rejected,")),
        "{failures}"
    );
    assert!(
        lines[2].starts_with("file-text,,")
            && lines[2].contains("notes.txt,9,unsupported_media_type,"),
        "{failures}"
    );

    let before: Vec<_> = ["url-0", "url-4", "file-a", "file-b"]
        .iter()
        .map(|user| user.to_string())
        .collect();
    let mut current = Vec::new();
    for user in &before {
        let avatar = app.current_avatar("anyone", user).await;
        assert!(avatar["avatarUrl"].is_string(), "{user}: {avatar}");
        current.push(avatar);
    }
    let hits = origin.hits_under("/image/");

    let second = run(&app, &["--chunk", "4", input_arg]).await;
    let out = text(&second.stdout);
    assert_eq!(second.status.code(), Some(1), "{out}");
    assert!(
        out.contains("9 rows: 7 completed, 0 skipped, 2 failed"),
        "{out}"
    );
    assert_eq!(
        origin.hits_under("/image/"),
        hits,
        "URL rows were fetched again"
    );
    for (user, avatar) in before.iter().zip(&current) {
        assert_eq!(
            &app.current_avatar("anyone", user).await,
            avatar,
            "{user} was redone"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_run_killed_midway_resumes_where_it_was() {
    let app = TestApp::spawn().await;
    let origin = source_server::start(images::png(64, 64), Duration::from_millis(700)).await;
    let dir = folder("killed");
    let lines: String = (0..6)
        .map(|n| format!("{{\"userId\": \"resumed-{n}\", \"avatarUrl\": \"{origin}/slow/{n}\"}}\n"))
        .collect();
    let input = dir.join("users.jsonl");
    std::fs::write(&input, lines).expect("write");
    let state = dir.join("users.jsonl.avatar-import-state");

    let mut child = Command::new(import_binary())
        .args([
            "--api",
            &app.address,
            "--token",
            &app.admin_token("migrator"),
        ])
        .args(["--chunk", "3", input.to_str().expect("path")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run avatar-import");
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(10),
        "no import was recorded",
        || async {
            let recorded = std::fs::read_to_string(&state).unwrap_or_default();
            match recorded.matches("\"import\"").count() {
                2 => Ok(()),
                n => Err(format!("{n} imports recorded")),
            }
        },
    )
    .await;
    child.kill().expect("kill");
    let _ = child.wait();

    let again = run(&app, &["--chunk", "3", input.to_str().expect("path")]).await;
    let out = text(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{out}{}", text(&again.stderr));
    assert!(out.contains("6 rows: 6 completed"), "{out}");
    for n in 0..6 {
        assert_eq!(
            origin.hits(&format!("/slow/{n}")),
            1,
            "row {n} was imported twice"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_input_that_cannot_be_read_exits_2_saying_so() {
    let app = TestApp::spawn().await;
    let missing = run(&app, &["/nonexistent/users.csv"]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cannot read the input /nonexistent/users.csv"),
        "{}",
        text(&missing.stderr)
    );
}

#[tokio::test]
async fn rows_naming_files_outside_their_folder_or_bad_user_ids_fail_unsent() {
    let app = TestApp::spawn().await;
    let dir = folder("confined");
    std::fs::write(dir.join("ok.jpg"), images::jpeg(120, 120)).expect("write");
    std::os::unix::fs::symlink("/etc/passwd", dir.join("link.jpg")).expect("link");
    std::os::unix::fs::symlink("/etc", dir.join("etc")).expect("link");
    let csv = "userId,path\n\
        u1,/etc/shadow\n\
        u2,../../../../etc/passwd\n\
        u3,/proc/self/environ\n\
        u4,link.jpg\n\
        u5,etc/passwd\n\
        victim/avatarBytes?priority=interactive&wait=30#,ok.jpg\n\
        ../../../imports/x,ok.jpg\n\
        u6,ok.jpg\n";
    let input = dir.join("users.csv");
    std::fs::write(&input, csv).expect("write");

    let out = run(&app, &[input.to_str().expect("path")]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("8 rows: 1 completed, 0 skipped, 7 failed"),
        "{stdout}"
    );

    let failures =
        std::fs::read_to_string(dir.join("users.csv.failures.csv")).expect("failures file");
    // userId,avatarUrl,path,row,code,message: none of these user ids or
    // paths holds a comma, and the message is last.
    let codes: Vec<(String, String)> = failures
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.splitn(6, ',').collect();
            (fields[0].to_owned(), fields[4].to_owned())
        })
        .collect();
    let expected = [
        ("u1", "path_refused"),
        ("u2", "path_refused"),
        ("u3", "path_refused"),
        ("u4", "path_refused"),
        ("u5", "path_refused"),
        (
            "victim/avatarBytes?priority=interactive&wait=30#",
            "invalid_user_id",
        ),
        ("../../../imports/x", "invalid_user_id"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(u, c)| (u.to_string(), c.to_string()))
        .collect();
    assert_eq!(codes, expected, "{failures}");
    assert!(
        !failures.contains("root:"),
        "a refused file's content reached the failures: {failures}"
    );

    assert!(app.current_avatar("anyone", "u6").await["avatarUrl"].is_string());
    for user in ["victim", "u1", "u4"] {
        let response = app.get_avatar("anyone", user).await;
        assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND, "{user}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a server that is not the avatar API answers `avatar-import`.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// An import's state that never ends: 3 GB of spaces.
    EndlessState,
    /// Failures whose `nextCursor` is the one just asked with.
    SameCursor,
    /// Failures whose `nextCursor` is new each time, with no items.
    EndlessCursors,
    /// An `importId` that is a path.
    PathImportId,
}

/// What the misbehaving server saw and sent.
#[derive(Default)]
struct Seen {
    requests: std::sync::atomic::AtomicU64,
    bytes_sent: std::sync::atomic::AtomicU64,
    paths: std::sync::Mutex<Vec<String>>,
}

const IMPORT_ID: &str = "01JA0000000000000000000000";

/// Starts a server on 127.0.0.1 that answers as `how` says.
async fn misbehaving_server(how: Misbehaviour) -> (String, std::sync::Arc<Seen>) {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::response::{IntoResponse, Response};
    use serde_json::json;

    async fn answer(
        State((how, seen)): State<(Misbehaviour, Arc<Seen>)>,
        request: Request,
    ) -> Response {
        let n = seen.requests.fetch_add(1, Ordering::SeqCst);
        let path = request.uri().path().to_owned();
        seen.paths
            .lock()
            .expect("lock")
            .push(request.uri().to_string());
        if request.method() == axum::http::Method::POST {
            let id = match how {
                Misbehaviour::PathImportId => "../../../admin",
                _ => IMPORT_ID,
            };
            return (
                axum::http::StatusCode::ACCEPTED,
                axum::Json(json!({"importId": id})),
            )
                .into_response();
        }
        match how {
            Misbehaviour::EndlessState => {
                let seen = seen.clone();
                let chunk = bytes::Bytes::from(vec![b' '; 64 << 10]);
                let chunks = futures::stream::iter(0..(3u64 << 30) / (64 << 10)).map(move |_| {
                    seen.bytes_sent
                        .fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(chunk.clone())
                });
                Response::new(Body::from_stream(chunks))
            }
            _ if path.ends_with("/failures") => {
                let cursor = match how {
                    Misbehaviour::SameCursor => "again".to_owned(),
                    _ => format!("c{n}"),
                };
                axum::Json(json!({"items": [], "nextCursor": cursor})).into_response()
            }
            _ => axum::Json(json!({
                "importId": IMPORT_ID, "finishedAt": "2026-01-01T00:00:00Z",
                "queued": 0, "processing": 0, "completed": 0, "failed": 2500,
                "skipped": 0, "cancelled": 0,
            }))
            .into_response(),
        }
    }

    use futures::StreamExt as _;
    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .fallback(answer)
        .with_state((how, seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, seen)
}

#[tokio::test]
async fn a_server_that_is_not_the_api_cannot_hold_the_command() {
    use std::sync::atomic::Ordering;

    let dir = folder("misbehaving");
    let input = dir.join("users.csv");
    std::fs::write(&input, "userId,avatarUrl\nu1,https://example.com/a.png\n").expect("write");
    let input = input.to_str().expect("path");
    for (how, says) in [
        (Misbehaviour::EndlessState, "longer than"),
        (Misbehaviour::SameCursor, "cursor already read"),
        (Misbehaviour::EndlessCursors, "go on past 3 pages"),
        (Misbehaviour::PathImportId, "does not make"),
    ] {
        let _ = std::fs::remove_file(format!("{input}.avatar-import-state"));
        let (address, seen) = misbehaving_server(how).await;
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            run_against(&address, "any-token", &[input]),
        )
        .await
        .unwrap_or_else(|_| panic!("avatar-import still runs against a server that {says}"));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{says}: {stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
        let requests = seen.requests.load(Ordering::SeqCst);
        assert!(requests <= 6, "{says}: {requests} requests");
        let sent = seen.bytes_sent.load(Ordering::SeqCst);
        assert!(sent < 64 << 20, "{says}: the command read {sent} bytes");
        let paths = seen.paths.lock().expect("lock").clone();
        assert!(
            paths.iter().all(|p| p.starts_with("/api/public/imports")),
            "{says}: {paths:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
