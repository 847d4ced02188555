//! The cage: every image is decoded in a converter process of its own
//! (the worker's binary started again as one), never in the worker. The
//! decoders are large C and C++ libraries (libjpeg-turbo, libwebp,
//! libheif with libde265 and dav1d); whatever a file makes them do (loop,
//! swell, crash) costs only that file's job:
//!
//! - a converter past its job's time bound is killed, so its conversion
//!   slot is free at once;
//! - it maps at most `AVATARS_CONVERTER_MEMORY_MB` (RLIMIT_AS) and dumps
//!   no core; one that dies, of that limit or otherwise, fails only its job;
//! - it dies with its worker, and, where the kernel allows, runs under a
//!   seccomp filter refusing files, sockets and new processes (`sandbox`);
//! - converters are started ahead, one per conversion slot, reused job
//!   after job, and replaced when one dies or its resident memory is past
//!   `AVATARS_CONVERTER_RECYCLE_MB` after a job.
//!
//! `child` is the converter's side, `converter` the worker's handle of
//! one, `wire` what they say to each other.

mod child;
mod converter;
mod sandbox;
mod wire;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use avatar_common::metrics::CONVERTER_RESTARTS;
use avatar_common::settings::LogSettings;
use avatar_pipeline::{Options, TimeBudget};
use bytes::Bytes;

pub use child::serve_if_asked;
use converter::Converter;
pub use converter::Death;
pub use wire::Reply;

use crate::settings::ConverterSettings;

/// How long a converter may take to start: the binary is loaded and its
/// sandbox set up, in milliseconds on an idle machine.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// The converter processes of one worker pool.
pub struct Cage {
    /// Convert on this process's blocking pool instead (benchmarks only).
    in_process: bool,
    exe: PathBuf,
    args: child::ChildArgs,
    recycle_bytes: u64,
    idle: Mutex<Vec<Converter>>,
}

/// Why a conversion gave no reply.
#[derive(Debug, thiserror::Error)]
pub enum CageError {
    /// The image made its converter die or overstay; the job fails.
    #[error("the converter did not answer: {0:?}")]
    Died(Death),
    /// No converter could be started: a fault of the service's own.
    #[error("cannot start a converter process: {0}")]
    Start(#[source] std::io::Error),
}

impl Cage {
    /// Starts `warm` converters ahead, from this process's own binary.
    pub fn start(
        settings: &ConverterSettings,
        log: &LogSettings,
        warm: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let exe = std::env::current_exe().context("cannot find this program's binary")?;
        Self::start_from(exe, settings, log, warm)
    }

    /// Starts `warm` converters ahead from `exe`, a binary whose `main`
    /// calls [`serve_if_asked`] first (`avatar-worker`, `avatar-api`).
    pub fn start_from(
        exe: PathBuf,
        settings: &ConverterSettings,
        log: &LogSettings,
        warm: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let in_process = settings.converter_in_process;
        let warm = if in_process { 0 } else { warm };
        // Every reason is exported from the start, so that a rate over
        // it is 0, not absent, until the first replacement.
        for reason in ["timed_out", "out_of_memory", "crashed", "recycled"] {
            metrics::counter!(CONVERTER_RESTARTS, "reason" => reason).increment(0);
        }
        let cage = Arc::new(Self {
            in_process,
            exe,
            args: child::ChildArgs {
                parent: std::process::id(),
                memory_bytes: settings.converter_memory_mb << 20,
                seccomp: settings.converter_seccomp,
                fault_hooks: settings.fault_converter_hooks,
                log_format: log.log_format,
                log: log.log.clone(),
            },
            recycle_bytes: settings.converter_recycle_mb << 20,
            idle: Mutex::new(Vec::with_capacity(warm)),
        });
        for _ in 0..warm {
            let converter = cage.fresh().context("cannot start a converter process")?;
            cage.lock().push(converter);
        }
        Ok(cage)
    }

    /// The address-space limit of each converter, in MiB.
    pub fn memory_mb(&self) -> u64 {
        self.args.memory_bytes >> 20
    }

    /// Converts `source` in an idle converter (or a new one), taking at
    /// most the time `budget` gives its image; `label` (the job id) names
    /// the conversion in the converter's log lines.
    pub async fn convert(
        &self,
        source: &Bytes,
        options: &Options,
        budget: TimeBudget,
        label: &str,
    ) -> Result<Reply, CageError> {
        if self.in_process {
            return Ok(in_process(source, options).await);
        }
        let idle = self.lock().pop();
        let mut converter = match idle {
            Some(converter) => converter,
            None => self.fresh().map_err(CageError::Start)?,
        };
        // Starting is not the image's doing: it is not counted in its time.
        if let Err(e) = converter.ready(START_PATIENCE).await {
            self.replace();
            return Err(CageError::Start(e));
        }
        let request = wire::Request {
            options: options.clone(),
            budget,
            label: label.to_owned(),
        };
        let (kept, outcome) = converter.convert(&request, source).await;
        let replaced = match (kept, &outcome) {
            (Some(converter), _) if !self.grown(&converter) => {
                self.lock().push(converter);
                None
            }
            (Some(_), _) => Some("recycled"),
            (None, Err(Death::TimedOut(_))) => Some("timed_out"),
            (None, Err(Death::OutOfMemory)) => Some("out_of_memory"),
            (None, _) => Some("crashed"),
        };
        if let Some(reason) = replaced {
            metrics::counter!(CONVERTER_RESTARTS, "reason" => reason).increment(1);
            self.replace();
        }
        outcome.map_err(CageError::Died)
    }

    fn fresh(&self) -> std::io::Result<Converter> {
        Converter::start(&self.exe, &self.args)
    }

    /// Starts a converter in place of one that is gone, so that the next
    /// job does not wait for it.
    fn replace(&self) {
        match self.fresh() {
            Ok(converter) => self.lock().push(converter),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a converter; the next job tries again")
            }
        }
    }

    /// Whether `converter` holds more resident memory than it should keep.
    fn grown(&self, converter: &Converter) -> bool {
        converter
            .pid()
            .and_then(converter::resident_bytes)
            .is_some_and(|bytes| bytes > self.recycle_bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Converter>> {
        // A list of processes, valid after any panic.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The conversion on this process's blocking pool, with no time bound: the
/// reference the cage is measured against.
async fn in_process(source: &Bytes, options: &Options) -> Reply {
    let (source, options) = (source.clone(), options.clone());
    let converted =
        tokio::task::spawn_blocking(move || avatar_pipeline::convert(&source, &options))
            .await
            .unwrap_or_else(|e| Err(avatar_pipeline::PipelineError::Internal(e.to_string())));
    Reply::from(converted)
}
