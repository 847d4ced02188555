//! `avatar-import`: runs a migration from a CSV or JSONL file through the
//! avatar API, as any client would. URL rows go in chunks through
//! `POST /imports`; file rows are uploaded as bulk PUTs with bounded
//! concurrency. Progress is kept in a state file beside the input, so a
//! run stopped at any point is resumed by running the same command again.

#![forbid(unsafe_code)]

mod client;
mod files;
mod input;
mod progress;
mod state;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::StreamExt as _;
use serde_json::{Value, json};

use avatar_common::imports::FAILURES_KEPT;
use avatar_common::{ImportId, JobId, UserId};

use crate::client::Client;
use crate::files::FilesRoot;
use crate::input::{Row, Source};
use crate::progress::Progress;
use crate::state::{State, Step};

/// Imports avatars into the avatar service from a CSV or JSONL file.
///
/// The input is a CSV whose header names `userId` and `avatarUrl` (the
/// service fetches each URL) or `path` (a local file this command
/// uploads), or JSONL with the same fields. A path is taken from the
/// input's folder, or from --files-root; a row whose path leads outside
/// it (an absolute path elsewhere, `..`, a symbolic link), or is not a
/// regular file, fails without being read, and so does a row whose
/// userId is not one the API takes.
///
/// Stop it at any time (Ctrl-C, a kill) and run the same command again: it
/// picks up where it was from the state file beside the input
/// (`<input>.avatar-import-state`), and redoes nothing that was finished.
/// Delete that file to start over.
///
/// Exit status: 0 when every row completed or was skipped, 1 when some
/// failed (they are listed in the failures file), 2 on a usage or
/// connection error.
///
/// Example:
///
///   avatar-import --api https://avatars.example.com --token "$ADMIN_TOKEN" users.csv
#[derive(Parser, Debug)]
#[command(name = "avatar-import", version, verbatim_doc_comment)]
struct Args {
    /// Base URL of the avatar API, e.g. https://avatars.example.com
    #[arg(long, env = "AVATARS_API_URL")]
    api: String,

    /// Bearer token with the avatars:admin scope.
    #[arg(long, env = "AVATARS_TOKEN", hide_env_values = true)]
    token: String,

    /// `replace` every user's avatar, or fill only `missing` ones (users
    /// who have an avatar when theirs would be made are skipped).
    #[arg(long, default_value = "replace", value_parser = ["replace", "missing"])]
    mode: String,

    /// Where the failed rows are written, as CSV with their error.
    /// Default: the input's name with `.failures.csv` appended.
    #[arg(long)]
    failures: Option<PathBuf>,

    /// The folder that `path` rows are read from, and that none may leave.
    /// Default: the input's folder.
    #[arg(long)]
    files_root: Option<PathBuf>,

    /// The largest file a `path` row may name; a larger one fails
    /// unread. The API refuses uploads above its own limit too.
    #[arg(long, default_value_t = 25 << 20)]
    max_file_bytes: u64,

    /// URL rows per import.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    chunk: u64,

    /// File rows uploaded at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    concurrency: u64,

    /// The CSV or JSONL file (`.jsonl`, `.ndjson`, or a first line that is
    /// a JSON object).
    input: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(&args).await {
        Ok(summary) => {
            println!("{summary}");
            if summary.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("avatar-import: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// How the run ended.
struct Summary {
    rows: usize,
    completed: u64,
    skipped: u64,
    failed: u64,
    /// Failed rows the service counted but did not list.
    unlisted: u64,
    failures_file: PathBuf,
    took: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows: {} completed, {} skipped, {} failed in {:.1} s",
            self.rows,
            self.completed,
            self.skipped,
            self.failed,
            self.took.as_secs_f64()
        )?;
        if self.failed > 0 {
            write!(
                f,
                "; the failed rows are in {}",
                self.failures_file.display()
            )?;
            if self.unlisted > 0 {
                write!(
                    f,
                    " ({} more failed that the service counted but did not list: it lists an import's first {FAILURES_KEPT})",
                    self.unlisted
                )?;
            }
        }
        Ok(())
    }
}

async fn run(args: &Args) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let rows = input::read(&args.input)?;
    if rows.is_empty() {
        bail!("{} has no rows", args.input.display());
    }
    let client = Client::new(&args.api, &args.token)?;
    let root = match &args.files_root {
        Some(root) => root.clone(),
        None => match args.input.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        },
    };
    let files_root = FilesRoot::new(&root, args.max_file_bytes)?;
    let state_path = State::path_for(&args.input);
    let mut state = State::open(&state_path, &args.input, rows.len(), &args.mode)?;
    let progress = Progress::new(rows.len() as u64);

    // A row the API would refuse, or whose file may not be read, fails
    // here, and nothing of it is sent.
    for row in &rows {
        if state.handed.contains(&row.number) {
            continue;
        }
        if let Some((code, message)) = refusal(row, &files_root) {
            state.record(Step::RowEnded {
                row: row.number,
                outcome: "failed".into(),
                code: Some(code.into()),
                message: Some(message),
            })?;
        }
    }
    progress.set(&state);

    // URL rows not yet handed over go in imports, in row order.
    let urls: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.source, Source::Url(_)) && !state.handed.contains(&r.number))
        .collect();
    for chunk in urls.chunks(args.chunk as usize) {
        let lines: String = chunk
            .iter()
            .map(|row| {
                let Source::Url(url) = &row.source else {
                    unreachable!("only URL rows are chunked")
                };
                format!("{}\n", json!({"userId": row.user, "avatarUrl": url}))
            })
            .collect();
        let answer = client.post_import(lines, &args.mode).await?;
        if answer.status.as_u16() != 202 {
            let (code, message) = answer.error();
            bail!(
                "the API refused an import ({}, {code}): {message}",
                answer.status
            );
        }
        let import = checked::<ImportId>("import", &answer.body["importId"])?;
        state.record(Step::Imported {
            import,
            rows: chunk.iter().map(|r| r.number).collect(),
        })?;
    }

    // File rows not yet handed over are uploaded, a few at a time.
    let files: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.source, Source::File(_)) && !state.handed.contains(&r.number))
        .collect();
    let mut uploads = futures::stream::iter(files)
        .map(|row| upload(&client, &files_root, row))
        .buffer_unordered(args.concurrency as usize);
    while let Some(step) = uploads.next().await {
        state.record(step?)?;
        progress.set(&state);
    }
    drop(uploads);

    // Then everything handed over is followed to its end; the items of
    // imports still running count in the progress as they end.
    while !state.open_imports.is_empty() || !state.open_jobs.is_empty() {
        let (mut ended, mut failed) = (0, 0);
        for (import, rows) in state.open_imports.clone() {
            match import_steps(&client, &import, &rows).await? {
                Followed::Running {
                    ended: e,
                    failed: f,
                } => (ended, failed) = (ended + e, failed + f),
                Followed::Ended(steps) => {
                    for step in steps {
                        state.record(step)?;
                    }
                }
            }
        }
        for (row, job) in state.open_jobs.clone() {
            if let Some(step) = job_step(&client, row, &job).await? {
                state.record(step)?;
            }
        }
        progress.set_running(&state, ended, failed);
        if !state.open_imports.is_empty() || !state.open_jobs.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    progress.finish(&state);

    let failures_file = args.failures.clone().unwrap_or_else(|| {
        let mut name = args.input.as_os_str().to_owned();
        name.push(".failures.csv");
        PathBuf::from(name)
    });
    write_failures(&failures_file, &rows, &state)?;
    Ok(Summary {
        rows: rows.len(),
        completed: state.completed,
        skipped: state.skipped,
        failed: state.failures.len() as u64 + state.unlisted,
        unlisted: state.unlisted,
        failures_file,
        took: started.elapsed(),
    })
}

/// Why `row` fails before anything of it is sent: a user id the API
/// refuses, or a path outside the files root.
fn refusal(row: &Row, files: &FilesRoot) -> Option<(&'static str, String)> {
    if let Err(e) = row.user.parse::<UserId>() {
        return Some(("invalid_user_id", e.to_string()));
    }
    match &row.source {
        Source::File(path) => files.relative(path).err().map(|r| (r.code, r.message)),
        Source::Url(_) => None,
    }
}

/// The id in `value`, an answer's `importId` or `jobId`, if it is one the
/// API makes: it then names one path segment of later requests, and
/// nothing else.
fn checked<T: std::str::FromStr>(what: &str, value: &Value) -> anyhow::Result<String> {
    let Some(id) = value.as_str() else {
        bail!("the API's answer has no {what} id");
    };
    if id.parse::<T>().is_err() {
        bail!(
            "the API answered a {what} id {:?} that it does not make; is --api the avatar service?",
            id.chars().take(64).collect::<String>()
        );
    }
    Ok(id.to_owned())
}

/// Uploads a file row; a row the API refuses at once ends failed.
async fn upload(client: &Client, files: &FilesRoot, row: &Row) -> anyhow::Result<Step> {
    let Source::File(path) = &row.source else {
        unreachable!("only file rows are uploaded")
    };
    let failed = |code: &str, message: String| Step::RowEnded {
        row: row.number,
        outcome: "failed".into(),
        code: Some(code.into()),
        message: Some(message),
    };
    let bytes = match files.read(path) {
        Ok(bytes) => bytes,
        Err(refusal) => return Ok(failed(refusal.code, refusal.message)),
    };
    let answer = client.upload(&row.user, bytes).await?;
    match answer.status.as_u16() {
        200 | 202 => Ok(Step::Uploaded {
            job: checked::<JobId>("job", &answer.body["jobId"])?,
            row: row.number,
        }),
        _ => {
            let (code, message) = answer.error();
            Ok(failed(&code, message))
        }
    }
}

/// Failures asked for per page.
const FAILURES_PAGE: u64 = 1000;

/// Where an import stands.
enum Followed {
    /// Some items run; so many have ended, so many of them failed.
    Running { ended: u64, failed: u64 },
    /// Every item has ended: each failed row, then the import's counts.
    Ended(Vec<Step>),
}

/// Where `import` stands, and once it has ended, the steps that record it.
async fn import_steps(client: &Client, import: &str, rows: &[usize]) -> anyhow::Result<Followed> {
    let answer = client.get(&["imports", import], &[]).await?;
    match answer.status.as_u16() {
        200 => {}
        404 => bail!(
            "import {import} is gone from the API (expired?); delete the state file to start over"
        ),
        status => {
            let (code, message) = answer.error();
            bail!("reading import {import}: the API answered {status} ({code}): {message}")
        }
    }
    let state = answer.body;
    let count = |name: &str| state[name].as_u64().unwrap_or(0);
    if !state["finishedAt"].is_string() {
        let ended = ["completed", "failed", "skipped", "cancelled"]
            .map(count)
            .iter()
            .sum();
        return Ok(Followed::Running {
            ended,
            failed: count("failed"),
        });
    }
    let mut steps = Vec::new();
    let mut cursor: Option<String> = None;
    // The failures come in pages of up to 1,000 in a row; a server whose
    // cursor repeats, or who pages on past the count, is not followed.
    let failed = count("failed");
    let most_pages = failed / FAILURES_PAGE + 1;
    let mut seen = std::collections::HashSet::new();
    for page in 0.. {
        if page > most_pages {
            bail!(
                "import {import} counts {failed} failed items, but its failures go on past {most_pages} pages of {FAILURES_PAGE}; is --api the avatar service?"
            );
        }
        let limit = FAILURES_PAGE.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let answer = client.get(&["imports", import, "failures"], &query).await?;
        if answer.status.as_u16() != 200 {
            let (code, message) = answer.error();
            bail!(
                "reading the failures of import {import}: the API answered {} ({code}): {message}",
                answer.status
            );
        }
        let page = answer.body;
        for item in page["items"].as_array().into_iter().flatten() {
            let Some(&row) = item["index"].as_u64().and_then(|i| rows.get(i as usize)) else {
                continue;
            };
            steps.push(Step::RowEnded {
                row,
                outcome: "failed".into(),
                code: item["error"]["code"].as_str().map(str::to_owned),
                message: item["error"]["message"].as_str().map(str::to_owned),
            });
        }
        if steps.len() as u64 > failed {
            bail!(
                "import {import} counts {failed} failed items but lists more; is --api the avatar service?"
            );
        }
        match page["nextCursor"].as_str() {
            Some(next) if !seen.insert(next.to_owned()) => bail!(
                "the failures of import {import} page back to a cursor already read; is --api the avatar service?"
            ),
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let listed = steps.len() as u64;
    // The service lists an import's first FAILURES_KEPT failures; past
    // them it only counts.
    if listed != failed.min(FAILURES_KEPT) {
        bail!(
            "import {import} counts {failed} failed items but lists {listed}; run again to read them anew"
        );
    }
    steps.push(Step::ImportEnded {
        ended: import.to_owned(),
        completed: count("completed"),
        skipped: count("skipped") + count("cancelled"),
        failed,
        unlisted: failed - listed,
    });
    Ok(Followed::Ended(steps))
}

/// The step that ends a file row's job; `None` while it runs.
async fn job_step(client: &Client, row: usize, job: &str) -> anyhow::Result<Option<Step>> {
    let answer = client.get(&["jobs", job], &[]).await?;
    if !matches!(answer.status.as_u16(), 200 | 404) {
        let (code, message) = answer.error();
        bail!(
            "reading job {job}: the API answered {} ({code}): {message}",
            answer.status
        );
    }
    let body: Value = answer.body;
    let (outcome, code, message) = match body["status"].as_str() {
        Some("completed") => ("completed", None, None),
        Some("failed") => (
            "failed",
            body["error"]["code"].as_str().map(str::to_owned),
            body["error"]["message"].as_str().map(str::to_owned),
        ),
        _ if answer.status.as_u16() == 404 => (
            "failed",
            Some("not_found".to_owned()),
            Some(format!("job {job} is gone from the API (expired?)")),
        ),
        _ => return Ok(None),
    };
    Ok(Some(Step::RowEnded {
        row,
        outcome: outcome.into(),
        code,
        message,
    }))
}

/// Writes every failed row, in row order, with its row number and error,
/// as a CSV that this command takes as its input again.
fn write_failures(path: &Path, rows: &[Row], state: &State) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_path(path)
        .with_context(|| format!("cannot write the failures to {}", path.display()))?;
    writer.write_record(["userId", "avatarUrl", "path", "row", "code", "message"])?;
    for row in rows {
        if let Some(failure) = state.failures.get(&row.number) {
            let (url, file) = match &row.source {
                Source::Url(url) => (url.clone(), String::new()),
                Source::File(path) => (String::new(), path.display().to_string()),
            };
            writer.write_record([
                &row.user,
                &url,
                &file,
                &(row.number + 1).to_string(),
                &failure.code,
                &failure.message,
            ])?;
        }
    }
    writer.flush()?;
    Ok(())
}
