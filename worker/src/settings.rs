//! The worker's settings: its own, plus the groups shared with the API.

use std::time::Duration;

use avatar_common::settings::SharedSettings;
use clap::{Args, Parser, Subcommand};

/// avatar-worker: consumes avatar jobs from Redis and stores the results.
#[derive(Parser, Debug, Clone)]
#[command(name = "avatar-worker", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Run the worker pool (the default).
    Run,
    /// Queue again the jobs that failed because Redis or the object store
    /// was unavailable for longer than the retry budget.
    RequeueFailed {
        /// Queue every failed job again, bad images included.
        #[arg(long)]
        all: bool,
    },
    /// Convert local files as a job would, one after another on one
    /// thread (in this process, or with --cage in a converter process),
    /// writing OUT_DIR/<file stem>.jpg.
    Convert {
        /// Side of the square avatar (default: AVATARS_AVATAR_SIZE).
        #[arg(long)]
        size: Option<u32>,
        /// JPEG quality (default: AVATARS_JPEG_QUALITY).
        #[arg(long)]
        quality: Option<u8>,
        /// Convert in a converter process, as the service does, instead of
        /// in this one: to measure what the cage costs.
        #[arg(long)]
        cage: bool,
        /// Directory the avatars are written to.
        #[arg(short = 'o', long = "out-dir")]
        out_dir: std::path::PathBuf,
        /// Source image files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// Everything a worker pool needs.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    #[command(flatten)]
    pub shared: SharedSettings,
    #[command(flatten)]
    pub worker: WorkerSettings,
}

/// How jobs are consumed.
#[derive(Args, Debug, Clone)]
pub struct WorkerSettings {
    /// Images this process converts at once (its conversion slots); 0
    /// means one per CPU core.
    #[arg(long, env = "AVATARS_CONCURRENCY", default_value_t = 0)]
    pub concurrency: usize,

    /// Jobs this process holds beyond its conversion slots: fetching their
    /// sources, waiting for a permit of their origin host or for a slot,
    /// so that slow origins do not leave the cores idle. One of all the
    /// jobs held is always kept for interactive work (none when there is
    /// one slot and 0 here).
    #[arg(long, env = "AVATARS_FETCHES_IN_FLIGHT", default_value_t = 32)]
    pub fetches_in_flight: usize,

    /// Seconds a job may go without its worker's heartbeat before another
    /// worker takes it over (a worker that crashed or was killed).
    #[arg(long, env = "AVATARS_ORPHAN_AFTER_SECS", default_value_t = 8)]
    pub orphan_after_secs: u64,

    /// How many times a job is started before it is given up as failed.
    #[arg(long, env = "AVATARS_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,

    /// First pause, in milliseconds, before retrying a job whose store or
    /// Redis call failed; each next pause doubles, with jitter.
    #[arg(long, env = "AVATARS_RETRY_BASE_MS", default_value_t = 500)]
    pub retry_base_ms: u64,

    /// Longest pause between two retries of a job, in seconds.
    #[arg(long, env = "AVATARS_RETRY_MAX_DELAY_SECS", default_value_t = 30)]
    pub retry_max_delay_secs: u64,

    /// Seconds from a job's acceptance after which faults of the service's
    /// own (store or Redis unreachable) fail it instead of retrying it.
    #[arg(long, env = "AVATARS_RETRY_BUDGET_SECS", default_value_t = 300)]
    pub retry_budget_secs: u64,

    /// Seconds a replaced avatar stays in the store, so that cached URLs
    /// keep working for a while, before it is deleted.
    #[arg(
        long,
        env = "AVATARS_SUPERSEDED_RETENTION_SECS",
        default_value_t = 3600
    )]
    pub superseded_retention_secs: u64,

    /// Seconds after acceptance from which a staged upload whose job has
    /// ended (or whose record is gone) counts as left behind and is deleted.
    #[arg(long, env = "AVATARS_STAGING_RETENTION_SECS", default_value_t = 24 * 3600)]
    pub staging_retention_secs: u64,

    /// Seconds between two sweeps for staged uploads left behind.
    #[arg(long, env = "AVATARS_SWEEP_INTERVAL_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sweep_interval_secs: u64,

    /// Fault injection, for fault tests only: the process aborts after
    /// storing an avatar and before recording it.
    #[arg(long, env = "AVATARS_FAULT_ABORT_AFTER_STORE", default_value_t = false,
          action = clap::ArgAction::Set, hide = true)]
    pub fault_abort_after_store: bool,

    /// Fault injection, for fault tests only: the process aborts after
    /// deleting the first object of an avatar it deletes.
    #[arg(long, env = "AVATARS_FAULT_ABORT_MID_DELETE", default_value_t = false,
          action = clap::ArgAction::Set, hide = true)]
    pub fault_abort_mid_delete: bool,

    /// Address the worker serves Prometheus metrics on (`/metrics`);
    /// unset: none. Inside the API process, the API's /metrics has them.
    #[arg(long, env = "AVATARS_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Seconds a worker lets running jobs finish after SIGTERM before it
    /// exits and leaves them to other workers.
    #[arg(long, env = "AVATARS_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Seconds to connect to a URL source.
    #[arg(long, env = "AVATARS_FETCH_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    pub fetch_connect_timeout_secs: u64,

    /// Most fetches to one origin host at once across every worker of the
    /// deployment; 0: no limit.
    #[arg(long, env = "AVATARS_FETCH_PER_HOST_CONCURRENCY", default_value_t = 8)]
    pub fetch_per_host_concurrency: u32,

    /// Seconds a whole URL fetch may take.
    #[arg(long, env = "AVATARS_FETCH_TIMEOUT_SECS", default_value_t = 30)]
    pub fetch_timeout_secs: u64,

    /// Slowest accepted URL-import transfer, in bytes per second, measured
    /// over each window of AVATARS_FETCH_RATE_WINDOW_SECS; 0: no floor.
    #[arg(long, env = "AVATARS_FETCH_MIN_BYTES_PER_SEC", default_value_t = 10 * 1024)]
    pub fetch_min_bytes_per_sec: u64,

    /// Seconds over which the URL-import transfer rate is measured.
    #[arg(long, env = "AVATARS_FETCH_RATE_WINDOW_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub fetch_rate_window_secs: u64,

    /// Most jobs of one user (the user whose avatar changes) that run at
    /// once across the deployment; the user's next jobs wait, parked, until
    /// one ends, so one user cannot hold every slot while others wait.
    /// 0: no cap.
    #[arg(long, env = "AVATARS_USER_MAX_RUNNING", default_value_t = 1)]
    pub user_max_running: u32,

    /// Webhook deliveries this process has in flight at once, apart from
    /// its job slots, for each of the two lanes: the operator's endpoint,
    /// and clients' callbackUrls.
    #[arg(long, env = "AVATARS_WEBHOOK_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub webhook_concurrency: u64,

    /// Seconds a claimed webhook delivery is kept from other processes;
    /// past it, one claimed by a process that died is sent by another.
    /// More than the 10 s a receiver has to answer.
    #[arg(long, env = "AVATARS_WEBHOOK_LEASE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(11..=3600))]
    pub webhook_lease_secs: u64,

    /// Callback deliveries this process has in flight at once to one host.
    #[arg(long, env = "AVATARS_WEBHOOK_PER_HOST", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub webhook_per_host: u64,

    /// First pause before a failed webhook delivery is tried again, in
    /// milliseconds; each next pause doubles (at most an hour), with jitter.
    #[arg(long, env = "AVATARS_WEBHOOK_RETRY_BASE_MS", default_value_t = 1000)]
    pub webhook_retry_base_ms: u64,

    /// Seconds one job's image conversion may take before the job fails.
    #[arg(long, env = "AVATARS_JOB_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub job_timeout_secs: u64,

    /// Milliseconds any conversion is given, however small its image; with
    /// AVATARS_CONVERT_TIME_PER_MP_MS, the time bound of each image.
    #[arg(long, env = "AVATARS_CONVERT_TIME_BASE_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub convert_time_base_ms: u64,

    /// Milliseconds a conversion is given per megapixel of its source, on
    /// top of AVATARS_CONVERT_TIME_BASE_MS, up to AVATARS_JOB_TIMEOUT_SECS.
    #[arg(long, env = "AVATARS_CONVERT_TIME_PER_MP_MS", default_value_t = 250)]
    pub convert_time_per_mp_ms: u64,

    #[command(flatten)]
    pub converter: ConverterSettings,
}

/// The converter processes images are decoded in (see `cage`).
#[derive(Args, Debug, Clone)]
pub struct ConverterSettings {
    /// Address space one converter process may map, in MiB (its
    /// RLIMIT_AS): a decode that needs more fails its job alone.
    #[arg(long, env = "AVATARS_CONVERTER_MEMORY_MB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(64..))]
    pub converter_memory_mb: u64,

    /// Resident memory, in MiB, above which a converter is replaced by a
    /// fresh one after its job, so that no allocator keeps a large peak.
    #[arg(long, env = "AVATARS_CONVERTER_RECYCLE_MB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(16..))]
    pub converter_recycle_mb: u64,

    /// Put each converter under a seccomp filter that refuses opening
    /// files, the network and starting processes, where the kernel allows.
    #[arg(long, env = "AVATARS_CONVERTER_SECCOMP", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub converter_seccomp: bool,

    /// For benchmarks only: convert in this process, without the cage, to
    /// measure what the cage costs. A hostile file can then stall or kill
    /// the process.
    #[arg(long, env = "AVATARS_CONVERTER_IN_PROCESS", default_value_t = false,
          action = clap::ArgAction::Set, hide = true)]
    pub converter_in_process: bool,

    /// Fault injection, for tests only: a converter given a source that
    /// ends with `avatars-fault:hang`, `:abort` or `:allocate` hangs,
    /// aborts or allocates without bound.
    #[arg(long, env = "AVATARS_FAULT_CONVERTER_HOOKS", default_value_t = false,
          action = clap::ArgAction::Set, hide = true)]
    pub fault_converter_hooks: bool,
}

impl WorkerSettings {
    /// The number of conversion slots.
    pub fn concurrency(&self) -> usize {
        match self.concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub fn orphan_after(&self) -> Duration {
        Duration::from_secs(self.orphan_after_secs.max(1))
    }

    /// The fair share of job slots: the cap on one user's running jobs,
    /// and how long a running job counts against it without ending (as
    /// long as any attempt may take, plus the orphan window).
    pub fn fair_share(&self) -> avatar_common::queue::FairShare {
        avatar_common::queue::FairShare {
            max_running: self.user_max_running,
            lease: Duration::from_secs(
                self.job_timeout_secs + self.fetch_timeout_secs + self.orphan_after_secs,
            ),
        }
    }

    /// How long each conversion may take.
    pub fn time_budget(&self) -> avatar_pipeline::TimeBudget {
        avatar_pipeline::TimeBudget {
            base: Duration::from_millis(self.convert_time_base_ms),
            per_megapixel: Duration::from_millis(self.convert_time_per_mp_ms),
            ceiling: Duration::from_secs(self.job_timeout_secs),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
