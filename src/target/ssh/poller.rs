//! Following an SSH host's runs: one thread per host (started with its first run) fetches,
//! every [`POLL`] and at once when a run is handed to it, the new bytes and the status of
//! all its live runs with one [`scripts::poll`] command over the shared connection, feeds
//! them to each run's [`Feed`], and reports a run's end once its files are read to the end.
//! A host whose polls fail for `lost_after` seconds is lost: its runs end `lost: …` and it
//! leaves the rotation until a probe (every [`PROBE`]) succeeds, when what is left of its
//! lost runs is killed.

use super::connection::last_line;
use super::{scripts, Inner};
use crate::target::rundir::parse_exit;
use crate::target::watch::{Feed, Stream};
use crate::target::ExitStatus;
use std::sync::Weak;
use std::time::{Duration, Instant};

/// How often a host's live runs are polled for output and exit.
pub const POLL: Duration = Duration::from_millis(200);
/// How often a host that is down is probed.
const PROBE: Duration = Duration::from_secs(1);
/// Most bytes of one file fetched per poll (the rest comes with the next poll).
pub(super) const CHUNK: u64 = 1 << 20;
/// Every how many polls a run's directory is searched for TensorBoard event files (about
/// once a second).
const EVENT_LOOK: u64 = 5;

/// A run a poller follows.
pub(super) struct Watched {
    /// Where its events go.
    pub(super) feed: Feed,
    /// Its run directory on the host.
    pub(super) dir: String,
}

/// One poll's findings for a run.
enum Status {
    Running,
    Exited(ExitStatus),
}

/// The poll command for `runs`.
fn poll_script(runs: &[Watched], look: bool) -> String {
    scripts::poll(
        runs.iter().map(|r| {
            (
                r.dir.as_str(),
                r.feed.offset(Stream::Output),
                r.feed.offset(Stream::Metrics),
                r.feed.event_files_known(),
            )
        }),
        look,
    )
}

/// One run's part of a poll reply.
#[derive(Default)]
struct RunReply {
    output: Vec<u8>,
    metrics: Vec<u8>,
    status: Option<Status>,
    /// Event files found (paths in the run directory).
    found: Vec<String>,
    /// New bytes of known event files.
    events: Vec<(String, Vec<u8>)>,
}

/// A parsed poll reply, per run index.
type Reply = Vec<RunReply>;

/// Reads a reply of [`scripts::poll`] for `n` runs of `host`.
fn parse_reply(mut b: &[u8], n: usize, host: &str) -> Result<Reply, String> {
    let mut out: Reply = (0..n).map(|_| RunReply::default()).collect();
    while !b.is_empty() {
        let nl = b.iter().position(|&c| c == b'\n').ok_or("a cut line")?;
        let line = std::str::from_utf8(&b[..nl]).map_err(|_| "a non-UTF-8 header")?;
        b = &b[nl + 1..];
        let mut w = line.splitn(3, ' ');
        let (tag, idx, rest) = (w.next(), w.next(), w.next().unwrap_or(""));
        let idx: usize = idx.and_then(|i| i.parse().ok()).ok_or("a bad run index")?;
        let slot = out.get_mut(idx).ok_or("an unknown run index")?;
        match tag {
            Some("D") => {
                let (kind, len) = rest.split_once(' ').ok_or("a bad data header")?;
                let len: usize = len.parse().map_err(|_| "a bad length")?;
                if b.len() < len {
                    return Err("fewer bytes than announced".into());
                }
                let data = &b[..len];
                b = &b[len..];
                match kind {
                    "o" => slot.output.extend_from_slice(data),
                    _ => slot.metrics.extend_from_slice(data),
                }
            }
            Some("T") => {
                let (len, rel) = rest.split_once(' ').ok_or("a bad event file header")?;
                let len: usize = len.parse().map_err(|_| "a bad length")?;
                if b.len() < len {
                    return Err("fewer bytes than announced".into());
                }
                slot.events.push((rel.to_string(), b[..len].to_vec()));
                b = &b[len..];
            }
            Some("F") => slot.found.push(rest.to_string()),
            Some("S") => {
                slot.status = Some(match rest {
                    "running" => Status::Running,
                    "missing" => Status::Exited(ExitStatus::Unknown(format!(
                        "the run directory is gone from {host}"
                    ))),
                    "gone" => Status::Exited(ExitStatus::Unknown(format!(
                        "the run's wrapper on {host} ended without recording an exit status (host rebooted, or it was killed)"
                    ))),
                    e => match e.strip_prefix("exit ").and_then(parse_exit) {
                        Some(s) => Status::Exited(s),
                        None => Status::Exited(ExitStatus::Unknown(format!(
                            "unreadable exit status {e:?}"
                        ))),
                    },
                });
            }
            _ => return Err(format!("an unknown line {line:?}")),
        }
    }
    Ok(out)
}

/// Host `i`'s poller: fetches its runs' output, notices their ends and the host's loss.
pub(super) fn poll_host(target: Weak<Inner>, i: usize) {
    let mut runs: Vec<Watched> = Vec::new();
    let mut failing_since: Option<Instant> = None;
    let mut polls: u64 = 0;
    let mut ending = false;
    loop {
        let Some(t) = target.upgrade() else { return };
        let (up, lost) = {
            let mut st = t.state.lock().unwrap_or_else(|e| e.into_inner());
            runs.append(&mut st[i].incoming);
            (st[i].up, st[i].lost.clone())
        };
        if !up {
            // Out of rotation until it answers.
            if !answers_again(&t, i, &lost) {
                drop(t);
                std::thread::sleep(PROBE);
            }
            continue;
        }
        if runs.is_empty() {
            nap(&t, i, POLL);
            continue;
        }
        let host = &t.conn.cfg.hosts[i].name;
        // Event files are looked for every [`EVENT_LOOK`] polls, and at every poll once a
        // run has ended (so none written just before its end is missed).
        polls += 1;
        let look = polls % EVENT_LOOK == 1 || ending;
        let reply = match t.conn.run_script(i, &poll_script(&runs, look)) {
            Ok(o) if o.status.success() => {
                failing_since = None;
                parse_reply(&o.stdout, runs.len(), host)
            }
            Ok(o) => Err(last_line(&o.stderr)),
            Err(e) => Err(format!("cannot run ssh: {e}")),
        };
        let reply = match reply {
            Ok(r) => r,
            Err(why) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(t.conn.cfg.lost_after) {
                    lose(&t, i, std::mem::take(&mut runs), why);
                    failing_since = None;
                }
                drop(t);
                std::thread::sleep(POLL);
                continue;
            }
        };
        let mut more = false;
        let mut ended = 0u32;
        ending = false;
        let mut keep = Vec::with_capacity(runs.len());
        for (mut r, rep) in runs.drain(..).zip(reply) {
            let (o, m) = (&rep.output, &rep.metrics);
            let mut full = o.len() as u64 == CHUNK || m.len() as u64 == CHUNK;
            r.feed.feed(Stream::Output, o);
            r.feed.feed(Stream::Metrics, m);
            for (rel, data) in &rep.events {
                full |= data.len() as u64 == CHUNK;
                r.feed.event_file_bytes(rel, data);
            }
            let exited = matches!(rep.status, Some(Status::Exited(_)));
            for rel in &rep.found {
                // A new file of an ended run is read before its end is reported.
                full |= r.feed.event_file_found(rel) && exited;
            }
            // An ended run's files are looked for once more before it is finished.
            if exited && !look {
                full = true;
                ending = true;
            }
            more |= full;
            match rep.status {
                // An exited run is finished only once its files have been read to the end.
                Some(Status::Exited(s)) if !full => {
                    r.feed.exit(s);
                    ended += 1;
                }
                None => {
                    tracing::warn!("no status for run {} in a poll reply", r.feed.run_id());
                    r.feed.flush();
                    keep.push(r);
                }
                _ => {
                    r.feed.flush();
                    keep.push(r);
                }
            }
        }
        runs = keep;
        t.release(i, ended);
        if !more {
            nap(&t, i, POLL);
        }
    }
}

/// Probes host `i`, which is out of rotation; when it answers, kills what is left of its
/// `lost` runs and puts it back.
fn answers_again(t: &Inner, i: usize, lost: &[String]) -> bool {
    if !matches!(t.conn.run_script(i, "true\n"), Ok(o) if o.status.success()) {
        return false;
    }
    let _ = t.conn.run_script(i, &scripts::kill_lost(lost));
    let mut st = t.state.lock().unwrap_or_else(|e| e.into_inner());
    st[i].up = true;
    st[i].why_down.clear();
    st[i].lost.clear();
    drop(st);
    t.changed.notify_all();
    tracing::info!("host {} answers again", t.conn.cfg.hosts[i].name);
    true
}

/// Host `i` stopped answering for `lost_after` seconds (`why`): its `runs` end `lost`, and
/// it leaves the rotation.
fn lose(t: &Inner, i: usize, runs: Vec<Watched>, why: String) {
    let host = &t.conn.cfg.hosts[i].name;
    tracing::warn!("host {host} lost: {why}");
    let n = runs.len() as u32;
    let mut dirs = Vec::with_capacity(runs.len());
    for r in runs {
        r.feed.exit(ExitStatus::lost(&format!(
            "host {host} stopped answering for {}s ({why})",
            t.conn.cfg.lost_after
        )));
        dirs.push(r.dir);
    }
    let mut st = t.state.lock().unwrap_or_else(|e| e.into_inner());
    st[i].up = false;
    st[i].why_down = why;
    st[i].lost.extend(dirs);
    drop(st);
    t.release(i, n);
}

/// Waits up to `d`, or until a new run is handed to host `i`'s poller.
fn nap(t: &Inner, i: usize, d: Duration) {
    let st = t.state.lock().unwrap_or_else(|e| e.into_inner());
    let _ = t
        .changed
        .wait_timeout_while(st, d, |st| st[i].incoming.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_reply_is_framed_by_lengths() {
        let mut b = Vec::new();
        b.extend_from_slice(b"D 0 o 12\nline\nD 1 m 2S 0 running\n");
        b.extend_from_slice(b"D 1 o 3\nabcS 1 exit signal 15\n");
        let r = parse_reply(&b, 2, "h").unwrap();
        assert_eq!(r[0].output, b"line\nD 1 m 2");
        assert!(matches!(r[0].status, Some(Status::Running)));
        assert_eq!(r[1].output, b"abc");
        assert!(matches!(
            r[1].status,
            Some(Status::Exited(ExitStatus::Signal(15)))
        ));
        assert!(parse_reply(b"D 0 o 99\nshort", 1, "h").is_err());
        let r = parse_reply(
            b"F 0 work/a b/events.out.tfevents.1\nT 0 3 work/e\nT\x01\nS 0 running\n",
            1,
            "h",
        )
        .unwrap();
        assert_eq!(r[0].found, ["work/a b/events.out.tfevents.1"]);
        assert_eq!(r[0].events, [("work/e".to_string(), b"T\x01\n".to_vec())]);
    }

    /// The wrapper and the poll command, run by the local `sh`: a run's status, its bytes
    /// from an offset, and the wrapper's exit status.
    #[test]
    fn wrapper_and_poll_scripts_work_under_sh() {
        use crate::target::rundir::RunDir;
        use std::process::Command;
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::new(d.path().join("run"));
        std::fs::create_dir_all(run.root()).unwrap();
        let st = Command::new("sh")
            .arg("-c")
            .arg(&*scripts::WRAPPER)
            .arg("sweep-run")
            .arg(run.root())
            .args([
                "sh",
                "-c",
                "echo 'a b'; echo '{\"metric\":\"m\",\"value\":1}' >> \"$0\"; exit 3",
            ])
            .arg(run.metrics())
            .stdout(std::fs::File::create(run.output_log()).unwrap())
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read_to_string(run.exit_status()).unwrap(),
            "exit_code 3\n"
        );
        let tb = run.work().join("logs dir");
        std::fs::create_dir_all(&tb).unwrap();
        std::fs::write(tb.join("events.out.tfevents.1.h"), b"0123456789").unwrap();
        let mut w = Watched {
            feed: Feed::new("r", None, tokio::sync::mpsc::unbounded_channel().0, None).unwrap(),
            dir: run.root().display().to_string(),
        };
        let poll = |w: &Watched| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(poll_script(std::slice::from_ref(w), true))
                .output()
                .unwrap();
            parse_reply(&out.stdout, 1, "h").unwrap()
        };
        let r = poll(&w);
        assert_eq!(r[0].output, b"a b\n");
        assert_eq!(r[0].metrics, b"{\"metric\":\"m\",\"value\":1}\n");
        assert!(matches!(
            r[0].status,
            Some(Status::Exited(ExitStatus::Code(3)))
        ));
        // The event file is found, then fetched from the offset read so far.
        let rel = "work/logs dir/events.out.tfevents.1.h";
        assert_eq!(r[0].found, [rel]);
        assert!(r[0].events.is_empty());
        assert!(w.feed.event_file_found(rel));
        w.feed.event_file_bytes(rel, b"0123");
        let r = poll(&w);
        assert_eq!(r[0].events, [(rel.to_string(), b"456789".to_vec())]);
    }
}
