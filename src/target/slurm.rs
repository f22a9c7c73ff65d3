//! The Slurm target: each run is one batch job, submitted with the `sbatch` of this machine
//! (a login node, or any node with the Slurm client and config).
//!
//! - **Shared filesystem.** The run directory (`.sweep/sweeps/<sweep>/runs/<run>/`) must be
//!   visible at the same path on the compute nodes: the job runs in `<run_dir>/work`, writes
//!   `output.log` there (`--output`, `--open-mode=append`) and appends to `metrics.jsonl`;
//!   sweep reads both files as they grow.
//! - **Submission.** `sbatch --parsable` with the run's argument vector as the batch script's
//!   arguments (the script only `exec`s them, so no shell ever parses a value), the
//!   environment passed through sbatch's own environment (`--export=ALL`, never a file or a
//!   command line), and partition, account, qos, time limit, nodes, CPUs, GPUs, memory and
//!   extra arguments from the targets file and the runconfig.
//! - **Following.** A poller reads the run files every 200 ms (`TAIL`) and asks
//!   `scontrol -o show job ID` for each job every `poll_seconds` (there may be no `sacct`).
//! - **Requeue.** A job Slurm requeues (preemption, `scontrol requeue`) keeps its run id and
//!   stays live; it starts over from the beginning, its output gets a line saying so, and
//!   its metrics go to a file of its own. At that line the run's feed sends
//!   [`super::TargetEvent::Restarted`]: the engine counts the rerun's intervals from 1.
//! - **Recovery.** A job whose id was never recorded is found by its name (the run id) and
//!   working directory with `squeue --states=all`.
//! - **Stop.** Stop file, `scancel --signal=TERM --full`, then `scancel` after the grace
//!   period (Slurm then sends SIGKILL after its `KillWait`).

use super::handle::{self, SlurmHandle};
use super::rundir::{self, RunDir};
use super::watch::{EventFiles, Feed, Stream};
use super::{ComputeTarget, EventSender, ExitStatus, LaunchRequest, RunHandle, TargetError};
use crate::config::targets::SlurmConfig;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often the run files are read.
const TAIL: Duration = Duration::from_millis(200);
/// The batch script: the run's argument vector is its arguments. The program runs in a
/// process group and session of its own (`setsid`, which leads both without forking here:
/// the script's child is no group leader); signals Slurm sends the script go to that group,
/// and when the program ends, whatever is left in its group and its session is killed
/// (`pkill -s`, where procps is installed), so a process that moved to a group of its own
/// ends too (Slurm's process tracking without cgroups loses processes whose parent died).
/// The script then ends the way the program did.
///
/// A rerun (Slurm requeued the job) appends its metrics to a file of its own,
/// `metrics.restart-K.jsonl` beside `metrics.jsonl`, and says so on its output before the
/// program starts: the reader switches files at that line, so no rerun report is read as
/// the first attempt's, nor the other way round.
const JOB_SCRIPT: &str = r#"#!/bin/sh
# Written by sweep: runs the argument vector it is given.
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
  SWEEP_METRICS_FILE="${SWEEP_METRICS_FILE%.jsonl}.restart-${SLURM_RESTART_COUNT}.jsonl"
  export SWEEP_METRICS_FILE
  : > "$SWEEP_METRICS_FILE"
  echo "[sweep] Slurm restarted job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT}); the run starts over"
fi
# `&` makes the command ignore SIGINT and SIGQUIT (and the INT forwarded below would be
# lost); `env --default-signal` (GNU coreutils 8.31+) gives them back their defaults.
if env --default-signal=INT true 2>/dev/null; then
  setsid env --default-signal=INT,QUIT "$@" &
else
  setsid "$@" &
fi
child=$!
trap 'kill -TERM -$child 2>/dev/null' TERM
trap 'kill -INT -$child 2>/dev/null' INT
trap 'kill -USR1 -$child 2>/dev/null' USR1
trap 'kill -USR2 -$child 2>/dev/null' USR2
while :; do
  wait "$child"; code=$?
  kill -0 "$child" 2>/dev/null || break
done
kill -KILL -$child 2>/dev/null
pkill -KILL -s $child 2>/dev/null
if [ "$code" -gt 128 ] && [ "$code" -lt 160 ]; then
  trap - TERM INT USR1 USR2
  kill -$((code - 128)) $$
fi
exit "$code"
"#;

/// Slack added to `maxRunDurationSeconds` for Slurm's own time limit: sweep's timeout stops
/// the run first (reason `timeout`); Slurm's limit only holds when nobody watches.
const TIME_SLACK_SECONDS: f64 = 60.0;

/// Per-sweep settings from the runconfig that shape every job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobShape {
    /// `maxRunDurationSeconds`.
    pub max_run_seconds: Option<f64>,
    /// `nodeCount`.
    pub nodes: u32,
}

/// Runs as Slurm batch jobs.
pub struct SlurmTarget {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    cfg: SlurmConfig,
    shape: JobShape,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    incoming: Vec<Job>,
    poller: bool,
    /// Jobs sweep asked to stop or kill.
    stopping: HashSet<String>,
}

struct Job {
    id: String,
    feed: Feed,
    /// Its TensorBoard event files (the run directory is on a filesystem this machine
    /// reads, as its output is).
    tb: EventFiles,
    dir: RunDir,
    /// Restarts `scontrol` has shown (logged as they are seen).
    restarts: u32,
}

impl Job {
    fn new(id: String, feed: Feed, dir: RunDir) -> Job {
        Job {
            id,
            feed: feed.with_restarts(restart_line),
            tb: EventFiles::new(dir.clone()),
            dir,
            restarts: 0,
        }
    }
}

/// The restart a line of a job's output announces, if it is the job script's marker, and
/// the marker's words.
fn restart_line(line: &[u8]) -> Option<(u32, String)> {
    let text = std::str::from_utf8(line.strip_prefix(b"[sweep] ")?).ok()?;
    let (said, _) = text.split_once(';')?;
    let (job, k) = said
        .strip_prefix("Slurm restarted job ")?
        .split_once(" (restart ")?;
    let k = k.strip_suffix(')')?.parse().ok()?;
    (!job.is_empty() && job.bytes().all(|b| b.is_ascii_digit())).then(|| (k, said.to_string()))
}

/// A job's state as `scontrol` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// `JobState`.
    pub state: String,
    /// `Reason`.
    pub reason: String,
    /// `Restarts`.
    pub restarts: u32,
    /// `ExitCode=code:signal`.
    pub exit: (i32, i32),
}

/// Parses one line of `scontrol -o show job`.
pub fn parse_job(line: &str) -> Option<JobInfo> {
    let mut info = JobInfo {
        state: String::new(),
        reason: String::new(),
        restarts: 0,
        exit: (0, 0),
    };
    for kv in line.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        match k {
            "JobState" => info.state = v.to_string(),
            "Reason" => info.reason = v.to_string(),
            "Restarts" => info.restarts = v.parse().unwrap_or(0),
            "ExitCode" => {
                let (c, s) = v.split_once(':').unwrap_or((v, "0"));
                info.exit = (c.parse().unwrap_or(0), s.parse().unwrap_or(0));
            }
            _ => {}
        }
    }
    (!info.state.is_empty()).then_some(info)
}

/// How a terminal job state ends a run; `None` while the job is alive (pending, running,
/// requeued, completing, suspended).
pub fn exit_of(info: &JobInfo) -> Option<ExitStatus> {
    let (code, sig) = info.exit;
    let from_code = || {
        if sig != 0 {
            ExitStatus::Signal(sig)
        } else {
            ExitStatus::Code(code)
        }
    };
    Some(match info.state.as_str() {
        "COMPLETED" => ExitStatus::Code(code),
        "FAILED" => from_code(),
        "CANCELLED" => ExitStatus::slurm(&format!(
            "CANCELLED (the job was cancelled outside sweep{})",
            if sig != 0 {
                format!(", signal {sig}")
            } else {
                String::new()
            }
        )),
        "TIMEOUT" => ExitStatus::slurm("TIMEOUT (the job reached its Slurm time limit)"),
        "NODE_FAIL" => ExitStatus::slurm("NODE_FAIL (a node of the job failed)"),
        "OUT_OF_MEMORY" => ExitStatus::slurm("OUT_OF_MEMORY (the job exceeded its memory)"),
        "BOOT_FAIL" => ExitStatus::slurm("BOOT_FAIL (the job's node did not boot)"),
        "DEADLINE" => ExitStatus::slurm("DEADLINE (the job reached its deadline)"),
        "PREEMPTED" => ExitStatus::slurm("PREEMPTED (the job was preempted and not requeued)"),
        "SPECIAL_EXIT" => ExitStatus::slurm("SPECIAL_EXIT (the job was held after a failure)"),
        "REVOKED" => ExitStatus::slurm("REVOKED"),
        _ => return None,
    })
}

fn scontrol_job(id: &str) -> Result<Option<JobInfo>, String> {
    let out = Command::new("scontrol")
        .args(["-o", "show", "job", id])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run scontrol: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("Invalid job id") {
            return Ok(None);
        }
        return Err(err.trim().to_string());
    }
    // A requeued array or het job may print several lines; the first is the job.
    Ok(text.lines().find_map(parse_job))
}

/// What `sweep targets check` learns about the cluster.
#[derive(Debug, Clone)]
pub struct ClusterCheck {
    /// `Ok(description)` or what is wrong.
    pub result: Result<String, String>,
    /// How to fix it.
    pub hint: Option<String>,
}

impl SlurmTarget {
    /// A target called `name` submitting jobs shaped by `cfg` and `shape`.
    pub fn new(name: &str, cfg: SlurmConfig, shape: JobShape) -> SlurmTarget {
        SlurmTarget {
            inner: Arc::new(Inner {
                name: name.to_string(),
                cfg,
                shape,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The `sbatch` options every job gets (before the script).
    pub fn sbatch_options(&self) -> Vec<String> {
        let c = &self.inner.cfg;
        let mut v = vec!["--parsable".to_string(), "--requeue".to_string()];
        v.extend(
            c.placement()
                .map(|(option, value)| format!("--{option}={value}")),
        );
        if let Some(s) = self.inner.shape.max_run_seconds {
            let minutes = ((s + TIME_SLACK_SECONDS) / 60.0).ceil().max(1.0) as u64;
            v.push(format!("--time={minutes}"));
        }
        if self.inner.shape.nodes > 1 {
            v.push(format!("--nodes={}", self.inner.shape.nodes));
        }
        if let Some(n) = c.cpus_per_run {
            v.push(format!("--cpus-per-task={n}"));
        }
        if let Some(g) = c.gpus_per_run {
            v.push(format!("--gpus={g}"));
        }
        if let Some(m) = &c.mem_per_run {
            v.push(format!("--mem={m}"));
        }
        v.extend(c.sbatch_args.iter().cloned());
        v
    }

    /// Asks the controller whether it answers, and whether a job of this target's shape
    /// would be accepted (`sbatch --test-only`, which runs nothing).
    pub fn check(&self) -> ClusterCheck {
        let fail = |msg: String, hint: &str| ClusterCheck {
            result: Err(msg),
            hint: Some(hint.to_string()),
        };
        let ping = match Command::new("scontrol").arg("ping").stdin(Stdio::null()).output() {
            Err(e) => {
                return fail(
                    format!("cannot run scontrol: {e}"),
                    "run sweep where the Slurm client commands (sbatch, squeue, scontrol, scancel) are installed: a login node of the cluster",
                )
            }
            Ok(o) => o,
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&ping.stdout),
            String::from_utf8_lossy(&ping.stderr)
        );
        if !ping.status.success() || !text.contains("is UP") {
            return fail(
                format!("the Slurm controller does not answer: {}", text.trim()),
                "check that slurmctld runs and that SLURM_CONF (or /etc/slurm/slurm.conf) points at the cluster's config",
            );
        }
        let dir = std::env::temp_dir();
        let mut c = Command::new("sbatch");
        c.args(self.sbatch_options())
            .args([
                "--test-only",
                "--job-name=sweep-check",
                "--output=/dev/null",
            ])
            .arg(format!("--chdir={}", dir.display()))
            .args(["--wrap", "true"])
            .stdin(Stdio::null());
        let t0 = Instant::now();
        match c.output() {
            Err(e) => fail(
                format!("cannot run sbatch: {e}"),
                "install the Slurm client commands",
            ),
            Ok(o) => {
                let msg = String::from_utf8_lossy(&o.stderr).trim().to_string();
                if !o.status.success() {
                    let hint = if msg.contains("partition") {
                        "check `partition` (`sinfo -s` lists the partitions)"
                    } else if msg.contains("account") || msg.contains("qos") || msg.contains("QOS")
                    {
                        "check `account` and `qos` (`sacctmgr show assoc user=$USER`)"
                    } else {
                        "check `sbatch_args` and the per-run resources against the cluster's limits"
                    };
                    return fail(format!("sbatch rejects this target's jobs: {msg}"), hint);
                }
                let part = self.inner.cfg.partition.clone();
                let mut sinfo = Command::new("sinfo");
                sinfo.args(["-h", "-o", "%P|%a|%D|%C"]);
                if let Some(p) = &part {
                    sinfo.arg(format!("--partition={p}"));
                }
                let cpus = sinfo
                    .output()
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                let desc: Vec<String> = cpus
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split('|').collect();
                        (f.len() == 4).then(|| {
                            let c: Vec<&str> = f[3].split('/').collect();
                            format!(
                                "partition {} {}: {} node(s), CPUs {} idle of {}",
                                f[0],
                                f[1],
                                f[2],
                                c.get(1).unwrap_or(&"?"),
                                c.get(3).unwrap_or(&"?")
                            )
                        })
                    })
                    .collect();
                ClusterCheck {
                    result: Ok(format!(
                        "controller up; {} (sbatch --test-only: {} in {:.2}s)",
                        desc.join("; "),
                        msg.trim_start_matches("sbatch: "),
                        t0.elapsed().as_secs_f64()
                    )),
                    hint: None,
                }
            }
        }
    }
}

impl Inner {
    fn watch(self: &Arc<Self>, job: Job) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.incoming.push(job);
        if !st.poller {
            st.poller = true;
            let weak = Arc::downgrade(self);
            let _ = std::thread::Builder::new()
                .name(format!("slurm-poll-{}", self.name))
                .spawn(move || poll(weak));
        }
    }

    fn is_stopping(&self, job: &str) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopping
            .contains(job)
    }

    /// The handle of job `job` in `dir`.
    fn handle(&self, job: String, dir: &RunDir) -> SlurmHandle {
        SlurmHandle {
            target: self.name.clone(),
            job,
            run_dir: dir.root().to_path_buf(),
        }
    }

    /// Asks `handle`'s run to stop: creates its stop file and records that sweep ends the
    /// job (so its cancellation is a stop, not someone else's). `None` for a bad handle.
    fn stopping(&self, handle: &RunHandle) -> Option<SlurmHandle> {
        let h = handle::decode::<SlurmHandle>(handle).ok()?;
        let _ = File::create(RunDir::new(&h.run_dir).stop());
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopping
            .insert(h.job.clone());
        Some(h)
    }
}

fn scancel(args: &[&str]) {
    match Command::new("scancel")
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if !o.status.success() => tracing::warn!(
            "scancel {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => tracing::warn!("cannot run scancel: {e}"),
        _ => {}
    }
}

impl ComputeTarget for SlurmTarget {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn launch(&self, req: &LaunchRequest, events: EventSender) -> Result<RunHandle, TargetError> {
        let program = req.program()?;
        let dir = RunDir::absolute(&req.run_dir)?;
        let work = dir.work();
        std::fs::create_dir_all(dir.outputs())?;
        req.make_output_dirs(&dir.outputs())?;
        super::pyshim::install(&dir.join(super::pyshim::DIR))?;
        // Makes `work` even when there is no snapshot.
        super::snapshot::copy_tree(&req.snapshot, &work)?;
        File::create(dir.output_log())?;
        File::create(dir.metrics())?;
        let script = dir.job_script();
        std::fs::write(&script, JOB_SCRIPT)?;
        let mut c = Command::new("sbatch");
        c.args(self.sbatch_options())
            .arg(format!("--job-name={}", req.run_id))
            .arg(format!("--output={}", dir.output_log().display()))
            .arg("--open-mode=append")
            .arg(format!("--chdir={}", work.display()))
            .arg("--export=ALL")
            .arg(&script)
            .arg(program)
            .args(&req.argv[1..])
            .stdin(Stdio::null());
        // The job's environment travels in sbatch's own environment (`--export=ALL`), which
        // starts as sweep's.
        let mut set: Vec<(&str, std::ffi::OsString)> = Vec::new();
        for v in rundir::run_vars(req) {
            let before = set
                .iter()
                .rev()
                .find(|(k, _)| *k == v.name)
                .map(|e| e.1.clone())
                .or_else(|| std::env::var_os(v.name));
            if !(v.unless_set && before.is_some()) {
                let value = dir.value_over(&v.value, before.as_deref());
                c.env(v.name, &value);
                set.push((v.name, value));
            }
        }
        let out = c
            .output()
            .map_err(|e| TargetError::Launch(format!("cannot run sbatch: {e}")))?;
        if !out.status.success() {
            return Err(TargetError::Launch(format!(
                "sbatch: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TargetError::Launch(format!(
                "sbatch printed no job id: {stdout:?}"
            )));
        }
        let feed = Feed::for_run(req, events, false)?;
        let handle = handle::encode(self.inner.handle(id.clone(), &dir)).inspect_err(|_| {
            // Nothing could find the job again.
            scancel(&[&id]);
        })?;
        self.inner.watch(Job::new(id, feed, dir));
        Ok(handle)
    }

    fn stop(&self, handle: &RunHandle, grace: Duration) {
        let Some(h) = self.inner.stopping(handle) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("slurm-stop".into())
            .spawn(move || {
                let pending = scontrol_job(&h.job)
                    .ok()
                    .flatten()
                    .is_some_and(|i| i.state == "PENDING");
                if pending {
                    // Nothing runs yet: no signal to deliver.
                    scancel(&[&h.job]);
                    return;
                }
                scancel(&["--signal=TERM", "--full", &h.job]);
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline {
                    match scontrol_job(&h.job) {
                        Ok(Some(i)) if exit_of(&i).is_none() => {}
                        _ => return,
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                scancel(&[&h.job]);
            });
    }

    fn kill(&self, handle: &RunHandle) {
        let Some(h) = self.inner.stopping(handle) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("slurm-kill".into())
            .spawn(move || {
                scancel(&["--signal=KILL", "--full", &h.job]);
                scancel(&[&h.job]);
            });
    }

    /// Finds the run's job by what every submission records: the job name is the run id and
    /// the working directory is the run's `work/`. `squeue --states=all` lists jobs that
    /// ended, too, for the controller's `MinJobAge`; a job that ended longer ago than that
    /// is not found, and the run is launched again.
    fn recover(&self, req: &LaunchRequest) -> Option<RunHandle> {
        let dir = RunDir::absolute(&req.run_dir).ok()?;
        let out = match Command::new("squeue")
            .args(["--noheader", "--states=all", "--format=%i %Z"])
            .arg(format!("--name={}", req.run_id))
            .stdin(Stdio::null())
            .output()
        {
            Ok(o) if o.status.success() => o,
            Ok(o) => {
                tracing::warn!(
                    "cannot tell whether run {} was submitted: squeue: {}",
                    req.run_id,
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(
                    "cannot tell whether run {} was submitted: cannot run squeue: {e}",
                    req.run_id
                );
                return None;
            }
        };
        let job = find_job(&String::from_utf8_lossy(&out.stdout), &dir.work())?;
        handle::encode(self.inner.handle(job, &dir)).ok()
    }

    fn adopt(
        &self,
        handle: &RunHandle,
        req: &LaunchRequest,
        events: EventSender,
    ) -> Result<(), TargetError> {
        let h = handle::decode::<SlurmHandle>(handle)?;
        let feed = Feed::for_run(req, events, false)?;
        self.inner
            .watch(Job::new(h.job, feed, RunDir::new(h.run_dir)));
        Ok(())
    }
}

/// The job of `squeue --format='%i %Z'` lines whose working directory is `work`; of
/// several (a submission repeated by hand), the latest.
fn find_job(squeue: &str, work: &Path) -> Option<String> {
    squeue
        .lines()
        .filter_map(|l| l.trim().split_once(' '))
        .filter(|(id, wd)| {
            Path::new(wd) == work && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        })
        .max_by_key(|(id, _)| id.parse::<u64>().unwrap_or(0))
        .map(|(id, _)| id.to_string())
}

/// Reads what is new in a run file from `off`; returns the bytes.
fn read_from(path: &Path, off: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        if f.seek(SeekFrom::Start(off)).is_ok() {
            let _ = f.take(1 << 20).read_to_end(&mut buf);
        }
    }
    buf
}

fn pump(j: &mut Job) -> bool {
    let o = read_from(&j.dir.output_log(), j.feed.offset(Stream::Output));
    let before = j.feed.restart();
    // The output first: a restart marker in it switches the metrics file. What an earlier
    // attempt left unread in its own file is dropped with that attempt.
    j.feed.feed(Stream::Output, &o);
    if j.feed.restart() != before {
        j.feed.new_metrics_file();
    }
    let m = read_from(
        &j.dir.metrics_of_restart(j.feed.restart()),
        j.feed.offset(Stream::Metrics),
    );
    j.feed.feed(Stream::Metrics, &m);
    let e = j.feed.event_files(&mut j.tb, 1 << 20, false);
    !o.is_empty() || !m.is_empty() || e
}

fn poll(target: Weak<Inner>) {
    let mut jobs: Vec<Job> = Vec::new();
    let mut last_query = Instant::now() - Duration::from_secs(3600);
    loop {
        let Some(t) = target.upgrade() else { return };
        jobs.append(&mut t.state.lock().unwrap_or_else(|e| e.into_inner()).incoming);
        for j in &mut jobs {
            while pump(j) {}
            j.feed.flush();
        }
        let every = Duration::from_secs_f64(t.cfg.poll_seconds.max(0.1));
        if !jobs.is_empty() && last_query.elapsed() >= every {
            last_query = Instant::now();
            let mut keep = Vec::with_capacity(jobs.len());
            for mut j in jobs.drain(..) {
                let info = match scontrol_job(&j.id) {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::warn!("scontrol show job {}: {e}", j.id);
                        keep.push(j);
                        continue;
                    }
                };
                let status = match &info {
                    None => Some(ExitStatus::slurm(&format!(
                        "job {} is no longer known to the controller (finished longer ago than its MinJobAge)",
                        j.id
                    ))),
                    Some(i) => {
                        if i.restarts > j.restarts {
                            tracing::info!(
                                "slurm requeued job {} of run {} (restart {})",
                                j.id,
                                j.feed.run_id(),
                                i.restarts
                            );
                            j.restarts = i.restarts;
                        }
                        exit_of(i)
                    }
                };
                match status {
                    Some(s) => {
                        // Read to the end before reporting the end, event files found
                        // afresh.
                        while pump(&mut j) {}
                        j.feed.event_files(&mut j.tb, 1 << 30, true);
                        let s = if t.is_stopping(&j.id) {
                            match s {
                                ExitStatus::Unknown(_) | ExitStatus::Slurm(_) => {
                                    ExitStatus::Signal(15)
                                }
                                s => s,
                            }
                        } else {
                            s
                        };
                        t.state
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .stopping
                            .remove(&j.id);
                        j.feed.exit(s);
                    }
                    None => keep.push(j),
                }
            }
            jobs = keep;
        }
        drop(t);
        std::thread::sleep(TAIL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scontrol_lines_and_maps_states() {
        let l = "JobId=12 JobName=s_0 UserId=root(0) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 ExitCode=0:0 RunTime=00:00:03";
        let i = parse_job(l).unwrap();
        assert_eq!(i.state, "RUNNING");
        assert_eq!(i.restarts, 1);
        assert_eq!(exit_of(&i), None);
        let done = |s: &str, e: &str| {
            exit_of(&parse_job(&format!("JobState={s} ExitCode={e}")).unwrap()).unwrap()
        };
        assert_eq!(done("COMPLETED", "0:0"), ExitStatus::Code(0));
        assert_eq!(done("FAILED", "3:0"), ExitStatus::Code(3));
        assert_eq!(done("FAILED", "0:9"), ExitStatus::Signal(9));
        assert!(done("TIMEOUT", "0:15")
            .to_string()
            .starts_with("slurm: TIMEOUT"));
        assert!(done("NODE_FAIL", "0:0")
            .to_string()
            .starts_with("slurm: NODE_FAIL"));
        assert!(parse_job("garbage").is_none());
    }

    #[test]
    fn restart_markers_and_job_lookup() {
        assert_eq!(
            restart_line(b"[sweep] Slurm restarted job 17 (restart 2); the run starts over"),
            Some((2, "Slurm restarted job 17 (restart 2)".to_string()))
        );
        assert_eq!(restart_line(b"Slurm restarted job 17 (restart 2)"), None);
        assert_eq!(restart_line(b"[sweep] Slurm restarted job 17"), None);
        let q = "12 /ws/runs/a/work\n15 /ws/runs/a/work\n14 /other/runs/a/work\n9 /ws/runs/a/work with space\n";
        assert_eq!(find_job(q, Path::new("/ws/runs/a/work")), Some("15".into()));
        assert_eq!(
            find_job(q, Path::new("/ws/runs/a/work with space")),
            Some("9".into())
        );
        assert_eq!(find_job(q, Path::new("/ws/runs/b/work")), None);
    }

    #[test]
    fn options_follow_the_config_and_runconfig() {
        let t = SlurmTarget::new(
            "c",
            SlurmConfig {
                partition: Some("gpu".into()),
                account: Some("acct".into()),
                qos: Some("low".into()),
                cpus_per_run: Some(4),
                gpus_per_run: Some(1),
                mem_per_run: Some("8G".into()),
                sbatch_args: vec!["--exclusive".into()],
                poll_seconds: 1.0,
            },
            JobShape {
                max_run_seconds: Some(90.0),
                nodes: 2,
            },
        );
        assert_eq!(
            t.sbatch_options(),
            [
                "--parsable",
                "--requeue",
                "--partition=gpu",
                "--account=acct",
                "--qos=low",
                "--time=3",
                "--nodes=2",
                "--cpus-per-task=4",
                "--gpus=1",
                "--mem=8G",
                "--exclusive"
            ]
        );
    }
}
