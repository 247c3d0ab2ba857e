//! `flagops apply` stopped by a signal (SIGINT, SIGTERM, SIGHUP), against the fake PostHog:
//! waits end at once (nothing more is sent), a request on the wire gets its grace period, the
//! report is printed and the exit code is 128 + the signal; a second signal stops at once.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::TempRepo;
use crate::support::fake_posthog::{
    Chaos, FakePosthog, Fault, PROJECT_ID, RateLimitRule, RecordedRequest, WRITE_KEY,
};

/// A repository of three flags `f0`, `f1`, `f2` applied to the fake.
fn repo(fake: &FakePosthog) -> TempRepo {
    let config = format!(
        "backend: posthog\nenvironments:\n  staging:\n    host: {}\n    project_id: {PROJECT_ID}\n    \
         api_key_env: FLAGOPS_FAKE_KEY\n",
        fake.base_url()
    );
    let files: Vec<(String, String)> = (0..3)
        .map(|i| {
            (
                format!("f{i}.yaml"),
                format!("key: f{i}\nconditions:\n  - rollout_percentage: 10\n"),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    TempRepo::new(&config, &borrowed)
}

/// What a stopped apply left.
struct Stopped {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// From the first signal to the exit.
    took: Duration,
}

/// Apply (`--concurrency 1`, JSON report) until `ready` holds for the requests the fake
/// received, then send each of `signals` (`kill -SIG pid`), the next one once stderr has a
/// line starting with `interrupted (`.
fn apply_and_signal(
    fake: &Arc<FakePosthog>,
    repo: &TempRepo,
    ready: impl Fn(&[RecordedRequest]) -> bool,
    signals: &[&str],
) -> Stopped {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flagops"))
        .arg("-C")
        .arg(repo.path())
        .args([
            "apply",
            "--env",
            "staging",
            "--auto-approve",
            "--concurrency",
            "1",
            "--format",
            "json",
        ])
        .env_clear()
        .env("NO_COLOR", "1")
        .env("FLAGOPS_FAKE_KEY", WRITE_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(&fake.requests()) {
        assert!(Instant::now() < deadline, "{:#?}", fake.requests());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request the fake saw is being waited on (or answered): let the client get there.
    std::thread::sleep(Duration::from_millis(300));
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.starts_with("interrupted (") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let kill = |signal: &str| {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    };
    let start = Instant::now();
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("the first signal was announced");
        }
        kill(signal);
    }
    let output = child.wait_with_output().unwrap();
    Stopped {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: reader.join().unwrap(),
        took: start.elapsed(),
    }
}

fn json(stopped: &Stopped) -> Value {
    serde_json::from_str(&stopped.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            stopped.stdout, stopped.stderr
        )
    })
}

/// `METHOD path status` of each request the fake received.
fn lines(fake: &FakePosthog) -> Vec<String> {
    fake.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.status.map_or(0, |s| s)))
        .collect()
}

/// A 429 with a 300 s `Retry-After` is being waited out when the signal comes: the wait ends
/// at once, the waiting step and the steps not started are `interrupted` (nothing sent), the
/// report is printed and the exit code says which signal it was. Nothing is sent after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_signal_ends_a_rate_limit_wait_at_once_with_a_report() {
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let fake = Arc::new(FakePosthog::start().await);
        // The list (of the plan, which `--auto-approve` applies at once: two requests, active
        // and archived flags) and the first create go through; the second create gets a 429.
        fake.set_rate_limit(Some(RateLimitRule {
            max_requests: 3,
            window: Duration::from_secs(600),
            retry_after_secs: 300,
        }));
        let repo = repo(&fake);
        let shared = Arc::clone(&fake);
        let stopped = tokio::task::spawn_blocking(move || {
            apply_and_signal(
                &shared,
                &repo,
                |log| log.iter().any(|r| r.status == Some(429)),
                &[signal],
            )
        })
        .await
        .unwrap();
        assert_eq!(stopped.code, Some(code), "SIG{signal}: {}", stopped.stderr);
        assert!(
            stopped.took < Duration::from_secs(3),
            "SIG{signal} took {:?}",
            stopped.took
        );
        assert!(
            stopped.stderr.contains(&format!(
                "interrupted (SIG{signal}): starting no new step, ending the waits, letting the requests on the wire finish (at most 5 s); a second signal stops at once, without a report\n"
            )),
            "{}",
            stopped.stderr
        );
        let doc = json(&stopped);
        let steps = doc["steps"].as_array().unwrap();
        assert_eq!(steps[0]["key"], "f0");
        assert_eq!(steps[0]["status"], "applied");
        assert_eq!(steps[1]["code"], "interrupted");
        assert_eq!(
            steps[1]["reason"],
            "interrupted while it waited (rate limit or request budget); nothing was changed for this flag (a request answered 429 is not carried out)"
        );
        assert_eq!(steps[2]["code"], "interrupted");
        assert_eq!(
            steps[2]["reason"],
            "not started: the apply was interrupted; nothing was changed for this flag"
        );
        assert_eq!(
            doc["warnings"][0]["message"],
            "the apply was interrupted: the flags written were not read back to confirm them; re-run `flagops plan --env staging` to see what is live"
        );
        // The list, the create of `f0`, the refused create of `f1`: nothing after the signal.
        assert_eq!(lines(&fake), ["GET 200", "GET 200", "POST 201", "POST 429"]);
        let live: Vec<String> = fake
            .flags()
            .iter()
            .map(|f| f["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(live, ["f0"]);
    }
}

/// A create on the wire when SIGTERM comes gets 5 s to answer; the server takes 20 s, so the
/// step is reported with outcome unknown, and the apply ends with the report and exit 143.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_the_wire_gets_5_seconds_then_its_outcome_is_unknown() {
    let fake = Arc::new(FakePosthog::start().await);
    // Every third request (the first create, after the two list requests) takes 20 s.
    fake.set_chaos(Some(Chaos {
        every: 3,
        cycle: vec![Fault::Slow {
            delay: Duration::from_secs(20),
            times: 1,
        }],
    }));
    let repo = repo(&fake);
    let shared = Arc::clone(&fake);
    let stopped = tokio::task::spawn_blocking(move || {
        apply_and_signal(
            &shared,
            &repo,
            |log| log.iter().any(|r| r.method == "POST"),
            &["TERM"],
        )
    })
    .await
    .unwrap();
    assert_eq!(stopped.code, Some(143), "{}", stopped.stderr);
    assert!(
        stopped.took >= Duration::from_millis(4500) && stopped.took < Duration::from_secs(12),
        "{:?}",
        stopped.took
    );
    let doc = json(&stopped);
    assert_eq!(doc["steps"][0]["code"], "outcome_unknown");
    assert_eq!(
        doc["steps"][0]["reason"],
        "interrupted while its request was on the wire, and no answer came within 5 s: it may or may not have been applied; re-run `flagops plan --env staging`"
    );
    assert_eq!(doc["steps"][1]["code"], "interrupted");
    assert_eq!(doc["steps"][2]["code"], "interrupted");
    // Only the list and the one create were sent.
    let sent: Vec<String> = fake.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(sent, ["GET", "GET", "POST"]);
}

/// A second signal while a request is on the wire stops at once, without a report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_without_a_report() {
    let fake = Arc::new(FakePosthog::start().await);
    fake.set_chaos(Some(Chaos {
        every: 3,
        cycle: vec![Fault::Slow {
            delay: Duration::from_secs(20),
            times: 1,
        }],
    }));
    let repo = repo(&fake);
    let shared = Arc::clone(&fake);
    let stopped = tokio::task::spawn_blocking(move || {
        apply_and_signal(
            &shared,
            &repo,
            |log| log.iter().any(|r| r.method == "POST"),
            &["INT", "TERM"],
        )
    })
    .await
    .unwrap();
    assert_eq!(stopped.code, Some(143), "{}", stopped.stderr);
    assert!(stopped.took < Duration::from_secs(3), "{:?}", stopped.took);
    assert_eq!(stopped.stdout, "", "no report");
    assert!(
        stopped.stderr.ends_with(
            "stopped at once (SIGTERM), without a report: a request on the wire may or may not have been applied; run `flagops plan --env staging`\n"
        ),
        "{}",
        stopped.stderr
    );
}
