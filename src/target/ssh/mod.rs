//! The SSH target: runs on a list of hosts reached with the system `ssh`.
//!
//! - **Connections.** Every command goes through `ssh` with connection sharing
//!   (`ControlMaster=auto`, a `ControlPath` socket in a private directory under `/tmp`,
//!   `ControlPersist=60`), so after the first login a command costs a channel, not a
//!   handshake. `BatchMode=yes` unless the host uses a password (then `SSH_ASKPASS` with
//!   `SSH_ASKPASS_REQUIRE=force` points at a tiny script that prints the named environment
//!   variable or file: the password never passes through sweep, its command lines or disk).
//! - **Quoting.** Scripts are sent on ssh's standard input to `sh -s` (so the environment's
//!   values never appear in a command line, local or remote); every value in them is quoted
//!   with [`crate::target::shell::quote`].
//! - **Snapshot.** The sweep's source snapshot is copied once per host per sweep (`tar` over
//!   ssh) to `<remote_dir>/<sweep>/snapshot`; each run's working directory is a copy of it.
//! - **Detached runs.** A run starts under a wrapper in its own session (`setsid`), which
//!   starts the program in a session and process group of its own, waits for it, kills what
//!   it left behind and writes `exit_status` (exact: an `exit 130` is not a SIGINT; see
//!   the wrapper script's comment). Output goes to files in the remote run directory, so a dropped connection
//!   (or a dead `sweep`) does not end the run, and [`ComputeTarget::adopt`] picks it up
//!   again from its handle; [`ComputeTarget::recover`] finds it from its run directory when
//!   the handle was never recorded.
//! - **Streaming.** One poller thread per host fetches, every [`POLL`] (and at once when a
//!   run starts), the new bytes of every live run's `output.log` and `metrics.jsonl` in one
//!   multiplexed ssh command, feeds them to the metric protocol code and mirrors them into
//!   the local run directory.
//! - **Stop.** Stop file, then SIGTERM to the run's process group, then SIGKILL after the
//!   grace period; the grace timer runs on the host, so it holds even if the connection drops.
//! - **Host loss.** A host that does not answer for `lost_after` seconds has its live runs
//!   end with reason `lost: …` and is out of rotation until a probe succeeds again; then the
//!   lost runs, if still alive there, are killed (their results were already given up).
//!
//! The pieces: `connection` builds the ssh command lines and runs scripts over them,
//! `scripts` holds what runs on the hosts, `poller` follows each host's runs; this module
//! holds the hosts' shared state (slots, rotation, snapshots) and the [`ComputeTarget`]
//! methods.

mod connection;
mod poller;
mod scripts;

pub use connection::{hint_for, HostCheck};
pub use poller::POLL;

use super::handle::{self, SshHandle};
use super::shell::quote;
use super::watch::Feed;
use super::{ComputeTarget, EventSender, LaunchRequest, RunHandle, TargetError};
use crate::config::targets::SshConfig;
use connection::{last_line, Connection};
use poller::Watched;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a launch waits for a free slot before it fails.
const SLOT_WAIT: Duration = Duration::from_secs(120);

/// Runs on SSH hosts.
pub struct SshTarget {
    inner: Arc<Inner>,
}

/// What the target's calls and its hosts' pollers share.
struct Inner {
    name: String,
    conn: Connection,
    /// Per host.
    state: Mutex<Vec<HostState>>,
    /// Notified when a host's state changes (a slot freed, a host back, a run handed over).
    changed: Condvar,
    /// Per host: held while the snapshot is copied there.
    copy_locks: Vec<Mutex<()>>,
}

#[derive(Default)]
struct HostState {
    up: bool,
    why_down: String,
    /// Slots taken: runs starting, running or being watched.
    live: u32,
    /// Runs handed to the poller, not yet picked up by it.
    incoming: Vec<Watched>,
    poller: bool,
    snapshots: HashSet<String>,
    /// Run directories of runs given up as lost, to kill when the host answers again.
    lost: Vec<String>,
}

impl SshTarget {
    /// A target called `name` over the configured hosts. Fails only when the private
    /// socket directory cannot be made.
    pub fn new(name: &str, cfg: SshConfig) -> std::io::Result<SshTarget> {
        let hosts = cfg
            .hosts
            .iter()
            .map(|_| HostState {
                up: true,
                ..HostState::default()
            })
            .collect();
        let copy_locks = cfg.hosts.iter().map(|_| Mutex::new(())).collect();
        Ok(SshTarget {
            inner: Arc::new(Inner {
                name: name.to_string(),
                conn: Connection::new(name, cfg)?,
                state: Mutex::new(hosts),
                changed: Condvar::new(),
                copy_locks,
            }),
        })
    }

    /// Runs at once: the sum of the hosts' slots.
    pub fn capacity(&self) -> u64 {
        let hosts = &self.inner.conn.cfg.hosts;
        hosts.iter().map(|h| u64::from(h.slots)).sum()
    }

    /// Logs in to every host (in parallel), runs a trivial command and reports what it found.
    pub fn check(&self) -> Vec<HostCheck> {
        let conn = &self.inner.conn;
        std::thread::scope(|sc| {
            let checks: Vec<_> = (0..conn.cfg.hosts.len())
                .map(|i| sc.spawn(move || conn.check(i)))
                .collect();
            checks
                .into_iter()
                .zip(&conn.cfg.hosts)
                .map(|(c, h)| {
                    c.join().unwrap_or_else(|_| HostCheck {
                        host: h.name.clone(),
                        slots: h.slots,
                        result: Err("the check panicked".into()),
                        hint: None,
                    })
                })
                .collect()
        })
    }

    /// The `ssh` command line (without the remote command) for host `i`, as run; for
    /// `sweep targets check` and the docs.
    pub fn ssh_command_line(&self, i: usize) -> Vec<String> {
        let c = self.inner.conn.ssh(i);
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }
}

impl Inner {
    /// The handle of a run of host `i`, in `run_dir` there, whose program leads process
    /// group `pgid`.
    fn handle(&self, i: usize, run_dir: String, pgid: i32) -> SshHandle {
        let host = &self.conn.cfg.hosts[i];
        SshHandle {
            target: self.name.clone(),
            host: host.name.clone(),
            address: host.address.clone(),
            port: host.port,
            user: host.user.clone(),
            run_dir,
            pgid,
        }
    }

    fn host_index(&self, h: &SshHandle) -> Option<usize> {
        self.conn
            .cfg
            .hosts
            .iter()
            .position(|x| x.address == h.address && x.port == h.port && x.user == h.user)
    }

    /// Takes a slot on the host with the most free slots, waiting for one.
    fn reserve(&self) -> Result<usize, TargetError> {
        let deadline = Instant::now() + SLOT_WAIT;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let best = st
                .iter()
                .enumerate()
                .filter(|(i, h)| h.up && h.live < self.conn.cfg.hosts[*i].slots)
                .max_by_key(|(i, h)| (self.conn.cfg.hosts[*i].slots - h.live, usize::MAX - i))
                .map(|(i, _)| i);
            if let Some(i) = best {
                st[i].live += 1;
                return Ok(i);
            }
            let now = Instant::now();
            if now >= deadline {
                let why: Vec<String> = st
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let name = &self.conn.cfg.hosts[i].name;
                        if h.up {
                            format!("{name} full ({}/{})", h.live, self.conn.cfg.hosts[i].slots)
                        } else {
                            format!("{name} down ({})", h.why_down)
                        }
                    })
                    .collect();
                return Err(TargetError::Launch(format!(
                    "no host of target {} had a free slot for {}s: {}",
                    self.name,
                    SLOT_WAIT.as_secs(),
                    why.join(", ")
                )));
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Gives back `n` slots of host `i`.
    fn release(&self, i: usize, n: u32) {
        if n == 0 {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st[i].live = st[i].live.saturating_sub(n);
        drop(st);
        self.changed.notify_all();
    }

    /// Copies the sweep's snapshot to host `i`, once per sweep.
    fn ensure_snapshot(&self, i: usize, sweep: &str, snapshot: &Path) -> Result<(), TargetError> {
        if !snapshot.is_dir() {
            return Ok(());
        }
        let _copy = self.copy_locks[i].lock().unwrap_or_else(|e| e.into_inner());
        if self.state.lock().unwrap_or_else(|e| e.into_inner())[i]
            .snapshots
            .contains(sweep)
        {
            return Ok(());
        }
        let script = scripts::snapshot(&self.conn.cfg.remote_dir, sweep);
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(snapshot)
            .args(["-cf", "-", "."])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TargetError::Launch(format!("cannot run tar: {e}")))?;
        let tar_out = tar.stdout.take().expect("piped");
        let mut c = self.conn.ssh(i);
        c.arg(format!("sh -c {}", quote(&script))).stdin(tar_out);
        let out = c
            .output()
            .map_err(|e| TargetError::Launch(format!("cannot run ssh: {e}")))?;
        let mut tar_err = String::new();
        if let Some(mut e) = tar.stderr.take() {
            let _ = e.read_to_string(&mut tar_err);
        }
        let tar_ok = tar.wait().map(|s| s.success()).unwrap_or(false);
        if !out.status.success() {
            return Err(TargetError::Launch(format!(
                "copying the source snapshot to {} failed: {}",
                self.conn.cfg.hosts[i].name,
                last_line(&out.stderr)
            )));
        }
        if !tar_ok {
            return Err(TargetError::Launch(format!(
                "packing the source snapshot failed: {}",
                tar_err.trim()
            )));
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner())[i]
            .snapshots
            .insert(sweep.to_string());
        Ok(())
    }

    /// Looks for `req`'s run on host `i`: `Ok(Some((pgid, dir)))` when its wrapper started
    /// the program there (alive or ended), `Ok(None)` when it did not.
    fn find_run(&self, i: usize, req: &LaunchRequest) -> Result<Option<(i32, String)>, String> {
        let script = scripts::find(&self.conn.cfg.remote_dir, req);
        let out = self
            .conn
            .run_script(i, &script)
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        if !out.status.success() {
            return Err(last_line(&out.stderr));
        }
        scripts::started(&out.stdout, "found")
    }

    /// Hands a run to host `i`'s poller, starting it if needed.
    fn watch(self: &Arc<Self>, i: usize, w: Watched) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st[i].incoming.push(w);
        // Wakes the poller: a new run's first output is fetched at once, not a poll later.
        self.changed.notify_all();
        if !st[i].poller {
            st[i].poller = true;
            let weak = Arc::downgrade(self);
            let _ = std::thread::Builder::new()
                .name(format!("ssh-poll-{}", self.conn.cfg.hosts[i].name))
                .spawn(move || poller::poll_host(weak, i));
        }
    }

    /// Sends the script `script` makes for the run to its host in the background (stop and
    /// kill return at once).
    fn signal(self: &Arc<Self>, handle: &RunHandle, script: impl Fn(&SshHandle) -> String) {
        let Ok(h) = handle::decode::<SshHandle>(handle) else {
            return;
        };
        let Some(i) = self.host_index(&h) else {
            return;
        };
        let s = script(&h);
        let me = self.clone();
        let _ = std::thread::Builder::new()
            .name("ssh-signal".into())
            .spawn(move || {
                if let Ok(o) = me.conn.run_script(i, &s) {
                    if !o.status.success() {
                        tracing::warn!(
                            "signalling a run on {}: {}",
                            me.conn.cfg.hosts[i].name,
                            last_line(&o.stderr)
                        );
                    }
                }
            });
    }
}

impl ComputeTarget for SshTarget {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn launch(&self, req: &LaunchRequest, events: EventSender) -> Result<RunHandle, TargetError> {
        let script = scripts::launch(&self.inner.conn.cfg.remote_dir, req)?;
        let i = self.inner.reserve()?;
        let r = (|| {
            self.inner
                .ensure_snapshot(i, &req.sweep_id, &req.snapshot)?;
            // The local run directory keeps a mirror of the output and metrics.
            let feed = Feed::for_run(req, events, true)?;
            let out = self
                .inner
                .conn
                .run_script(i, &script)
                .map_err(|e| TargetError::Launch(format!("cannot run ssh: {e}")))?;
            let host = &self.inner.conn.cfg.hosts[i].name;
            let failed = |why: String| TargetError::Launch(format!("on {host}: {why}"));
            if !out.status.success() {
                return Err(failed(last_line(&out.stderr)));
            }
            let (pgid, dir) = scripts::started(&out.stdout, "started")
                .map_err(failed)?
                .ok_or_else(|| {
                    let text = String::from_utf8_lossy(&out.stdout);
                    failed(format!("no start report ({text:?})"))
                })?;
            let h = handle::encode(self.inner.handle(i, dir.clone(), pgid))?;
            self.inner.watch(i, Watched { feed, dir });
            Ok(h)
        })();
        if r.is_err() {
            self.inner.release(i, 1);
        }
        r
    }

    fn stop(&self, handle: &RunHandle, grace: Duration) {
        self.inner
            .signal(handle, |h| scripts::stop(&h.run_dir, h.pgid, grace));
    }

    fn kill(&self, handle: &RunHandle) {
        self.inner
            .signal(handle, |h| scripts::kill(&h.run_dir, h.pgid));
    }

    /// Asks every host (at once) whether the run's remote directory holds a wrapper that
    /// started the program: the launch records the program's process group there before it
    /// reports the start. A host that does not answer cannot say; it is skipped with a
    /// warning, and the run is launched again elsewhere.
    fn recover(&self, req: &LaunchRequest) -> Option<RunHandle> {
        let found: Vec<_> = std::thread::scope(|sc| {
            let asks: Vec<_> = (0..self.inner.conn.cfg.hosts.len())
                .map(|i| sc.spawn(move || self.inner.find_run(i, req)))
                .collect();
            asks.into_iter()
                .map(|a| {
                    a.join()
                        .unwrap_or_else(|_| Err("the check panicked".into()))
                })
                .collect()
        });
        let mut hit = None;
        for (i, r) in found.into_iter().enumerate() {
            let host = &self.inner.conn.cfg.hosts[i];
            match r {
                Ok(Some((pgid, dir))) if hit.is_none() => {
                    hit = Some(self.inner.handle(i, dir, pgid));
                }
                Ok(Some((_, dir))) => tracing::warn!(
                    "run {} was also started on {} ({dir}); only the first host's is followed",
                    req.run_id,
                    host.name
                ),
                Ok(None) => {}
                Err(why) => tracing::warn!(
                    "cannot tell whether run {} started on {}: {why}",
                    req.run_id,
                    host.name
                ),
            }
        }
        handle::encode(hit?).ok()
    }

    fn adopt(
        &self,
        handle: &RunHandle,
        req: &LaunchRequest,
        events: EventSender,
    ) -> Result<(), TargetError> {
        let h = handle::decode::<SshHandle>(handle)?;
        let i = self.inner.host_index(&h).ok_or_else(|| {
            TargetError::BadHandle(format!(
                "host {} ({}:{}) is no longer in target {}",
                h.host, h.address, h.port, self.inner.name
            ))
        })?;
        let feed = Feed::for_run(req, events, true)?;
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())[i].live += 1;
        self.inner.watch(
            i,
            Watched {
                feed,
                dir: h.run_dir,
            },
        );
        Ok(())
    }
}
