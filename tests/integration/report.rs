//! The HTML report, the live status view and the exports on sweeps made by a real `sweep run`
//! of Python scripts. The report is opened in a real headless Chromium: the test counts the
//! rendered SVG marks, checks their geometry, sorts the runs table by clicking, checks the
//! page fits a phone-wide screen, and keeps screenshots under `target/tmp/report/`.
//!
//! Chromium is `$SWEEP_TEST_CHROMIUM`, else `chromium` on the PATH (Debian's package,
//! installed by scripts/test.sh). Without it the browser test says so and passes, except when
//! `CI` is set: then it fails.

use crate::services;
use crate::support::{wait_for, Project, Ran};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A training script: the result grows over 5 intervals towards a ceiling set by the
/// learning rate (best near 1e-2.5) and the optimizer (`sgd` is much worse), so a Bandit
/// policy stops the `sgd` runs that come after a good run.
const TRAIN: &str = r#"
import json, math, os, sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
lr = float(args["--lr"]); opt = args["--opt"]; noise = float(args["--noise"])
ceiling = 0.95 - 0.05 * (math.log10(lr) + 2.5) ** 2 - (0.4 if opt == "sgd" else 0.0) + 0.01 * noise
pause = float(os.environ.get("PAUSE", "0.02"))
for i in range(1, 6):
    time.sleep(pause)
    print("@sweep " + json.dumps({"metric": "acc", "value": ceiling * (i / 5.0) ** 0.3, "step": i * 10}), flush=True)
    print("@sweep " + json.dumps({"metric": "loss", "value": 1.0 - ceiling * i / 5.0}), flush=True)
"#;

fn config(runs: u32, concurrent: u32) -> String {
    // The option with markup in it checks escaping all the way to the browser.
    format!(
        r#"sampling:
  type: random
  seed: 11
  parameter_space:
  - name: --lr
    expression: loguniform
    values: [-11.5, -2.3]
  - name: --opt
    expression: choice
    values: [adam, sgd, "<b>x&y</b>"]
  - name: --noise
    expression: uniform
    values: [0, 1]
policy:
  type: BanditPolicy
  evaluation_interval: 1
  delay_evaluation: 1
  slack_factor: 0.1
primary_metric_name: acc
primary_metric_goal: Maximize
max_total_runs: {runs}
max_concurrent_runs: {concurrent}
max_duration_minutes: 10
"#
    )
}

/// What the history says the report must show.
struct Expected {
    runs: usize,
    stopped: usize,
    curves: usize,
    scored: usize,
}

/// The latest sweep's runs, from a `sweep runs` that succeeded.
fn runs(p: &Project) -> Vec<serde_json::Value> {
    p.sweep(&["runs", "latest", "--format", "json"])
        .success()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn expected(p: &Project) -> Expected {
    let runs = runs(p);
    let stopped = runs
        .iter()
        .filter(|r| {
            r["state"] == "canceled"
                && r["reason"]
                    .as_str()
                    .is_some_and(|x| x.starts_with("policy"))
                && r["intervals"].as_i64().unwrap() > 0
        })
        .count();
    Expected {
        runs: runs.len(),
        stopped,
        curves: runs
            .iter()
            .filter(|r| r["intervals"].as_i64().unwrap() > 0)
            .count(),
        scored: runs
            .iter()
            .filter(|r| r["state"] != "failed" && r["best"].is_number())
            .count(),
    }
}

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SWEEP_TEST_CHROMIUM") {
        return Ok(PathBuf::from(p));
    }
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                return Ok(PathBuf::from(
                    String::from_utf8_lossy(&out.stdout).trim().to_string(),
                ));
            }
        }
    }
    Err("chromium is not installed (scripts/test.sh installs Debian's `chromium`)".into())
}

/// Runs Chromium headless with the flags this machine needs, killed after 90 s.
fn run_chromium(bin: &Path, extra: &[String], profile: &Path) -> Ran {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let until = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ran(Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    })
}

/// A page that loads the report in a frame, measures what the browser drew, clicks a
/// column header twice, narrows the frame to a phone's width, and prints the findings as
/// JSON into `#result` (read back with `--dump-dom`).
const HARNESS: &str = r#"<!DOCTYPE html><html><body>
<iframe id="r" src="report.html" style="width:1200px;height:900px;border:0"></iframe>
<pre id="result">pending</pre>
<script>
document.getElementById('r').addEventListener('load', function () {
  var out = {};
  try {
    var f = document.getElementById('r');
    var d = f.contentDocument;
    var count = function (s) { return d.querySelectorAll(s).length; };
    out.plots = [];
    d.querySelectorAll('svg.plot').forEach(function (s) {
      var b = s.getBoundingClientRect();
      out.plots.push({ kind: s.getAttribute('data-plot'), w: b.width, h: b.height, children: s.childElementCount });
    });
    ['.run-curve', '.stop-mark', '.pc-line', '.slice-point', '.imp-bar', '.run-point', '.best-step', '#runs tbody tr'].forEach(function (s) {
      out[s] = count(s);
    });
    var len = 0;
    d.querySelectorAll('.run-curve').forEach(function (p) { len += p.getTotalLength(); });
    out.curveLength = len;
    var pc = 0;
    d.querySelectorAll('.pc-line').forEach(function (p) { pc += p.getBBox().width; });
    out.pcWidth = pc;
    var bars = 0;
    d.querySelectorAll('.imp-bar').forEach(function (p) { bars += p.getBBox().width; });
    out.barWidth = bars;
    out.elements = count('img') + count('b') + count('script[src]') + count('link');
    var heads = d.querySelectorAll('#runs thead th');
    var best = null;
    heads.forEach(function (h, i) { if (h.textContent.indexOf('best') === 0) best = i; });
    var col = function () {
      return Array.prototype.map.call(d.querySelectorAll('#runs tbody tr'), function (r) { return r.cells[best].getAttribute('data-v'); });
    };
    heads[best].click();
    out.ascending = col();
    heads[best].click();
    out.descending = col();
    f.style.width = '375px';
    out.phoneScrollWidth = d.documentElement.scrollWidth;
    out.phoneBodyWidth = d.body.getBoundingClientRect().width;
    var widest = 0;
    d.querySelectorAll('figure').forEach(function (x) { widest = Math.max(widest, x.getBoundingClientRect().right); });
    out.phoneWidestFigure = widest;
  } catch (e) {
    out.error = String(e);
  }
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script></body></html>"#;

fn browser_findings(chrome: &Path, dir: &Path) -> serde_json::Value {
    std::fs::write(dir.join("harness.html"), HARNESS).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = run_chromium(
        chrome,
        &[
            "--allow-file-access-from-files".into(),
            "--virtual-time-budget=15000".into(),
            "--dump-dom".into(),
            format!("file://{}", dir.join("harness.html").display()),
        ],
        profile.path(),
    );
    let dom = out.stdout();
    let start = dom
        .find(r#"<pre id="result">"#)
        .unwrap_or_else(|| panic!("no result in the DOM: {}", out.text()))
        + r#"<pre id="result">"#.len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}\n{}", out.text()))
}

fn screenshot(chrome: &Path, page: &Path, png: &Path, size: &str) {
    let profile = tempfile::tempdir().unwrap();
    let _ = std::fs::remove_file(png);
    let out = run_chromium(
        chrome,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={size}"),
            "--virtual-time-budget=5000".into(),
            format!("file://{}", page.display()),
        ],
        profile.path(),
    );
    let bytes =
        std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot ({e}): {}", out.text()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let want: u32 = size.split(',').next().unwrap().parse().unwrap();
    assert_eq!(width, want, "screenshot width");
    // A blank page compresses to almost nothing; plots and text do not.
    assert!(
        bytes.len() > 20_000,
        "screenshot looks empty: {} bytes",
        bytes.len()
    );
}

#[test]
fn the_report_renders_every_plot_in_a_real_browser() {
    let p = Project::new().script(TRAIN).hdconfig(&config(10, 1));
    p.run(&[]).success();
    let want = expected(&p);
    assert_eq!(want.runs, 10);
    assert!(
        want.stopped >= 1,
        "the config is meant to make the policy stop a run"
    );
    let dir = artifacts();
    let page = dir.join("report.html");
    let said = p
        .sweep(&["report", "latest", "--out", page.to_str().unwrap()])
        .success()
        .stdout();
    assert!(said.contains("8 plots"), "{said}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<b>x&y</b>"),
        "an option reached the page unescaped"
    );
    assert!(html.contains("&lt;b&gt;x&amp;y&lt;/b&gt;"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(html.contains("lr (log axis)"), "lr is drawn on a log axis");

    let Some(chrome) = services::require("the browser part", &chromium()) else {
        return;
    };
    let found = browser_findings(&chrome, &dir);
    assert!(found.get("error").is_none(), "{found}");
    // best-by-run, best-by-time, curves, parallel coordinates, importance, 3 slices.
    let plots = found["plots"].as_array().unwrap();
    assert_eq!(plots.len(), 8, "{found}");
    for kind in [
        "best-by-run",
        "best-by-time",
        "curves",
        "parallel",
        "importance",
    ] {
        assert_eq!(
            plots.iter().filter(|p| p["kind"] == kind).count(),
            1,
            "{kind}: {found}"
        );
    }
    assert_eq!(plots.iter().filter(|p| p["kind"] == "slice").count(), 3);
    for pl in plots {
        assert!(pl["w"].as_f64().unwrap() > 100.0, "{pl}");
        assert!(pl["h"].as_f64().unwrap() > 50.0, "{pl}");
        assert!(pl["children"].as_u64().unwrap() > 5, "{pl}");
    }
    assert_eq!(found[".run-curve"], want.curves, "{found}");
    assert_eq!(found[".stop-mark"], want.stopped, "{found}");
    assert_eq!(found[".pc-line"], want.scored, "{found}");
    assert_eq!(found[".run-point"], want.scored, "{found}");
    assert_eq!(found[".slice-point"], want.scored * 3, "{found}");
    assert_eq!(found[".imp-bar"], 3, "{found}");
    assert_eq!(found[".best-step"], 2, "{found}");
    assert_eq!(found["#runs tbody tr"], want.runs, "{found}");
    assert!(found["curveLength"].as_f64().unwrap() > 100.0, "{found}");
    assert!(found["pcWidth"].as_f64().unwrap() > 100.0, "{found}");
    assert!(found["barWidth"].as_f64().unwrap() > 10.0, "{found}");
    assert_eq!(found["elements"], 0, "markup from user strings: {found}");
    // Clicking the best column sorts numerically, empty cells last, both ways.
    let nums = |k: &str| -> Vec<f64> {
        found[k]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
            .collect()
    };
    let (asc, desc) = (nums("ascending"), nums("descending"));
    assert!(asc.len() >= 2, "{found}");
    assert!(asc.windows(2).all(|w| w[0] <= w[1]), "{asc:?}");
    assert!(desc.windows(2).all(|w| w[0] >= w[1]), "{desc:?}");
    // Phone width: nothing wider than the screen but the scrolling table.
    assert!(
        found["phoneScrollWidth"].as_f64().unwrap() <= 376.0,
        "{found}"
    );
    assert!(
        found["phoneWidestFigure"].as_f64().unwrap() <= 376.0,
        "{found}"
    );

    screenshot(&chrome, &page, &dir.join("report.png"), "1280,3200");
    screenshot(&chrome, &page, &dir.join("report-phone.png"), "390,3000");
}

#[test]
fn a_running_sweep_gets_a_snapshot_report_and_a_live_status() {
    let p = Project::new().script(TRAIN).hdconfig(&config(6, 2));
    let mut sweep = p
        .run_command(&["--quiet"])
        .env("PAUSE", "0.25")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the history has a sweep with a run that reported something.
    wait_for(30, "a run to report", || {
        p.runs_so_far()
            .iter()
            .any(|r| r["intervals"].as_i64() > Some(0))
    });
    let watch = p.spawn(&["status", "latest", "--watch", "--interval", "0.2"]);
    let page = p.path().join("live.html");
    p.sweep(&["report", "latest", "--out", page.to_str().unwrap()])
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("The sweep was still running"),
        "not marked as a snapshot"
    );
    assert!(html.matches(r#"class="run-curve""#).count() >= 1);
    assert!(sweep.wait().unwrap().success());
    // The watcher ends by itself once the sweep has ended.
    let shown = Ran::from(watch.wait_with_output().unwrap())
        .success()
        .stdout();
    assert!(shown.contains("in flight"), "{shown}");
    assert!(shown.contains("latest finished:"), "{shown}");
    let last_block = shown.trim_end().rsplit("\n\n").next().unwrap();
    assert!(
        last_block.lines().next().unwrap().ends_with(": completed"),
        "{last_block}"
    );
    // One-shot status is unchanged: no live sections.
    let once = p.sweep(&["status", "latest"]).success().stdout();
    assert!(
        once.contains("completed 6") || once.contains("canceled"),
        "{once}"
    );
    assert!(!once.contains("in flight"), "{once}");
}

#[test]
fn exports_follow_their_documented_schemas() {
    let p = Project::new().script(TRAIN).hdconfig(&config(4, 2));
    p.run(&[]).success();
    let runs = runs(&p);
    // CSV: a header, then one row per run, one column per parameter.
    let csv = p
        .sweep(&["export", "latest", "--format", "csv"])
        .success()
        .0
        .stdout;
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,seq,state,reason,exit_code,signal,queued,started,ended,duration_s,best,intervals,--lr,--opt,--noise"
    );
    assert_eq!(lines.len(), runs.len() + 1);
    for (line, r) in lines[1..].iter().zip(&runs) {
        assert!(line.starts_with(&format!("{},{},", r["id"].as_str().unwrap(), r["seq"])));
    }
    // JSONL: one metric point per line, every point of both metrics.
    let jsonl = p
        .sweep(&["export", "latest", "--format", "jsonl"])
        .success()
        .0
        .stdout;
    let points: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intervals: i64 = runs.iter().map(|r| r["intervals"].as_i64().unwrap()).sum();
    let acc: Vec<&serde_json::Value> = points.iter().filter(|p| p["metric"] == "acc").collect();
    assert_eq!(acc.len() as i64, intervals);
    assert!(acc
        .iter()
        .all(|p| p["step"].as_i64().unwrap() == p["interval"].as_i64().unwrap() * 10));
    assert!(points
        .iter()
        .any(|p| p["metric"] == "loss" && p["step"].is_null()));
    for k in ["run", "seq", "metric", "interval", "step", "value", "time"] {
        assert!(points[0].get(k).is_some(), "{k} missing: {}", points[0]);
    }
    // JSON: the sweep and its runs with their metrics.
    let doc = p
        .sweep(&["export", "latest", "--format", "json"])
        .success()
        .json();
    assert_eq!(doc["runs"].as_array().unwrap().len(), runs.len());
    assert_eq!(doc["sweep"]["primary_metric"], "acc");
    assert!(doc["runs"][0]["metrics"]["acc"][0]["interval"] == 1);
}
