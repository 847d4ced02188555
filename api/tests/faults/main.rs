//! Fault tests: real API and worker processes, a Redis server and an S3
//! proxy of the suite's own, killed, stopped and restarted, to show that
//! every update the API accepted happens exactly as if nothing had gone
//! wrong. Each scenario is bounded in time; the run ends with a line
//! `N passed, N failed`.
//!
//! Run with `cargo test -p avatar-api --test faults`.

use avatar_testkit as support;

mod infra;
mod scenarios;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

type Scenario = fn() -> Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// The longest any scenario may take.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
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
    // Built (or found up to date) before any scenario's clock starts, so
    // that no scenario's time limit includes compiling the worker.
    support::app::worker_binary();
    support::app::keep_logs();
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in scenarios {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
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
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
