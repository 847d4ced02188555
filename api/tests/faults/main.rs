//! Fault tests: real API and worker processes, a Redis server and an S3
//! proxy of the suite's own, killed, stopped and restarted, to show that
//! every update the API accepted happens exactly as if nothing had gone
//! wrong. Each scenario is bounded in time; the run ends with a line
//! `N passed, N failed`.
//!
//! Run with `cargo test -p avatar-api --test faults`, or with a part of a
//! scenario's name after `--` to run only the scenarios it names, one at
//! a time. Run whole, the harness runs each scenario in a process of its
//! own (this program, with the scenario's name in
//! [`SCENARIO_VARIABLE`]), [`PARALLEL`] at a time: most of a scenario's
//! time is waiting for a lease to run out, a retry to come due or a server
//! to come back, and each has its own Redis, store and processes.
//! `AVATARS_FAULTS_PARALLEL=1` runs them one after another.

use avatar_testkit as support;

mod infra;
mod scenarios;

use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Scenario = fn() -> Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// The longest any scenario may take.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

/// How many scenarios run at once when the harness is run whole.
const PARALLEL: usize = 3;

/// The variable naming the one scenario a child process runs.
const SCENARIO_VARIABLE: &str = "AVATARS_FAULTS_SCENARIO";

fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let scenarios: &[(&str, Scenario)] = &[
        ("a_worker_killed_mid_job_is_taken_over_within_15_s", || {
            Box::pin(scenarios::killed_worker())
        }),
        (
            "a_worker_killed_holding_a_users_slot_strands_none_of_her_parked_jobs",
            || Box::pin(scenarios::killed_worker_with_parked_jobs()),
        ),
        (
            "a_worker_killed_holding_a_fetch_permit_leaves_no_permit_held",
            || Box::pin(scenarios::killed_worker_holding_a_fetch_permit()),
        ),
        (
            "an_import_loses_no_item_to_a_worker_killed_mid_import",
            || Box::pin(scenarios::killed_worker_mid_import()),
        ),
        (
            "a_webhook_in_flight_on_a_killed_worker_is_delivered_by_another",
            || Box::pin(scenarios::killed_worker_with_a_pending_webhook()),
        ),
        ("sigterm_lets_a_worker_finish_its_job_and_exit_0", || {
            Box::pin(scenarios::sigterm_worker())
        }),
        (
            "sigterm_lets_the_api_answer_requests_in_flight_and_exit_0",
            || Box::pin(scenarios::sigterm_api()),
        ),
        (
            "jobs_accepted_before_a_redis_restart_complete_after_it",
            || Box::pin(scenarios::redis_restart()),
        ),
        ("jobs_retry_through_an_object_store_outage", || {
            Box::pin(scenarios::store_outage())
        }),
        (
            "jobs_past_the_retry_budget_fail_and_can_be_queued_again",
            || Box::pin(scenarios::retry_budget()),
        ),
        (
            "a_full_disk_leaves_the_previous_avatar_current_and_intact",
            || Box::pin(scenarios::full_disk()),
        ),
        (
            "a_worker_dying_between_storing_and_recording_cannot_undo_a_later_update",
            || Box::pin(scenarios::abort_after_store()),
        ),
        (
            "a_worker_dying_in_the_middle_of_a_delete_leaves_nothing_of_the_avatar",
            || Box::pin(scenarios::abort_mid_delete()),
        ),
        ("ten_thousand_jobs_survive_a_worker_killed_halfway", || {
            Box::pin(scenarios::load())
        }),
    ];
    // Found (or refused, saying how to build it) before any scenario's
    // clock starts.
    support::app::worker_binary();
    let child = std::env::var(SCENARIO_VARIABLE).ok();
    let parallel = std::env::var("AVATARS_FAULTS_PARALLEL")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(PARALLEL)
        .max(1);
    let (passed, failed) = match (child, only) {
        (Some(name), _) => run_here(scenarios, |n| n == name),
        (None, Some(part)) => run_here(scenarios, |n| n.contains(part.as_str())),
        (None, None) if parallel == 1 => run_here(scenarios, |_| true),
        (None, None) => run_apart(scenarios, parallel),
    };
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Runs the scenarios `chosen` picks in this process, one at a time,
/// printing a line for each and, for one that fails, its processes' logs.
/// Returns how many passed and failed.
fn run_here(scenarios: &[(&str, Scenario)], chosen: impl Fn(&str) -> bool) -> (usize, usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    support::app::keep_logs();
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in scenarios {
        if !chosen(name) {
            continue;
        }
        let started = Instant::now();
        let outcome = runtime.block_on(async {
            match tokio::time::timeout(SCENARIO_LIMIT, scenario()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("did not finish within {SCENARIO_LIMIT:?}")),
            }
        });
        let secs = started.elapsed().as_secs_f64();
        let logs = support::app::take_log_dirs();
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({secs:.1} s)");
                for dir in logs {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            Err(why) => {
                failed += 1;
                println!("test {name} ... FAILED ({secs:.1} s): {why}");
                for dir in logs {
                    support::app::print_log_tails(&dir);
                }
            }
        }
    }
    (passed, failed)
}

/// A scenario running in a child process, its output going to a file.
struct Running {
    name: &'static str,
    child: Child,
    output: std::path::PathBuf,
    started: Instant,
}

/// Runs every scenario in a child process of its own, `parallel` at a
/// time, printing each one's output when it ends. Returns how many passed
/// and failed.
fn run_apart(scenarios: &[(&'static str, Scenario)], parallel: usize) -> (usize, usize) {
    let exe = std::env::current_exe().expect("the harness's own path");
    let outputs = std::env::temp_dir().join(format!("avatars-faults-{}", std::process::id()));
    std::fs::create_dir_all(&outputs).expect("a folder for the scenarios' output");
    let (mut passed, mut failed) = (0, 0);
    let mut waiting = scenarios.iter().map(|(name, _)| *name);
    let mut running: Vec<Running> = Vec::new();
    loop {
        while running.len() < parallel {
            let Some(name) = waiting.next() else { break };
            let output = outputs.join(format!("{name}.out"));
            let file = std::fs::File::create(&output).expect("the scenario's output file");
            let child = Command::new(&exe)
                .env(SCENARIO_VARIABLE, name)
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("the output file"))
                .stderr(file)
                .spawn()
                .expect("cannot run the harness for a scenario");
            running.push(Running {
                name,
                child,
                output,
                started: Instant::now(),
            });
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut i = 0;
        while i < running.len() {
            let run = &mut running[i];
            let ended = match run.child.try_wait().expect("the scenario's process") {
                Some(status) => Some(status.success()),
                // Past its limit and the time to print its logs.
                None if run.started.elapsed() > SCENARIO_LIMIT + Duration::from_secs(30) => {
                    let _ = run.child.kill();
                    let _ = run.child.wait();
                    println!("test {} ... FAILED: its process did not end", run.name);
                    Some(false)
                }
                None => None,
            };
            match ended {
                Some(ok) => {
                    let run = running.swap_remove(i);
                    let mut text = String::new();
                    if let Ok(mut file) = std::fs::File::open(&run.output) {
                        let _ = file.read_to_string(&mut text);
                    }
                    if ok {
                        passed += 1;
                        // The scenario's own lines, without its tally.
                        for line in text.lines().filter(|l| !l.contains(" passed, ")) {
                            if !line.is_empty() {
                                println!("{line}");
                            }
                        }
                    } else {
                        failed += 1;
                        println!("{text}");
                    }
                }
                None => i += 1,
            }
        }
    }
    let _ = std::fs::remove_dir_all(&outputs);
    (passed, failed)
}
