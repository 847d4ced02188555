//! Starting the converters as processes: one process over many files,
//! pinned to the core this benchmark runs on, timed from outside, with its
//! CPU time and peak memory read by `/usr/bin/time` where that is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const TIME: &str = "/usr/bin/time";

/// How to turn a list of files into avatars in a folder.
pub enum Converter {
    /// `avatar-worker convert --size 512 --quality 85 -o OUT FILE...`
    Worker(PathBuf),
    /// `vipsthumbnail FILE... --size 512x512 --smartcrop centre -o OUT/%s.jpg[Q=85,strip,interlace]`
    Vips,
    /// `node sharp-thumbnail.mjs -o OUT FILE...`: sharp with its own libvips
    /// doing the same, on one thread.
    Sharp(PathBuf),
}

/// What one process took.
pub struct Run {
    pub wall_ms: f64,
    /// User plus system time, when `/usr/bin/time` could tell.
    pub cpu_ms: Option<f64>,
    /// Peak resident memory, when `/usr/bin/time` could tell.
    pub max_rss_kb: Option<u64>,
}

impl Converter {
    pub fn worker(binary: PathBuf) -> Self {
        Self::Worker(binary)
    }

    pub fn vipsthumbnail() -> Self {
        Self::Vips
    }

    /// sharp through the script beside this benchmark, when node can load
    /// it (see the script's header for installing it).
    pub fn sharp() -> Option<Self> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/versus_vips/sharp-thumbnail.mjs");
        let loads = Command::new("node")
            .arg(&script)
            .arg("--check")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        loads.then_some(Self::Sharp(script))
    }

    /// The name the report gives it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Worker(_) => "ours",
            Self::Vips => "vips",
            Self::Sharp(_) => "sharp",
        }
    }

    /// Converts `files` into `out` in one process.
    pub fn run(&self, files: &[PathBuf], out: &Path) -> Run {
        std::fs::create_dir_all(out).expect("the output folder can be made");
        let mut argv: Vec<String> = Vec::new();
        if let Some(cpu) = pinned_cpu() {
            argv.extend(["taskset".into(), "-c".into(), cpu]);
        }
        let times = out.with_extension("time");
        let timed = Path::new(TIME).exists();
        if timed {
            argv.extend([
                TIME.into(),
                "-f".into(),
                "%U %S %M".into(),
                "-o".into(),
                times.display().to_string(),
            ]);
        }
        let files = files.iter().map(|f| f.display().to_string());
        match self {
            Self::Worker(binary) => {
                argv.push(binary.display().to_string());
                argv.extend(
                    ["convert", "--size", "512", "--quality", "85", "-o"].map(String::from),
                );
                argv.push(out.display().to_string());
                argv.extend(files);
            }
            Self::Vips => {
                argv.push("vipsthumbnail".into());
                argv.extend(files);
                argv.extend(["--size", "512x512", "--smartcrop", "centre", "-o"].map(String::from));
                argv.push(format!("{}/%s.jpg[Q=85,strip,interlace]", out.display()));
            }
            Self::Sharp(script) => {
                argv.extend(["node".into(), script.display().to_string(), "-o".into()]);
                argv.push(out.display().to_string());
                argv.extend(files);
            }
        }
        let started = Instant::now();
        let _ = Command::new(&argv[0])
            .args(&argv[1..])
            .env("VIPS_CONCURRENCY", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
        let measured = timed
            .then(|| std::fs::read_to_string(&times).ok())
            .flatten()
            .and_then(|text| {
                // A failing command adds a line before the figures.
                let line = text.lines().last()?.to_owned();
                let mut fields = line.split_whitespace();
                let user: f64 = fields.next()?.parse().ok()?;
                let system: f64 = fields.next()?.parse().ok()?;
                let rss: u64 = fields.next()?.parse().ok()?;
                Some(((user + system) * 1000.0, rss))
            });
        Run {
            wall_ms,
            cpu_ms: measured.map(|m| m.0),
            max_rss_kb: measured.map(|m| m.1),
        }
    }
}

impl Run {
    /// The run of median wall time, with the median CPU time.
    pub fn median(mut runs: Vec<Run>) -> Run {
        let mut cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_ms).collect();
        cpu.sort_by(f64::total_cmp);
        runs.sort_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
        let middle = runs.len() / 2;
        let mut run = runs.swap_remove(middle);
        run.cpu_ms = cpu.get(cpu.len() / 2).copied();
        run
    }
}

pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The first core this process may run on, when it is held to fewer than
/// all of them (as by `taskset -c 1 cargo bench`), else core 0 on a machine
/// with more than one; `None` when `taskset` is missing.
pub fn pinned_cpu() -> Option<String> {
    if !installed("taskset") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim()
        .to_owned();
    let first = allowed
        .split([',', '-'])
        .next()
        .unwrap_or("0")
        .trim()
        .to_owned();
    Some(first)
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `AVATARS_WORKER_BIN`, or the release `avatar-worker` beside this
/// benchmark, brought up to date with cargo first.
pub fn worker_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("AVATARS_WORKER_BIN") {
        return binary.into();
    }
    let me = std::env::current_exe().expect("the benchmark knows its path");
    // target/<profile>/deps/versus_vips-HASH: the binary sits in target/release.
    let target = me
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("the benchmark sits in the target folder");
    let binary = target.join("release").join("avatar-worker");
    {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "avatar-worker",
                "--bin",
                "avatar-worker",
            ])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building avatar-worker failed");
    }
    binary
}
