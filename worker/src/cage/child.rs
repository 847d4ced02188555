//! The converter process: the worker's own binary started with
//! [`CHILD_ARG`]. It puts itself in its sandbox, then converts one source
//! after another from its standard input, answering on its standard
//! output, until the worker closes its input. It reads the source's header
//! itself (the time bound), so no part of a hostile file is parsed in the
//! worker.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use avatar_common::settings::{LogFormat, LogSettings};
use clap::Parser;

use super::sandbox::{self, SandboxError};
use super::wire::{self, Bound, Reply, Request};

/// The first argument that makes the binary a converter.
pub const CHILD_ARG: &str = "__avatar-converter";

/// What the worker tells a converter when it starts it.
#[derive(Parser, Debug)]
#[command(name = "avatar-converter", no_binary_name = true)]
pub struct ChildArgs {
    /// The worker's process id: the converter dies with it.
    #[arg(long)]
    pub parent: u32,
    /// Address space the converter may map, in bytes.
    #[arg(long)]
    pub memory_bytes: u64,
    /// Install the seccomp filter.
    #[arg(long, action = clap::ArgAction::Set)]
    pub seccomp: bool,
    /// Honour the test-only fault markers at the end of a source.
    #[arg(long, action = clap::ArgAction::Set)]
    pub fault_hooks: bool,
    #[arg(long, value_enum)]
    pub log_format: LogFormat,
    #[arg(long)]
    pub log: String,
}

impl ChildArgs {
    /// The arguments after [`CHILD_ARG`].
    pub fn to_args(&self) -> Vec<String> {
        let format = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        [
            ("--parent", self.parent.to_string()),
            ("--memory-bytes", self.memory_bytes.to_string()),
            ("--seccomp", self.seccomp.to_string()),
            ("--fault-hooks", self.fault_hooks.to_string()),
            ("--log-format", format.to_owned()),
            ("--log", self.log.clone()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
    }
}

/// Runs the converter when the process was started as one; `None` when
/// it was not, and the binary goes on as itself. Call it first in `main`,
/// before any runtime or thread is started.
pub fn serve_if_asked() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != CHILD_ARG {
        return None;
    }
    let args = match ChildArgs::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("avatar-converter: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    avatar_common::telemetry::init(&LogSettings {
        log_format: args.log_format,
        log: args.log.clone(),
    });
    match serve(&args) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!(error = %e, "the converter stops");
            Some(ExitCode::FAILURE)
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ChildError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("the worker's pipe failed: {0}")]
    Pipe(#[from] io::Error),
    #[error(transparent)]
    Wire(#[from] wire::WireError),
}

fn serve(args: &ChildArgs) -> Result<(), ChildError> {
    sandbox::limit_process(args.parent, args.memory_bytes)?;
    if args.seccomp
        && let Err(e) = sandbox::confine()
    {
        tracing::warn!(error = %e, "the converter runs without its seccomp filter");
    }
    let mut input = io::stdin().lock();
    let mut output = BufWriter::new(io::stdout().lock());
    // An empty frame: started, sandboxed, waiting for work. The worker
    // counts a job's time from here, not from the start of the process.
    write_frame(&mut output, &[])?;
    output.flush()?;
    // Kept from job to job: its pages are mapped once, not per source.
    let mut source = Vec::new();
    while let Some(request) = read_frame(&mut input)? {
        let request = Request::decode(&request)?;
        if !read_frame_into(&mut input, &mut source)? {
            return Err(wire::WireError::CUT_SHORT.into());
        }
        let _span = tracing::info_span!("convert", job = %request.label).entered();
        let bound = request.budget.bound(&source);
        sandbox::limit_cpu(bound)?;
        write_frame(&mut output, &Bound(bound).encode())?;
        output.flush()?;
        if args.fault_hooks {
            fault_hook(&source);
        }
        let reply = Reply::from(avatar_pipeline::convert(&source, &request.options));
        write_frame(&mut output, &reply.encode())?;
        output.flush()?;
    }
    Ok(())
}

/// One frame, or `None` at the end of the input before a frame starts.
fn read_frame(input: &mut impl Read) -> Result<Option<Vec<u8>>, ChildError> {
    let mut frame = Vec::new();
    Ok(read_frame_into(input, &mut frame)?.then_some(frame))
}

/// Reads one frame into `frame`, reusing its memory; `false` at the end of
/// the input before a frame starts.
fn read_frame_into(input: &mut impl Read, frame: &mut Vec<u8>) -> Result<bool, ChildError> {
    let mut prefix = [0u8; 8];
    match input.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let len = wire::frame_len(prefix)?;
    frame.clear();
    frame.reserve(len);
    // Read into the spare capacity, without zeroing it first.
    let read = input.by_ref().take(len as u64).read_to_end(frame)?;
    if read != len {
        return Err(wire::WireError::CUT_SHORT.into());
    }
    Ok(true)
}

fn write_frame(output: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    output.write_all(&wire::prefix(frame.len()))?;
    output.write_all(frame)
}

/// The test-only faults: a decoder that never returns, one that aborts,
/// one that allocates until it is stopped.
fn fault_hook(source: &[u8]) {
    if source.ends_with(b"avatars-fault:hang") {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if source.ends_with(b"avatars-fault:abort") {
        std::process::abort();
    }
    if source.ends_with(b"avatars-fault:allocate") {
        let mut held: Vec<Vec<u8>> = Vec::new();
        loop {
            held.push(vec![1u8; 16 << 20]);
            std::hint::black_box(&held);
        }
    }
}
