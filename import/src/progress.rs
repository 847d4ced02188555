//! Progress as a bar (rows done, failed, rate, time left) on a terminal,
//! and as a plain line every few seconds anywhere else (a log, a pipe).

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::state::State;

/// How often the plain lines come.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: ProgressBar,
    terminal: bool,
    started: Instant,
    /// When the last plain line was written, and how many rows were done
    /// when this run began (for the rate).
    last_line: Mutex<(Instant, Option<u64>)>,
}

impl Progress {
    pub fn new(rows: u64) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let bar = ProgressBar::with_draw_target(
            Some(rows),
            if terminal {
                ProgressDrawTarget::stdout()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} done, {msg}, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            terminal,
            started: Instant::now(),
            last_line: Mutex::new((Instant::now(), None)),
        }
    }

    fn done(state: &State) -> u64 {
        state.completed + state.skipped + state.failures.len() as u64
    }

    /// Shows what `state` says.
    pub fn set(&self, state: &State) {
        self.set_running(state, 0, 0);
    }

    /// Shows what `state` says, and `ended` more rows of imports still
    /// running, `failed` of them failed.
    pub fn set_running(&self, state: &State, ended: u64, failed: u64) {
        let done = Self::done(state) + ended;
        let failed = state.failures.len() + failed as usize;
        let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
        let first = *last.1.get_or_insert(done);
        self.bar.set_position(done);
        self.bar.set_message(format!(
            "{failed} failed, {:.1} rows/s",
            self.rate(done, first)
        ));
        if self.terminal {
            return;
        }
        if last.0.elapsed() < LINE_EVERY {
            return;
        }
        last.0 = Instant::now();
        println!("{}", self.line(done, first, failed));
    }

    /// Rows per second this run, from `first` done when it began.
    fn rate(&self, done: u64, first: u64) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        done.saturating_sub(first) as f64 / secs
    }

    /// The plain progress line.
    fn line(&self, done: u64, first: u64, failed: usize) -> String {
        let total = self.bar.length().unwrap_or(0);
        let rate = self.rate(done, first);
        let left = match rate > 0.0 {
            true => format!(
                "about {:.0} s left",
                total.saturating_sub(done) as f64 / rate
            ),
            false => "time left unknown".to_owned(),
        };
        format!("progress: {done}/{total} done, {failed} failed, {rate:.1} rows/s, {left}")
    }

    /// The last state, before the summary.
    pub fn finish(&self, state: &State) {
        let done = Self::done(state);
        self.bar.set_position(done);
        self.bar.finish_and_clear();
        if !self.terminal {
            let first = self.last_line.lock().map(|l| l.1.unwrap_or(0)).unwrap_or(0);
            println!("{}", self.line(done, first, state.failures.len()));
        }
    }
}
