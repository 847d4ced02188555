//! How the service scales with its processes: 1 and 2 worker processes
//! (one conversion slot each) and 1 and 2 API processes against one Redis,
//! next to the bare pipeline on the same cores in the same run. Needs
//! `AVATARS_TEST_CORPUS` (its `photos/`: the phone photos) and the release
//! binaries (`cargo build --release -p avatar-worker` first).
//!
//! The bare pipeline is `avatar-worker convert` over the photos, in 1 and
//! in 2 processes at once. Each service run starts a Redis server of its
//! own (so `INFO commandstats` counts its commands alone), local storage
//! under `/dev/shm` and the processes of the run, and sends
//! `AVATARS_BENCH_SCALING_JOBS` (default 264: each photo 24 times) PUTs
//! of the photos, each for a user of its own, spread over the API
//! processes, from four clients per conversion slot: synchronous PUTs
//! while the workers run, and in two more runs every job accepted first
//! (`wait=0`) and then drained by workers started afterwards. It prints,
//! for each run:
//!
//! 1. jobs/s beside the bare pipeline's photos/s with as many processes,
//!    and Redis commands per job and per second;
//! 2. CPU per job: the worker processes, their converters, the APIs,
//!    Redis and the benchmark's own client, beside the bare pipeline's
//!    per photo;
//! 3. a worker's time per job: a slot's share of the run, an attempt (with
//!    the time a held job waits for a slot), and each stage the worker
//!    measures (read, decode, resize, encode, store).
//!
//! It writes the first table as CSV to `AVATARS_BENCH_SCALING_CSV`
//! (default `scaling.csv` in the temporary folder), which
//! `scripts/plot-scaling` draws. Run with
//! `cargo bench -p avatar-api --bench scaling`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use avatar_testkit::app::{Storage, TestApp};
use avatar_testkit::redis_servers::OwnRedis;
use avatar_testkit::s3::free_port;

/// The stages a worker measures of an uploaded photo's job.
const STAGES: [&str; 5] = ["read", "decode", "resize", "encode", "store"];

/// Clients per conversion slot: enough that a slot never waits for one.
const CLIENTS_PER_SLOT: usize = 4;

/// CPU seconds, read from `/proc`.
struct Cpu {
    ticks_per_second: f64,
}

impl Cpu {
    fn new() -> Self {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf CLK_TCK");
        let ticks = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(100.0);
        Self {
            ticks_per_second: ticks,
        }
    }

    /// Every process's parent and CPU ticks: its own, and those of its
    /// children that ended and were waited for.
    fn processes() -> HashMap<u32, (u32, u64, u64)> {
        let mut all = HashMap::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // The fields after the command's name, which may hold spaces.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<u64> = rest
                .split_whitespace()
                .skip(1)
                .take(14)
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            if fields.len() == 14 {
                let (ppid, own, children) = (
                    fields[0] as u32,
                    fields[10] + fields[11],
                    fields[12] + fields[13],
                );
                all.insert(pid, (ppid, own, children));
            }
        }
        all
    }

    /// CPU seconds of the processes `roots` and all their descendants,
    /// living or ended.
    fn of_trees(&self, roots: &[u32]) -> f64 {
        let all = Self::processes();
        let mut stack: Vec<u32> = roots.to_vec();
        let mut ticks = 0;
        while let Some(pid) = stack.pop() {
            if let Some((_, own, children)) = all.get(&pid) {
                ticks += own + children;
            }
            stack.extend(
                all.iter()
                    .filter(|(_, (ppid, _, _))| *ppid == pid)
                    .map(|(child, _)| *child),
            );
        }
        ticks as f64 / self.ticks_per_second
    }

    /// CPU seconds of the processes `pids` alone, their children that
    /// ended included, their living children not.
    fn of_processes(&self, pids: &[u32]) -> f64 {
        let all = Self::processes();
        let ticks: u64 = pids
            .iter()
            .filter_map(|pid| all.get(pid))
            .map(|(_, own, children)| own + children)
            .sum();
        ticks as f64 / self.ticks_per_second
    }

    /// CPU seconds of this process alone, and of its children that ended.
    fn own(&self) -> (f64, f64) {
        let all = Self::processes();
        let (_, own, children) = all[&std::process::id()];
        (
            own as f64 / self.ticks_per_second,
            children as f64 / self.ticks_per_second,
        )
    }
}

/// CPU seconds Redis has used (`INFO cpu`).
fn redis_cpu(conn: &mut redis::Connection) -> f64 {
    let info: String = redis::cmd("INFO").arg("cpu").query(conn).expect("INFO cpu");
    info.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| *name == "used_cpu_sys" || *name == "used_cpu_user")
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .sum()
}

/// Redis commands run since the statistics were reset, those its scripts
/// ran included, leaving out the benchmark's own `INFO` and `CONFIG`.
fn redis_commands(conn: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            if name == "info" || name.starts_with("config") {
                return None;
            }
            stats
                .split(',')
                .find_map(|s| s.strip_prefix("calls="))?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// The sums a worker's metrics give: seconds of completed jobs, their
/// number, and seconds of each of [`STAGES`].
#[derive(Default, Clone)]
struct Slots {
    job_seconds: f64,
    jobs: f64,
    stages: BTreeMap<&'static str, f64>,
}

impl Slots {
    async fn scrape(http: &reqwest::Client, ports: &[u16]) -> Self {
        Self::try_scrape(http, ports)
            .await
            .expect("every worker serves its metrics")
    }

    /// The sums of every worker's metrics; `None` while one does not
    /// answer yet.
    async fn try_scrape(http: &reqwest::Client, ports: &[u16]) -> Option<Self> {
        let mut sums = Self::default();
        for port in ports {
            let answer = http
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .ok()?;
            let page = answer.text().await.ok()?;
            for line in page.lines() {
                let Some((name, value)) = line.rsplit_once(' ') else {
                    continue;
                };
                let Ok(value) = value.parse::<f64>() else {
                    continue;
                };
                if name == "avatar_job_duration_seconds_sum{outcome=\"completed\"}" {
                    sums.job_seconds += value;
                } else if name == "avatar_job_duration_seconds_count{outcome=\"completed\"}" {
                    sums.jobs += value;
                }
                for stage in STAGES {
                    if name == format!("avatar_job_stage_seconds_sum{{stage=\"{stage}\"}}") {
                        *sums.stages.entry(stage).or_default() += value;
                    }
                }
            }
        }
        Some(sums)
    }

    /// What `self`, read later, adds to `earlier`.
    fn since(&self, earlier: &Self) -> Self {
        Self {
            job_seconds: self.job_seconds - earlier.job_seconds,
            jobs: self.jobs - earlier.jobs,
            stages: self
                .stages
                .iter()
                .map(|(stage, s)| (*stage, s - earlier.stages.get(stage).unwrap_or(&0.0)))
                .collect(),
        }
    }
}

/// What one run measured.
struct Run {
    name: String,
    workers: usize,
    jobs_per_second: f64,
    commands_per_job: f64,
    commands_per_second: f64,
    /// CPU seconds per job: the worker processes, their converters, the
    /// APIs, Redis, the benchmark's client.
    cpu: [f64; 5],
    slots: Slots,
    jobs: usize,
    seconds: f64,
}

/// How a run's jobs reach the workers.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// Synchronous PUTs while the workers run.
    Synchronous,
    /// Every job accepted first (`wait=0`), then drained by workers
    /// started afterwards: the workers' side alone, timed from their start.
    Drain,
}

/// The CPU seconds so far of the workers (alone), their converters, the
/// APIs, Redis and this process.
fn cpu_now(cpu: &Cpu, workers: &[u32], apis: &[u32], conn: &mut redis::Connection) -> [f64; 5] {
    let alone = cpu.of_processes(workers);
    [
        alone,
        cpu.of_trees(workers) - alone,
        cpu.of_trees(apis),
        redis_cpu(conn),
        cpu.own().0,
    ]
}

/// One service run: `apis` API processes and `workers` worker processes
/// of one slot each, on a Redis of its own, converting `jobs` photos.
async fn service_run(
    photos: &Arc<Vec<Vec<u8>>>,
    load: Load,
    apis: usize,
    workers: usize,
    jobs: usize,
    scratch: &Path,
    cpu: &Cpu,
) -> Run {
    let redis = OwnRedis::start(&[]);
    let mut app = TestApp::builder()
        .redis_url(&redis.url())
        .storage(Storage::Local)
        .data_dir(scratch.join(format!("run-{}", ulid::Ulid::generate())))
        .in_process_workers(0)
        .start()
        .await;
    let metric_ports: Vec<u16> = (0..workers).map(|_| free_port()).collect();
    let start_workers = |app: &mut TestApp| {
        for port in &metric_ports {
            let listen = format!("127.0.0.1:{port}");
            app.add_worker_with(&[
                ("AVATARS_CONCURRENCY", "1"),
                ("AVATARS_METRICS_LISTEN", listen.as_str()),
            ]);
        }
    };
    let mut bases = vec![app.address.clone()];
    for _ in 1..apis {
        bases.push(app.add_api().await);
    }
    let plural = |n: usize| if n > 1 { "s" } else { "" };
    let name = match load {
        Load::Synchronous => format!(
            "{apis} API{}, {workers} worker{}",
            plural(apis),
            plural(workers)
        ),
        Load::Drain => format!("accepted first, {workers} worker{}", plural(workers)),
    };
    let http = reqwest::Client::new();
    let mut conn = redis::Client::open(redis.url())
        .expect("redis url")
        .get_connection()
        .expect("redis");
    let reset = |conn: &mut redis::Connection| {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(conn)
            .expect("CONFIG RESETSTAT");
    };
    let clients = CLIENTS_PER_SLOT * workers;
    let api_pids = app.api_pids();

    let (seconds, slots, before, after, commands, drain_commands) = match load {
        Load::Synchronous => {
            start_workers(&mut app);
            // Every worker is up, with its converter started, before the
            // clock.
            put_all(
                &http,
                &app,
                &bases,
                photos,
                4 * workers,
                clients,
                "warm",
                30,
            )
            .await;
            reset(&mut conn);
            let worker_pids = worker_pids(&app);
            let slots_before = Slots::scrape(&http, &metric_ports).await;
            let before = cpu_now(cpu, &worker_pids, &api_pids, &mut conn);
            let seconds = put_all(&http, &app, &bases, photos, jobs, clients, "job", 30).await;
            let after = cpu_now(cpu, &worker_pids, &api_pids, &mut conn);
            let commands = redis_commands(&mut conn) as f64;
            let slots = Slots::scrape(&http, &metric_ports)
                .await
                .since(&slots_before);
            (seconds, slots, before, after, commands, commands)
        }
        Load::Drain => {
            reset(&mut conn);
            put_all(&http, &app, &bases, photos, jobs, clients, "job", 0).await;
            let accepting = redis_commands(&mut conn) as f64;
            let started = Instant::now();
            start_workers(&mut app);
            let worker_pids = worker_pids(&app);
            let before = cpu_now(cpu, &worker_pids, &api_pids, &mut conn);
            let slots = loop {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if let Some(slots) = Slots::try_scrape(&http, &metric_ports).await
                    && slots.jobs as usize >= jobs
                {
                    break slots;
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            let after = cpu_now(cpu, &worker_pids, &api_pids, &mut conn);
            let commands = redis_commands(&mut conn) as f64;
            (
                seconds,
                slots,
                before,
                after,
                commands,
                commands - accepting,
            )
        }
    };
    Run {
        name,
        workers,
        jobs_per_second: jobs as f64 / seconds,
        commands_per_job: commands / jobs as f64,
        commands_per_second: drain_commands / seconds,
        cpu: std::array::from_fn(|i| (after[i] - before[i]) / jobs as f64),
        slots,
        jobs,
        seconds,
    }
}

fn worker_pids(app: &TestApp) -> Vec<u32> {
    app.workers.iter().map(std::process::Child::id).collect()
}

/// Sends `jobs` PUTs of the photos in turn, each for a user of its own
/// (`tag-n`), to the APIs at `bases` in turn, from `clients` clients, each
/// waiting `wait` seconds for its job (0: accepted is enough); answers the
/// seconds from the first to the last answer.
#[allow(clippy::too_many_arguments)]
async fn put_all(
    http: &reqwest::Client,
    app: &TestApp,
    bases: &[String],
    photos: &Arc<Vec<Vec<u8>>>,
    jobs: usize,
    clients: usize,
    tag: &str,
    wait: u64,
) -> f64 {
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..jobs)
            .map(|n| app.token(&format!("{tag}-{n}")))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, next, photos, bases, tokens) = (
            http.clone(),
            next.clone(),
            photos.clone(),
            bases.to_vec(),
            tokens.clone(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= jobs {
                    return;
                }
                let url = format!(
                    "{}/api/public/user/me/avatarBytes?wait={wait}",
                    bases[n % bases.len()]
                );
                let response = http
                    .put(url)
                    .bearer_auth(&tokens[n])
                    .body(photos[n % photos.len()].clone())
                    .send()
                    .await
                    .expect("a PUT");
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                let expected = if wait > 0 { 200 } else { 202 };
                assert_eq!(status, expected, "a PUT (wait={wait}): {body}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a client");
    }
    started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let corpus = avatar_testkit::corpus::dir("the scaling benchmark")
        .expect("set AVATARS_TEST_CORPUS to the corpus folder");
    let jobs: usize = std::env::var("AVATARS_BENCH_SCALING_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(264);
    let csv_path = std::env::var_os("AVATARS_BENCH_SCALING_CSV")
        .map_or_else(|| std::env::temp_dir().join("scaling.csv"), PathBuf::from);
    let (paths, bytes): (Vec<PathBuf>, Vec<Vec<u8>>) =
        support::corpus_photos(&corpus).into_iter().unzip();
    let photos = Arc::new(bytes);
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
    .join(format!("scaling-{}", ulid::Ulid::generate()));
    let cpu = Cpu::new();
    let rounds = jobs.div_ceil(paths.len());

    let mut bare = [0.0; 2];
    let mut bare_cpu = [0.0; 2];
    for (i, processes) in [1, 2].into_iter().enumerate() {
        let (_, children_before) = cpu.own();
        bare[i] = support::bare_pipeline(&paths, processes, rounds, &scratch);
        let (_, children_after) = cpu.own();
        bare_cpu[i] =
            (children_after - children_before) / (paths.len() * rounds * processes) as f64;
    }
    let mut runs = Vec::new();
    for (load, apis, workers) in [
        (Load::Synchronous, 1, 1),
        (Load::Synchronous, 2, 1),
        (Load::Synchronous, 1, 2),
        (Load::Synchronous, 2, 2),
        (Load::Drain, 1, 1),
        (Load::Drain, 1, 2),
    ] {
        runs.push(service_run(&photos, load, apis, workers, jobs, &scratch, &cpu).await);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let bare_name = |i: usize| {
        format!(
            "bare pipeline, {} process{}",
            i + 1,
            if i > 0 { "es" } else { "" }
        )
    };

    println!(
        "\nthroughput, {jobs} PUTs of {} photos a run\n",
        paths.len()
    );
    println!(
        "| {:<34} | {:>7} | {:>16} | {:>12} | {:>10} |",
        "run", "jobs/s", "of bare (same n)", "commands/job", "commands/s"
    );
    println!(
        "|{:-<36}|{:->9}|{:->18}|{:->14}|{:->12}|",
        "", "", "", "", ""
    );
    let mut csv = String::from("run,workers,jobs_per_second,bare_photos_per_second\n");
    for (i, rate) in bare.iter().enumerate() {
        println!(
            "| {:<34} | {:>7.1} | {:>16} | {:>12} | {:>10} |",
            bare_name(i),
            rate,
            "100 %",
            "",
            ""
        );
    }
    for run in &runs {
        let reference = bare[run.workers - 1];
        println!(
            "| {:<34} | {:>7.1} | {:>14.0} % | {:>12.1} | {:>10.0} |",
            run.name,
            run.jobs_per_second,
            run.jobs_per_second / reference * 100.0,
            run.commands_per_job,
            run.commands_per_second
        );
        csv.push_str(&format!(
            "\"{}\",{},{:.2},{:.2}\n",
            run.name, run.workers, run.jobs_per_second, reference
        ));
    }

    println!("\nCPU ms per job (per photo for the bare pipeline)\n");
    println!(
        "| {:<34} | {:>7} | {:>10} | {:>6} | {:>6} | {:>6} | {:>6} |",
        "run", "workers", "converters", "APIs", "Redis", "client", "total"
    );
    println!(
        "|{:-<36}|{:->9}|{:->12}|{:->8}|{:->8}|{:->8}|{:->8}|",
        "", "", "", "", "", "", ""
    );
    for (i, per_photo) in bare_cpu.iter().enumerate() {
        println!(
            "| {:<34} | {:>7} | {:>10.1} | {:>6} | {:>6} | {:>6} | {:>6.1} |",
            bare_name(i),
            "",
            per_photo * 1e3,
            "",
            "",
            "",
            per_photo * 1e3
        );
    }
    for run in &runs {
        let ms = run.cpu.map(|s| s * 1e3);
        println!(
            "| {:<34} | {:>7.1} | {:>10.1} | {:>6.1} | {:>6.1} | {:>6.1} | {:>6.1} |",
            run.name,
            ms[0],
            ms[1],
            ms[2],
            ms[3],
            ms[4],
            ms.iter().sum::<f64>()
        );
    }

    // A slot's time per job: the slots' time over the run shared by its
    // jobs (all of it, when the slots never idle); an attempt also counts
    // the time a held job waits in its worker for a slot.
    println!("\na worker's time per job (ms): a slot's share, an attempt, the stages measured\n");
    print!("| {:<34} | {:>6} | {:>7} |", "run", "slot", "attempt");
    for stage in STAGES {
        print!(" {stage:>7} |");
    }
    println!(" {:>9} |", "slot rest");
    print!("|{:-<36}|{:->8}|{:->9}|", "", "", "");
    for _ in STAGES {
        print!("{:->9}|", "");
    }
    println!("{:->11}|", "");
    for run in &runs {
        let jobs = run.slots.jobs.max(1.0);
        let slot = run.seconds * run.workers as f64 / jobs * 1e3;
        let attempt = run.slots.job_seconds / jobs * 1e3;
        print!("| {:<34} | {:>6.1} | {:>7.1} |", run.name, slot, attempt);
        let mut staged = 0.0;
        for stage in STAGES {
            let ms = run.slots.stages.get(stage).copied().unwrap_or_default() / jobs * 1e3;
            // A staged upload is read before its job takes a slot, and the
            // avatar stored after the slot is given back.
            if stage != "read" && stage != "store" {
                staged += ms;
            }
            print!(" {ms:>7.1} |");
        }
        println!(" {:>9.1} |", slot - staged);
        assert_eq!(
            run.slots.jobs as usize, run.jobs,
            "every job is counted once"
        );
    }

    std::fs::write(&csv_path, csv).expect("write the CSV");
    println!("\n(written to {})", csv_path.display());
}
