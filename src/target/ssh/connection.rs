//! How sweep reaches an SSH target's hosts: the system `ssh`, with connection sharing
//! (`ControlMaster=auto`, the sockets in a private directory under `/tmp`,
//! `ControlPersist=60`), `BatchMode=yes` or, for a host that only takes a password, an
//! askpass helper that prints it from where the targets file says it is. Scripts go to
//! `sh -s` on ssh's standard input, so a run's environment values are never on a command
//! line. Also what ssh's failures mean: the hints of `sweep targets check`.

use super::scripts;
use crate::config::targets::{PasswordSource, SshConfig, SshHost};
use crate::target::shell::quote;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// What `sweep targets check` learns about one host.
#[derive(Debug, Clone)]
pub struct HostCheck {
    /// The host's label.
    pub host: String,
    /// Its slots.
    pub slots: u32,
    /// `Ok(description)` (system, CPUs, login time) or what is wrong.
    pub result: Result<String, String>,
    /// How to fix it.
    pub hint: Option<String>,
}

/// The ssh command lines of one target's hosts.
pub(super) struct Connection {
    /// The target's configuration.
    pub(super) cfg: SshConfig,
    /// Private directory for ControlMaster sockets and askpass scripts.
    control_dir: PathBuf,
    /// Per host, its askpass helper (password hosts only).
    askpass: Vec<Option<PathBuf>>,
}

impl Connection {
    /// The connections of target `target`'s hosts. Fails only when the private socket
    /// directory or an askpass helper cannot be made.
    pub(super) fn new(target: &str, cfg: SshConfig) -> std::io::Result<Connection> {
        let control_dir = control_dir()?;
        let mut askpass = Vec::new();
        for (i, h) in cfg.hosts.iter().enumerate() {
            askpass.push(match &h.password {
                None => None,
                Some(src) => Some(write_askpass(&control_dir, target, i, src)?),
            });
        }
        Ok(Connection {
            cfg,
            control_dir,
            askpass,
        })
    }

    /// `ssh` with this target's options for host `i`, no remote command yet.
    pub(super) fn ssh(&self, i: usize) -> Command {
        self.ssh_with(i, true)
    }

    /// `ssh` for host `i`, over the shared connection or (`shared: false`) a fresh one.
    fn ssh_with(&self, i: usize, shared: bool) -> Command {
        let h = &self.cfg.hosts[i];
        let mut c = Command::new("ssh");
        if let Some(f) = &self.cfg.ssh_config {
            c.arg("-F").arg(f);
        }
        let password = self.askpass[i].as_ref();
        let o = |c: &mut Command, s: String| {
            c.arg("-o").arg(s);
        };
        o(
            &mut c,
            format!(
                "BatchMode={}",
                if password.is_some() { "no" } else { "yes" }
            ),
        );
        if shared {
            o(&mut c, "ControlMaster=auto".into());
            o(
                &mut c,
                format!("ControlPath={}/%C", self.control_dir.display()),
            );
            o(&mut c, "ControlPersist=60".into());
        } else {
            o(&mut c, "ControlMaster=no".into());
            o(&mut c, "ControlPath=none".into());
        }
        o(
            &mut c,
            format!("ConnectTimeout={}", self.cfg.connect_timeout),
        );
        o(&mut c, "ServerAliveInterval=5".into());
        o(&mut c, "ServerAliveCountMax=3".into());
        o(&mut c, "LogLevel=ERROR".into());
        if let Some(k) = &h.identity_file {
            c.arg("-i").arg(k);
            o(&mut c, "IdentitiesOnly=yes".into());
        }
        if let Some(k) = &self.cfg.known_hosts_file {
            o(&mut c, format!("UserKnownHostsFile={}", k.display()));
        }
        if let Some(s) = &self.cfg.strict_host_key_checking {
            o(&mut c, format!("StrictHostKeyChecking={s}"));
        }
        for extra in &self.cfg.ssh_options {
            o(&mut c, extra.clone());
        }
        if let Some(u) = &h.user {
            c.arg("-l").arg(u);
        }
        c.arg("-p").arg(h.port.to_string());
        if let Some(a) = password {
            c.env("SSH_ASKPASS", a).env("SSH_ASKPASS_REQUIRE", "force");
            o(&mut c, "NumberOfPasswordPrompts=1".into());
        }
        c.arg(&h.address);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `script` with `sh -s` on host `i`, the script on standard input. When the
    /// shared connection refuses a new session (its master exiting after `ControlPersist`,
    /// or the host's `MaxSessions` reached), nothing ran: it is tried once more on a
    /// connection of its own.
    pub(super) fn run_script(&self, i: usize, script: &str) -> std::io::Result<Output> {
        let out = Self::run_script_with(self.ssh(i), script)?;
        if out.status.code() == Some(255) && mux_refused(&out.stderr) {
            tracing::debug!(
                "shared ssh connection to {} refused a session ({}); using a new one",
                self.cfg.hosts[i].name,
                last_line(&out.stderr)
            );
            return Self::run_script_with(self.ssh_with(i, false), script);
        }
        Ok(out)
    }

    /// Runs `script` with `sh -s` through the ssh command `c`.
    fn run_script_with(mut c: Command, script: &str) -> std::io::Result<Output> {
        c.arg("sh -s").stdin(Stdio::piped());
        let mut child = c.spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        // Written from another thread: a large script could otherwise fill both pipes.
        let script = script.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&script);
        });
        let out = child.wait_with_output();
        let _ = writer.join();
        out
    }

    /// Logs in to host `i` afresh, runs [`scripts::CHECK`] and reports what it found.
    pub(super) fn check(&self, i: usize) -> HostCheck {
        let h = &self.cfg.hosts[i];
        let mut out = HostCheck {
            host: h.name.clone(),
            slots: h.slots,
            result: Err(String::new()),
            hint: None,
        };
        if let Some(k) = &h.identity_file {
            if !k.is_file() {
                out.result = Err(format!("identity_file {} does not exist", k.display()));
                out.hint =
                    Some("check the path (relative paths are relative to the targets file)".into());
                return out;
            }
        }
        if let Some(PasswordSource::Env(v)) = &h.password {
            if std::env::var_os(v).is_none() {
                out.result = Err(format!("password_env names ${v}, which is not set"));
                out.hint = Some(format!("export {v}=... before running sweep"));
                return out;
            }
        }
        let t0 = Instant::now();
        // A fresh login, not a shared connection: an open master would hide a wrong key.
        let c = self.ssh_with(i, false);
        match Self::run_script_with(c, scripts::CHECK) {
            Err(e) => {
                out.result = Err(format!("cannot run ssh: {e}"));
                out.hint = Some("install the OpenSSH client (`ssh`)".into());
            }
            Ok(o) if !o.status.success() => {
                let msg = last_line(&o.stderr);
                out.hint = hint_for(&msg, h);
                out.result = Err(if msg.is_empty() {
                    format!("ssh exited with {}", o.status)
                } else {
                    msg
                });
            }
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                let mut lines = text.lines();
                if lines.next() != Some("sweep-check-ok") {
                    out.result = Err(format!(
                        "unexpected output from the host: {:?}",
                        text.trim()
                    ));
                    out.hint = Some("the remote login shell must run commands without printing anything (check its rc files)".into());
                    return out;
                }
                let system = lines.next().unwrap_or("").to_string();
                let cpus = lines.next().unwrap_or("?").to_string();
                let missing: Vec<&str> = lines.filter_map(|l| l.strip_prefix("missing ")).collect();
                if !missing.is_empty() {
                    out.result = Err(format!("the host lacks {}", missing.join(", ")));
                    out.hint = Some(
                        "runs need `setsid` with `-w` (util-linux 2.24 or later), `tar`, `tail` and `head` on the host"
                            .into(),
                    );
                    return out;
                }
                out.result = Ok(format!(
                    "{system}, {cpus} CPUs, answered in {:.2}s",
                    t0.elapsed().as_secs_f64()
                ));
            }
        }
        out
    }
}

/// `/tmp/sweep-ssh-<uid>`: short, because a ControlPath socket's whole path must fit in
/// 108 bytes, and private (0700), because anyone who can open a master socket can use it.
fn control_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = PathBuf::from(format!("/tmp/sweep-ssh-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(&dir)?;
    if !m.is_dir() || m.uid() != uid {
        return Err(std::io::Error::other(format!(
            "{} is not a directory owned by this user; remove it",
            dir.display()
        )));
    }
    if m.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// The askpass helper for a host: prints the password from where the targets file says it
/// is, at the moment ssh asks. The script holds the variable's name or the file's path,
/// never the password.
fn write_askpass(
    dir: &Path,
    target: &str,
    host: usize,
    src: &PasswordSource,
) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let body = match src {
        PasswordSource::Env(var) => format!("printf '%s\\n' \"${{{var}}}\"\n"),
        PasswordSource::File(p) => format!("exec head -n 1 -- {}\n", quote(&p.to_string_lossy())),
    };
    let path = dir.join(format!("askpass-{}-{host}-{}", target, std::process::id()));
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(&tmp)?;
    f.write_all(format!("#!/bin/sh\n{body}").as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The last non-empty line of ssh's stderr, for messages.
pub(super) fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Whether ssh failed at the connection-sharing step, before the remote command started.
fn mux_refused(stderr: &[u8]) -> bool {
    let e = String::from_utf8_lossy(stderr);
    [
        "mux_client",
        "Session open refused",
        "ControlSocket",
        "Control socket",
        "control socket",
    ]
    .iter()
    .any(|m| e.contains(m))
}

/// A hint for an ssh failure, from its message.
pub fn hint_for(msg: &str, host: &SshHost) -> Option<String> {
    let m = msg.to_ascii_lowercase();
    let at = format!("{}:{}", host.address, host.port);
    Some(if m.contains("connection refused") {
        format!(
            "nothing accepts ssh connections on {at}: is sshd running there, and is `port` right?"
        )
    } else if m.contains("permission denied") {
        format!(
            "{at} refused the login: check `user` ({}) and `identity_file` (or the keys in your ssh agent: `ssh-add -l`)",
            host.user.as_deref().unwrap_or("ssh's default")
        )
    } else if m.contains("could not resolve") || m.contains("name or service not known") {
        format!("`{}` does not resolve: check `address`", host.address)
    } else if m.contains("timed out") || m.contains("no route") || m.contains("unreachable") {
        format!("{at} does not answer: check `address`, `port` and firewalls (or raise `connect_timeout`)")
    } else if m.contains("host key verification failed") || m.contains("remote host identification")
    {
        "the host's key is unknown or changed: add it to `known_hosts_file` (`ssh-keyscan`), or set `strict_host_key_checking: accept-new`".to_string()
    } else if m.contains("identity file") || m.contains("no such identity") {
        "check `identity_file`: the file must exist and be readable".to_string()
    } else {
        return None;
    })
}
