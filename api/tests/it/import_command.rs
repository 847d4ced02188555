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
    let mut command = Command::new(import_binary());
    command
        .args([
            "--api",
            &app.address,
            "--token",
            &app.admin_token("migrator"),
        ])
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
async fn usage_errors_exit_2_and_help_explains_every_flag() {
    let app = TestApp::spawn().await;
    let missing = run(&app, &["/nonexistent/users.csv"]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cannot read the input /nonexistent/users.csv"),
        "{}",
        text(&missing.stderr)
    );

    let help = Command::new(import_binary())
        .arg("--help")
        .output()
        .expect("runs");
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for flag in [
        "--api",
        "--token",
        "--mode",
        "--failures",
        "--chunk",
        "--concurrency",
        "Example:",
        "Exit status",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}: {help}");
    }
    let bad = Command::new(import_binary())
        .args([
            "--api",
            "http://127.0.0.1:1",
            "--token",
            "t",
            "--mode",
            "sometimes",
            "x.csv",
        ])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
}
