//! The state file beside the input (`<input>.avatar-import-state`): one
//! JSON object per line, appended and flushed as each step happens, so a
//! run stopped at any point (Ctrl-C, a kill, a crash) is resumed by the
//! next run with the same arguments without redoing what was done.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// One line of the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Step {
    /// The first line: what the run is of.
    Started {
        input: String,
        rows: usize,
        mode: String,
    },
    /// A chunk of URL rows was accepted as an import; item `i` is row
    /// `rows[i]`.
    Imported { import: String, rows: Vec<usize> },
    /// Every item of an import has ended.
    ImportEnded {
        ended: String,
        completed: u64,
        skipped: u64,
        failed: u64,
        /// Failed items the service counted but did not list.
        #[serde(default)]
        unlisted: u64,
    },
    /// A file row was accepted as a job.
    Uploaded { job: String, row: usize },
    /// A row ended: failed, or, for file rows, completed.
    RowEnded {
        row: usize,
        outcome: String,
        code: Option<String>,
        message: Option<String>,
    },
}

/// A failed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// What the state file says so far.
#[derive(Debug, Default)]
pub struct State {
    /// Imports not yet ended, with their rows.
    pub open_imports: BTreeMap<String, Vec<usize>>,
    /// Jobs of file rows not yet ended, by row.
    pub open_jobs: BTreeMap<usize, String>,
    /// Rows handed to the service (in an import or as a job).
    pub handed: HashSet<usize>,
    pub completed: u64,
    pub skipped: u64,
    pub failures: HashMap<usize, Failure>,
    /// Failed rows of ended imports that the service did not list.
    pub unlisted: u64,
    file: Option<PathBuf>,
}

impl State {
    /// The state file of `input`.
    pub fn path_for(input: &Path) -> PathBuf {
        let mut name = input.as_os_str().to_owned();
        name.push(".avatar-import-state");
        PathBuf::from(name)
    }

    /// Reads the state file at `path`, or starts one; refuses a file that
    /// belongs to another input or mode.
    pub fn open(path: &Path, input: &Path, rows: usize, mode: &str) -> anyhow::Result<Self> {
        let mut state = Self {
            file: Some(path.to_owned()),
            ..Self::default()
        };
        let started = Step::Started {
            input: input.display().to_string(),
            rows,
            mode: mode.to_owned(),
        };
        if !path.exists() {
            state.append(&started)?;
            return Ok(state);
        }
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if text.last().is_some_and(|&b| b != b'\n') {
            // A line cut short by a kill mid-write: end it, so the next
            // step starts a line of its own.
            OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(b"\n"))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        for (n, line) in BufReader::new(text.as_slice()).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            // A line cut short by a kill mid-write is the last; skip it.
            let Ok(step) = serde_json::from_str::<Step>(&line) else {
                continue;
            };
            if n == 0 {
                match &step {
                    Step::Started {
                        rows: r, mode: m, ..
                    } if *r == rows && m == mode => {}
                    _ => bail!(
                        "{} is the state of another run (another input, row count or --mode); delete it to start over",
                        path.display()
                    ),
                }
            }
            state.apply(step);
        }
        Ok(state)
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Started { .. } => {}
            Step::Imported { import, rows } => {
                self.handed.extend(rows.iter().copied());
                self.open_imports.insert(import, rows);
            }
            Step::ImportEnded {
                ended,
                completed,
                skipped,
                unlisted,
                ..
            } => {
                if self.open_imports.remove(&ended).is_some() {
                    self.completed += completed;
                    self.skipped += skipped;
                    self.unlisted += unlisted;
                }
            }
            Step::Uploaded { job, row } => {
                self.handed.insert(row);
                self.open_jobs.insert(row, job);
            }
            Step::RowEnded {
                row,
                outcome,
                code,
                message,
            } => {
                self.handed.insert(row);
                let was_open = self.open_jobs.remove(&row).is_some();
                match outcome.as_str() {
                    "failed" => {
                        self.failures.insert(
                            row,
                            Failure {
                                code: code.unwrap_or_default(),
                                message: message.unwrap_or_default(),
                            },
                        );
                    }
                    _ if was_open => self.completed += 1,
                    _ => {}
                }
            }
        }
    }

    /// Records `step`, on disk first.
    pub fn record(&mut self, step: Step) -> anyhow::Result<()> {
        self.append(&step)?;
        self.apply(step);
        Ok(())
    }

    fn append(&self, step: &Step) -> anyhow::Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut line = serde_json::to_string(step)?;
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_read_back_knows_what_is_done_and_what_is_open() {
        let dir = std::env::temp_dir().join(format!("avatar-import-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("users.csv.avatar-import-state");
        let _ = std::fs::remove_file(&path);
        let input = dir.join("users.csv");
        {
            let mut state = State::open(&path, &input, 4, "replace").expect("opens");
            state
                .record(Step::Imported {
                    import: "I1".into(),
                    rows: vec![0, 2],
                })
                .expect("records");
            state
                .record(Step::Uploaded {
                    job: "J1".into(),
                    row: 1,
                })
                .expect("records");
            state
                .record(Step::RowEnded {
                    row: 1,
                    outcome: "completed".into(),
                    code: None,
                    message: None,
                })
                .expect("records");
            state
                .record(Step::Uploaded {
                    job: "J3".into(),
                    row: 3,
                })
                .expect("records");
        }
        let again = State::open(&path, &input, 4, "replace").expect("reopens");
        assert_eq!(again.open_imports.get("I1"), Some(&vec![0, 2]));
        assert_eq!(again.open_jobs.get(&3).map(String::as_str), Some("J3"));
        assert_eq!(again.completed, 1);
        assert_eq!(again.handed.len(), 4);
        assert!(
            State::open(&path, &input, 5, "replace").is_err(),
            "another row count"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
