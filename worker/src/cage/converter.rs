//! One converter process, seen from the worker: started, handed one job at
//! a time over its pipes, killed when its job outlives its time bound, and
//! told apart by how it ended when it dies. Its log lines (standard error)
//! are passed on to the worker's, and the last few kept to tell an
//! allocation failure from another crash.

use std::collections::VecDeque;
use std::os::fd::AsFd as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader,
};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

use super::child::{CHILD_ARG, ChildArgs};
use super::wire::{self, Bound, Reply, Request};

/// The size asked for a converter's pipes.
const PIPE_BYTES: usize = 1 << 20;

/// Log lines of a converter kept to read its end from.
const TAIL_LINES: usize = 8;

/// What a converter's last log lines say when an allocation failed: Rust's
/// allocation-failure message, and the abort of a C++ `std::bad_alloc`
/// that unwound into Rust.
const OUT_OF_MEMORY_SIGNS: [&str; 4] = [
    "memory allocation of",
    "bad_alloc",
    "Cannot allocate memory",
    "cannot catch foreign exceptions",
];

/// How a job in a converter ended, short of an avatar or a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Death {
    /// Killed at its time bound, or stopped by its CPU-time limit.
    TimedOut(Duration),
    /// An allocation failed at the address-space limit.
    OutOfMemory,
    /// It died some other way: a signal, or an exit in the middle of a job.
    Crashed(String),
}

/// A running converter process.
pub struct Converter {
    /// Whether it has said it is ready for work.
    ready: bool,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    tail: Arc<Mutex<VecDeque<String>>>,
    log: JoinHandle<()>,
}

impl Converter {
    /// Starts `exe` as a converter. Must run inside the Tokio runtime.
    pub fn start(exe: &Path, args: &ChildArgs) -> std::io::Result<Self> {
        let mut child = Command::new(exe)
            .arg(CHILD_ARG)
            .args(args.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Two malloc arenas: each further one reserves 64 MiB of the
            // address-space limit without using it. Buffers up to 64 MiB
            // come from the heap, which is not given back between jobs
            // below 256 MiB: each job would otherwise fault its pages in
            // anew (the recycle mark bounds what is kept).
            .env("MALLOC_ARENA_MAX", "2")
            .env("MALLOC_MMAP_THRESHOLD_", "67108864")
            .env("MALLOC_TRIM_THRESHOLD_", "268435456")
            .kill_on_drop(true)
            .spawn()?;
        let piped = || std::io::Error::other("a converter pipe is missing");
        let stdin = child.stdin.take().ok_or_else(piped)?;
        let stdout = child.stdout.take().ok_or_else(piped)?;
        // A photo crosses in a few large writes rather than forty 64 KiB
        // ones, each a switch between the two processes. The kernel's
        // limit for an unprivileged process is 1 MiB; less is fine.
        for pipe in [stdin.as_fd(), stdout.as_fd()] {
            let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_BYTES);
        }
        let stdout = BufReader::with_capacity(1 << 16, stdout);
        let stderr = child.stderr.take().ok_or_else(piped)?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let log = tokio::spawn(pass_on_log(stderr, Arc::clone(&tail)));
        Ok(Self {
            ready: false,
            child,
            stdin,
            stdout,
            tail,
            log,
        })
    }

    /// The converter's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits, at most `patience`, until the converter has started and is
    /// ready for work; at once when it already was.
    pub async fn ready(&mut self, patience: Duration) -> std::io::Result<()> {
        if self.ready {
            return Ok(());
        }
        match timeout(patience, read_frame(&mut self.stdout)).await {
            Ok(Ok(Some(frame))) if frame.is_empty() => {
                self.ready = true;
                Ok(())
            }
            Ok(Ok(_)) => Err(std::io::Error::other("it said something else than ready")),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other(format!(
                "it was not ready within {} s",
                patience.as_secs()
            ))),
        }
    }

    /// Converts `source` as `request` asks, once [`Self::ready`]. The converter comes back with a
    /// reply it gave; one that died or was killed does not.
    pub async fn convert(
        mut self,
        request: &Request,
        source: &[u8],
    ) -> (Option<Self>, Result<Reply, Death>) {
        let started = Instant::now();
        // Until the converter has read the header, the least time any image
        // gets: the header of a file no larger than the upload limit reads
        // in milliseconds.
        let least = request.budget.base.min(request.budget.ceiling);
        let sent = timeout_at(started + least, self.send(request, source)).await;
        let bound = match sent {
            Err(_) => return (None, Err(self.kill(least).await)),
            Ok(Err(_)) => return (None, Err(self.ended(least).await)),
            Ok(Ok(Bound(bound))) => bound,
        };
        let reply = match timeout_at(started + bound, read_frame(&mut self.stdout)).await {
            Err(_) => return (None, Err(self.kill(bound).await)),
            Ok(Ok(Some(frame))) => Reply::decode(frame),
            Ok(_) => return (None, Err(self.ended(bound).await)),
        };
        match reply {
            Ok(reply) => (Some(self), Ok(reply)),
            Err(e) => {
                tracing::error!(error = %e, "a converter answered nonsense");
                (None, Err(self.kill(bound).await))
            }
        }
    }

    /// Hands over the job, and reads the bound the converter found.
    async fn send(&mut self, request: &Request, source: &[u8]) -> std::io::Result<Bound> {
        let head = request.encode();
        self.stdin.write_all(&wire::prefix(head.len())).await?;
        self.stdin.write_all(&head).await?;
        self.stdin.write_all(&wire::prefix(source.len())).await?;
        self.stdin.write_all(source).await?;
        self.stdin.flush().await?;
        let frame = read_frame(&mut self.stdout)
            .await?
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        Bound::decode(&frame).map_err(std::io::Error::other)
    }

    /// Kills the converter at `bound`: its job took too long.
    async fn kill(mut self, bound: Duration) -> Death {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        Death::TimedOut(bound)
    }

    /// How the converter ended, once it has.
    async fn ended(mut self, bound: Duration) -> Death {
        let status = self.child.wait().await;
        // Its last lines are on their way through the log task.
        let _ = timeout(Duration::from_millis(500), &mut self.log).await;
        let tail: Vec<String> = lock(&self.tail).iter().cloned().collect();
        match status {
            Ok(status) if status.signal() == Some(libc::SIGXCPU) => Death::TimedOut(bound),
            _ if tail
                .iter()
                .any(|line| OUT_OF_MEMORY_SIGNS.iter().any(|sign| line.contains(sign))) =>
            {
                Death::OutOfMemory
            }
            Ok(status) => Death::Crashed(describe(status)),
            Err(e) => Death::Crashed(format!("its end could not be read: {e}")),
        }
    }
}

/// How a process ended, for a person.
fn describe(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(libc::SIGABRT), _) => "it aborted".into(),
        (Some(libc::SIGSEGV), _) => "it read memory it does not own".into(),
        (Some(libc::SIGKILL), _) => "it was killed".into(),
        (Some(signal), _) => format!("it was stopped by signal {signal}"),
        (None, Some(code)) => format!("it exited with status {code}"),
        (None, None) => "it ended".into(),
    }
}

/// One frame, or `None` at the end of the output before a frame starts.
async fn read_frame(input: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Vec<u8>>> {
    let mut prefix = [0u8; 8];
    match input.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = wire::frame_len(prefix).map_err(std::io::Error::other)?;
    let mut frame = vec![0u8; len];
    input.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

/// Passes the converter's log lines on to the worker's standard error,
/// keeping the last few.
async fn pass_on_log(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{line}");
        let mut tail = lock(&tail);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain lines, valid after any panic.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Resident memory of process `pid`, in bytes, from `/proc`.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}
