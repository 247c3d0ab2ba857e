//! What the vendor benchmarks share (included by each with `#[path]`): running `flagops` as a
//! child process through a small wrapper process (the bench binary again, `--measure`) that
//! reports the child's CPU time and peak memory from `getrusage`, and the figures' formatting.
// A benchmark's failures are bugs of the benchmark: it panics with the reason.
#![allow(clippy::unwrap_used, clippy::cast_precision_loss, dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first argument of the wrapper process.
const MEASURE: &str = "--measure";
/// Where the wrapper writes its figures: the last line of its stderr.
const FIGURES: &str = "bench-rusage:";

/// A fake server's request log, as the figures count it.
pub(crate) trait RequestLog {
    /// Forget the requests received so far.
    fn forget(&self);
    /// How many requests were received since.
    fn count(&self) -> usize;
}

/// The figures of one child process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) user: Duration,
    pub(crate) system: Duration,
    /// Max RSS in bytes.
    pub(crate) peak: u64,
    pub(crate) requests: usize,
}

/// When this process is the wrapper (`--measure program args…`), run the program, write its
/// figures and return `true`: the bench's `main` then returns.
pub(crate) fn wrapper() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(MEASURE) {
        return false;
    }
    measure(&args[1..]);
    true
}

/// The milliseconds in variable `var`, else `default`.
pub(crate) fn latency(var: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// The runtime the fakes are served on while the benchmarked `flagops` runs as a child.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// With `BENCH_HOLD` set, print the repository, the fake's address and the environment a
/// `flagops` run needs, then wait for a line on stdin: the fake keeps serving meanwhile, for
/// profiling a command by hand (`heaptrack`, `perf`) against it.
pub(crate) fn hold(dir: &Path, base_url: &str, envs: &[(&str, &str)]) {
    if std::env::var_os("BENCH_HOLD").is_none() {
        return;
    }
    let envs: Vec<String> = envs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "  holding: the fake serves at {base_url}; in {}, run `env {} flagops …`; press Enter to go on",
        dir.display(),
        envs.join(" ")
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// `BENCH_FLAGS` (comma-separated), else `default`.
pub(crate) fn sizes(default: &[usize]) -> Vec<usize> {
    std::env::var("BENCH_FLAGS").map_or_else(
        |_| default.to_vec(),
        |v| v.split(',').map(|n| n.trim().parse().unwrap()).collect(),
    )
}

/// Run `flagops args…` in `dir` through the wrapper (only `envs` in its environment, besides
/// `NO_COLOR`), check its output with `check`, and return its figures and the requests `log`
/// received meanwhile.
pub(crate) fn run(
    log: &dyn RequestLog,
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    check: impl Fn(&str),
) -> Figures {
    log.forget();
    let start = Instant::now();
    let output = Command::new(std::env::current_exe().unwrap())
        .arg(MEASURE)
        .arg(env!("CARGO_BIN_EXE_flagops"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let figures = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(FIGURES))
        .unwrap_or_else(|| panic!("no figures from the wrapper:\n{stderr}"));
    let numbers: Vec<u64> = figures
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let [code, user_us, system_us, peak_kb] = numbers[..] else {
        panic!("{figures}");
    };
    assert_eq!(
        code,
        0,
        "`flagops {}` failed:\n{stdout}\n{stderr}",
        args.join(" ")
    );
    check(&stdout);
    let user = Duration::from_micros(user_us);
    let system = Duration::from_micros(system_us);
    Figures {
        wall,
        cpu: user + system,
        user,
        system,
        peak: peak_kb * 1024,
        requests: log.count(),
    }
}

/// The wrapper: run `args` (a program and its arguments), then write its exit code, user and
/// system CPU time (µs) and max RSS (KiB) on stderr, from `getrusage` of its only child.
fn measure(args: &[String]) {
    use nix::sys::resource::{UsageWho, getrusage};
    let status = Command::new(&args[0]).args(&args[1..]).status().unwrap();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let micros = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec()).unwrap_or(0)
    };
    eprintln!(
        "{FIGURES} {} {} {} {}",
        status.code().map_or(255, i32::unsigned_abs),
        micros(usage.user_time()),
        micros(usage.system_time()),
        usage.max_rss()
    );
}

impl Figures {
    pub(crate) fn line(&self) -> String {
        format!(
            "wall {}, CPU {} (user {}, system {}), peak memory {:.0} MB, {} requests",
            secs(self.wall),
            secs(self.cpu),
            secs(self.user),
            secs(self.system),
            self.peak as f64 / 1e6,
            self.requests
        )
    }
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub(crate) fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// The `.yaml` files directly in `dir`.
pub(crate) fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count()
}
