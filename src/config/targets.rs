//! The targets file: named compute targets (SSH hosts, a Slurm cluster) a runconfig's
//! `target: NAME` or `sweep run --target NAME` refers to.
//!
//! It is read with the located YAML reader, like the sweep configs, so every problem comes
//! with `file:line:col`, a snippet and a hint, all at once. Paths in it are relative to the
//! file's own directory; a leading `~/` means the home directory. A password is never read
//! from this file: only the name of an environment variable or of a file holding it.
//!
//! ```yaml
//! gpu-boxes:
//!   type: ssh
//!   identity_file: ~/.ssh/id_ed25519
//!   hosts:
//!     - { address: 10.0.0.5, user: alice, slots: 2 }
//!     - { address: 10.0.0.6, port: 2222, user: alice, slots: 4 }
//! cluster:
//!   type: slurm
//!   partition: gpu
//!   cpus_per_run: 4
//! ```

use super::diag::{did_you_mean, Sink};
use super::fields::{fields, Fields};
use super::yaml::Node;
use super::{parse_into, problems, read_file, Problems};
use std::path::{Path, PathBuf};

/// The file name looked for beside the sweep config, in the current directory and in the
/// workspace.
pub const FILE_NAME: &str = "targets.yml";

/// The default remote directory (relative to the remote home) SSH runs live under.
pub const DEFAULT_REMOTE_DIR: &str = ".sweep-remote";

/// Target names that cannot be defined (they are built in).
pub const RESERVED: &[&str] = &["local"];

/// A loaded targets file.
#[derive(Debug, Clone)]
pub struct TargetsFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The targets, in file order.
    pub targets: Vec<TargetDef>,
}

impl TargetsFile {
    /// The target called `name`.
    pub fn get(&self, name: &str) -> Option<&TargetDef> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The names, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.name.as_str()).collect()
    }
}

/// One named target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetDef {
    /// Its name.
    pub name: String,
    /// Most runs alive on it at once (`max_runs`), on top of its own capacity.
    pub max_runs: Option<u64>,
    /// What it is.
    pub kind: TargetKind,
}

/// The kinds of targets.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind {
    /// SSH hosts.
    Ssh(SshConfig),
    /// A Slurm cluster reached through the `sbatch`/`squeue`/`scontrol`/`scancel` on this
    /// machine.
    Slurm(SlurmConfig),
}

/// Where a password comes from (never from the targets file itself).
#[derive(Debug, Clone, PartialEq)]
pub enum PasswordSource {
    /// The value of this environment variable.
    Env(String),
    /// The first line of this file.
    File(PathBuf),
}

/// One SSH host.
#[derive(Debug, Clone, PartialEq)]
pub struct SshHost {
    /// Its label in messages (`name`, default `address:port`).
    pub name: String,
    /// Host name or IP address (or an alias of the `ssh_config` file).
    pub address: String,
    /// Port (default 22).
    pub port: u16,
    /// The login user (default: ssh's own default).
    pub user: Option<String>,
    /// How many runs it takes at once (default 1).
    pub slots: u32,
    /// Private key file (default: the agent and ssh's default keys).
    pub identity_file: Option<PathBuf>,
    /// Password source, for hosts that only take passwords.
    pub password: Option<PasswordSource>,
}

/// An SSH target.
#[derive(Debug, Clone, PartialEq)]
pub struct SshConfig {
    /// The hosts.
    pub hosts: Vec<SshHost>,
    /// An ssh client config file (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// A known-hosts file (`UserKnownHostsFile`).
    pub known_hosts_file: Option<PathBuf>,
    /// `StrictHostKeyChecking` (`yes`, `accept-new`, `no`).
    pub strict_host_key_checking: Option<String>,
    /// Extra `-o` options, as `Key=Value`.
    pub ssh_options: Vec<String>,
    /// Where runs live on the hosts (relative paths are under the remote home).
    pub remote_dir: String,
    /// `ConnectTimeout`, seconds.
    pub connect_timeout: u64,
    /// Seconds a host may fail to answer before its runs are declared lost.
    pub lost_after: u64,
}

/// A Slurm target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlurmConfig {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_run: Option<u64>,
    /// `--gpus` per run.
    pub gpus_per_run: Option<u64>,
    /// `--mem` per run (`4G`).
    pub mem_per_run: Option<String>,
    /// Extra `sbatch` arguments, passed as they are.
    pub sbatch_args: Vec<String>,
    /// How often job states are polled, in seconds.
    pub poll_seconds: f64,
}

impl SlurmConfig {
    /// Where jobs are queued: each of `partition`, `account` and `qos` that is set, as its
    /// `sbatch` option name and value, in that order.
    pub fn placement(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("partition", &self.partition),
            ("account", &self.account),
            ("qos", &self.qos),
        ]
        .into_iter()
        .filter_map(|(option, value)| Some((option, value.as_deref()?)))
    }
}

const COMMON_KEYS: &[&str] = &["type", "max_runs"];
const SSH_KEYS: &[&str] = &[
    "type",
    "max_runs",
    "hosts",
    "user",
    "port",
    "identity_file",
    "password_env",
    "password_file",
    "password",
    "ssh_config",
    "known_hosts_file",
    "strict_host_key_checking",
    "ssh_options",
    "remote_dir",
    "connect_timeout",
    "lost_after",
];
const HOST_KEYS: &[&str] = &[
    "name",
    "address",
    "port",
    "user",
    "slots",
    "identity_file",
    "password_env",
    "password_file",
    "password",
];
const SLURM_KEYS: &[&str] = &[
    "type",
    "max_runs",
    "partition",
    "account",
    "qos",
    "cpus_per_run",
    "gpus_per_run",
    "mem_per_run",
    "sbatch_args",
    "poll_seconds",
];

/// Reads and checks a targets file.
pub fn load(path: &Path) -> Result<TargetsFile, Problems> {
    let text = read_file(path, "targets file")?;
    load_str(&path.display().to_string(), &text, path)
}

/// Like [`load`] with the text given (`name` is how the file is shown).
pub fn load_str(name: &str, text: &str, path: &Path) -> Result<TargetsFile, Problems> {
    // Diagnostics quote source lines: a password written in the file must not be echoed.
    let shown = redact_passwords(text);
    let mut sink = Sink::new(name, &shown);
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut targets = Vec::new();
    let parsed = match super::yaml::parse(text) {
        Ok(n) => Some(n),
        Err(_) => parse_into(&mut sink),
    };
    if let Some(root) = parsed {
        read_root(&mut sink, &root, &base, &mut targets);
    }
    if sink.has_errors() {
        return Err(problems(sink.diags));
    }
    Ok(TargetsFile {
        path: path.to_path_buf(),
        targets,
    })
}

/// `text` with the value of every `password:` key replaced by `***` (same line structure,
/// so positions stay valid for the lines that matter).
fn redact_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut rest = line;
        while let Some(at) = rest.find("password:") {
            let before = &rest[..at];
            let key_start = before
                .chars()
                .last()
                .is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '-' | '"' | '\''));
            out.push_str(&rest[..at + "password:".len()]);
            rest = &rest[at + "password:".len()..];
            if key_start {
                let end = rest.find([',', '}', '\n', '#']).unwrap_or(rest.len());
                if !rest[..end].trim().is_empty() {
                    out.push_str(" ***");
                }
                rest = &rest[end..];
            }
        }
        out.push_str(rest);
    }
    out
}

fn read_root(sink: &mut Sink, root: &Node, base: &Path, out: &mut Vec<TargetDef>) {
    let Some(map) = root.as_map() else {
        if root.is_null() {
            sink.file_error(
                "the targets file defines no targets",
                Some("add `NAME: {type: ssh, hosts: [...]}` or `NAME: {type: slurm}`".into()),
            );
        } else {
            sink.wrong_type(root, "a targets file is a mapping of target names to targets", Some("write `NAME:` at the start of a line, then the target's keys indented under it".into()));
        }
        return;
    };
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (k, v) in map {
        let Some(name) = k.as_text() else {
            sink.wrong_type(k, "target names must be plain names", None);
            continue;
        };
        if let Some((_, line)) = seen.iter().find(|(n, _)| *n == name) {
            sink.error(
                k.span,
                format!("target `{name}` is defined twice"),
                Some(format!("it is already defined at line {line}; keep one")),
            );
            continue;
        }
        seen.push((name.clone(), k.span.line));
        if RESERVED.contains(&name.as_str()) {
            sink.error(
                k.span,
                format!("`{name}` is the built-in target and cannot be redefined"),
                Some("give this target another name".into()),
            );
            continue;
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            sink.error(
                k.span,
                format!("target name `{name}` may only use letters, digits, `-`, `_` and `.`"),
                None,
            );
            continue;
        }
        if let Some(t) = read_target(sink, &name, v, base) {
            out.push(t);
        }
    }
}

fn read_target(sink: &mut Sink, name: &str, v: &Node, base: &Path) -> Option<TargetDef> {
    let what = format!("target {name}");
    // The type decides which keys are known, so read it first.
    let kind = v.as_map().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.as_text().as_deref() == Some("type"))
            .map(|(_, t)| t)
    });
    let Some(kind_node) = kind else {
        if v.as_map().is_some() || v.is_null() {
            sink.error(
                v.span,
                format!("`{what}` needs `type`"),
                Some("`type: ssh` or `type: slurm`".into()),
            );
        } else {
            let _ = fields(sink, v, &what, COMMON_KEYS, &[]);
        }
        return None;
    };
    let kind = kind_node.as_text().unwrap_or_default();
    let (keys, is_ssh) = match kind.as_str() {
        "ssh" => (SSH_KEYS, true),
        "slurm" => (SLURM_KEYS, false),
        other => {
            let hint = match did_you_mean(other, &["ssh", "slurm"]) {
                Some(k) => format!("did you mean `{k}`?"),
                None => "`ssh` or `slurm` (`local` is built in and needs no entry)".into(),
            };
            sink.error(
                kind_node.span,
                format!("unknown target type `{other}`"),
                Some(hint),
            );
            return None;
        }
    };
    let f = fields(sink, v, &what, keys, &[])?;
    let max_runs = f.positive(sink, "max_runs").map(|x| x.0);
    let errors_before = sink.diags.len();
    let kind = if is_ssh {
        TargetKind::Ssh(read_ssh(sink, &f, base)?)
    } else {
        TargetKind::Slurm(read_slurm(sink, &f))
    };
    if sink.diags[errors_before..]
        .iter()
        .any(|d| d.severity == super::diag::Severity::Error)
    {
        return None;
    }
    Some(TargetDef {
        name: name.to_string(),
        max_runs,
        kind,
    })
}

/// A path relative to the targets file, with `~/` expanded.
fn path_of(base: &Path, p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn password(sink: &mut Sink, f: &Fields<'_>, base: &Path) -> Option<PasswordSource> {
    if let Some(k) = f.key_node("password") {
        sink.error(
            k.span,
            "a password is never read from the targets file",
            Some("keep it out of files you share: `password_env: VAR` names an environment variable holding it, `password_file: PATH` a file (mode 600) holding it; better, use a key".into()),
        );
    }
    let env = f.string(sink, "password_env");
    let file = f.string(sink, "password_file");
    match (env, file) {
        (Some((_, span)), Some(_)) => {
            sink.error(
                span,
                "`password_env` and `password_file` are both set",
                Some("keep one".into()),
            );
            None
        }
        (Some((var, span)), None) => {
            if !is_env_name(&var) {
                sink.error(
                    span,
                    format!("`{var}` is not an environment variable name"),
                    Some("letters, digits and `_`, not starting with a digit".into()),
                );
                return None;
            }
            Some(PasswordSource::Env(var))
        }
        (None, Some((p, _))) => Some(PasswordSource::File(path_of(base, &p))),
        (None, None) => None,
    }
}

/// Whether `s` is a valid environment variable name.
pub fn is_env_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn port(sink: &mut Sink, f: &Fields<'_>) -> Option<u16> {
    let (p, span) = f.integer(sink, "port")?;
    match u16::try_from(p) {
        Ok(p) if p > 0 => Some(p),
        _ => {
            sink.error(span, format!("`port` must be 1..65535, got {p}"), None);
            None
        }
    }
}

fn read_ssh(sink: &mut Sink, f: &Fields<'_>, base: &Path) -> Option<SshConfig> {
    let default_user = f.text(sink, "user").map(|u| u.0);
    let default_port = port(sink, f);
    let default_key = f.string(sink, "identity_file").map(|k| path_of(base, &k.0));
    let default_password = password(sink, f, base);
    let mut hosts = Vec::new();
    match f.require(
        sink,
        "hosts",
        Some("`hosts: [{address: HOST, user: USER, slots: N}]`".into()),
    ) {
        None => {}
        Some(h) => match h.as_seq() {
            None => sink.wrong_type(
                h,
                "`hosts` should be a list",
                Some("one `- address: ...` entry per host".into()),
            ),
            Some([]) => sink.error(h.span, "`hosts` is empty", None),
            Some(items) => {
                for item in items {
                    if let Some(host) = read_host(sink, item, base) {
                        hosts.push(SshHost {
                            port: if has_key(item, "port") {
                                host.port
                            } else {
                                default_port.unwrap_or(host.port)
                            },
                            user: host.user.or_else(|| default_user.clone()),
                            identity_file: host.identity_file.or_else(|| default_key.clone()),
                            password: host.password.or_else(|| default_password.clone()),
                            ..host
                        });
                    }
                }
            }
        },
    }
    // A host given twice would get twice the runs it can take.
    for (i, h) in hosts.iter().enumerate() {
        if hosts[..i]
            .iter()
            .any(|o| o.address == h.address && o.port == h.port && o.user == h.user)
        {
            sink.error(
                f.get("hosts").map_or(f.span, |n| n.span),
                format!("host {}:{} is listed twice", h.address, h.port),
                Some("list it once and raise its `slots`".into()),
            );
        }
    }
    for h in &mut hosts {
        if h.name.is_empty() {
            h.name = if h.port == 22 {
                h.address.clone()
            } else {
                format!("{}:{}", h.address, h.port)
            };
        }
    }
    let strict = f.string(sink, "strict_host_key_checking");
    if let Some((s, span)) = &strict {
        if !matches!(s.as_str(), "yes" | "no" | "accept-new" | "ask" | "off") {
            sink.error(
                *span,
                format!("`strict_host_key_checking` cannot be `{s}`"),
                Some("`yes`, `accept-new` or `no` (quote them: YAML reads plain yes/no as strings here anyway)".into()),
            );
        }
    }
    let mut ssh_options = Vec::new();
    for (o, span) in f.text_list(sink, "ssh_options").unwrap_or_default() {
        if !o.contains('=') || o.starts_with('-') {
            sink.error(
                span,
                format!("ssh option `{o}` is not `Key=Value`"),
                Some("write options as ssh's `-o` takes them, e.g. `Ciphers=aes128-ctr`".into()),
            );
        } else {
            ssh_options.push(o);
        }
    }
    let remote_dir = f
        .string(sink, "remote_dir")
        .map(|r| r.0)
        .unwrap_or_else(|| DEFAULT_REMOTE_DIR.into());
    if remote_dir.is_empty() || remote_dir.contains('\n') {
        sink.error(
            f.get("remote_dir").map_or(f.span, |n| n.span),
            "`remote_dir` must be a directory path",
            None,
        );
    }
    Some(SshConfig {
        hosts,
        ssh_config: f.string(sink, "ssh_config").map(|p| path_of(base, &p.0)),
        known_hosts_file: f
            .string(sink, "known_hosts_file")
            .map(|p| path_of(base, &p.0)),
        strict_host_key_checking: strict.map(|s| s.0),
        ssh_options,
        remote_dir,
        connect_timeout: f.positive(sink, "connect_timeout").map_or(10, |x| x.0),
        lost_after: f.positive(sink, "lost_after").map_or(15, |x| x.0),
    })
}

/// Whether the mapping `node` has `key` (a per-host value overrides the target's).
fn has_key(node: &Node, key: &str) -> bool {
    node.as_map()
        .is_some_and(|m| m.iter().any(|(k, _)| k.as_text().as_deref() == Some(key)))
}

fn read_host(sink: &mut Sink, item: &Node, base: &Path) -> Option<SshHost> {
    let f = fields(sink, item, "host", HOST_KEYS, &[])?;
    let address = f.require(sink, "address", Some("the host name or IP address".into()));
    let address = address.and_then(|_| f.text(sink, "address")).map(|a| a.0);
    let slots = f.positive(sink, "slots").map_or(1, |s| s.0);
    let slots = u32::try_from(slots).unwrap_or(u32::MAX);
    let host = SshHost {
        name: f.text(sink, "name").map(|n| n.0).unwrap_or_default(),
        address: address.clone().unwrap_or_default(),
        port: port(sink, &f).unwrap_or(22),
        user: f.text(sink, "user").map(|u| u.0),
        slots,
        identity_file: f.string(sink, "identity_file").map(|k| path_of(base, &k.0)),
        password: password(sink, &f, base),
    };
    if let Some(a) = &address {
        if a.starts_with('-') || a.chars().any(|c| c.is_whitespace()) || a.contains('@') {
            sink.error(
                f.get("address").map_or(item.span, |n| n.span),
                format!("`{a}` is not a host name or address"),
                Some("give the user in `user:`, not as `user@host`".into()),
            );
            return None;
        }
    }
    if let Some(u) = &host.user {
        if u.starts_with('-') || u.chars().any(|c| c.is_whitespace() || c == '@') {
            sink.error(
                f.get("user").map_or(item.span, |n| n.span),
                format!("`{u}` is not a user name"),
                None,
            );
            return None;
        }
    }
    address.map(|_| host)
}

fn read_slurm(sink: &mut Sink, f: &Fields<'_>) -> SlurmConfig {
    let poll = f.positive_number(sink, "poll_seconds", " seconds");
    SlurmConfig {
        partition: f.text(sink, "partition").map(|x| x.0),
        account: f.text(sink, "account").map(|x| x.0),
        qos: f.text(sink, "qos").map(|x| x.0),
        cpus_per_run: f.positive(sink, "cpus_per_run").map(|x| x.0),
        gpus_per_run: f.positive(sink, "gpus_per_run").map(|x| x.0),
        mem_per_run: f.text(sink, "mem_per_run").map(|x| x.0),
        sbatch_args: f
            .text_list(sink, "sbatch_args")
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.0)
            .collect(),
        poll_seconds: poll.map_or(1.0, |p| p.0),
    }
}

/// Where the targets file is: `explicit` (`--targets`), else `$SWEEP_TARGETS`, else the
/// first `targets.yml` found in `dirs` (in order). `None` if there is none.
pub fn locate(explicit: Option<&Path>, dirs: &[PathBuf]) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SWEEP_TARGETS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    dirs.iter().map(|d| d.join(FILE_NAME)).find(|p| p.is_file())
}

/// A span-less helper for callers that report a missing target.
pub fn unknown_target_hint(file: Option<&TargetsFile>, name: &str) -> String {
    match file {
        None => format!(
            "define `{name}` in a `{FILE_NAME}` (beside the sweep config, in the current directory or in the workspace), or pass `--targets FILE`; see docs/targets.md"
        ),
        Some(f) => {
            let names = f.names();
            match did_you_mean(name, &names) {
                Some(k) => format!("did you mean `{k}`? ({} defines: {})", f.path.display(), names.join(", ")),
                None if names.is_empty() => format!("{} defines no targets", f.path.display()),
                None => format!("{} defines: {}", f.path.display(), names.join(", ")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<TargetsFile, Problems> {
        load_str("targets.yml", text, Path::new("/etc/sw/targets.yml"))
    }

    #[test]
    fn reads_ssh_and_slurm_targets_with_defaults() {
        let t = load(
            "boxes:\n  type: ssh\n  user: alice\n  identity_file: keys/id\n  hosts:\n    - {address: h1, slots: 2}\n    - {address: h2, port: 2222, user: bob}\ncluster:\n  type: slurm\n  partition: gpu\n  sbatch_args: [--exclusive]\n  max_runs: 8\n",
        )
        .unwrap();
        assert_eq!(t.names(), vec!["boxes", "cluster"]);
        let TargetKind::Ssh(s) = &t.get("boxes").unwrap().kind else {
            panic!()
        };
        assert_eq!(s.hosts.len(), 2);
        assert_eq!(s.hosts[0].user.as_deref(), Some("alice"));
        assert_eq!(s.hosts[0].slots, 2);
        assert_eq!(s.hosts[0].port, 22);
        assert_eq!(s.hosts[0].name, "h1");
        assert_eq!(
            s.hosts[0].identity_file.as_deref(),
            Some(Path::new("/etc/sw/keys/id"))
        );
        assert_eq!(s.hosts[1].user.as_deref(), Some("bob"));
        assert_eq!(s.hosts[1].name, "h2:2222");
        assert_eq!(s.remote_dir, DEFAULT_REMOTE_DIR);
        let c = t.get("cluster").unwrap();
        assert_eq!(c.max_runs, Some(8));
        let TargetKind::Slurm(sl) = &c.kind else {
            panic!()
        };
        assert_eq!(sl.partition.as_deref(), Some("gpu"));
        assert_eq!(sl.sbatch_args, vec!["--exclusive"]);
    }

    #[test]
    fn every_problem_is_located_with_a_hint() {
        let e = load(
            "local:\n  type: ssh\nb:\n  type: shh\nc:\n  type: ssh\n  password: hunter2\n  hosts:\n    - {adress: h1}\n    - {address: h2, port: 70000}\n",
        )
        .unwrap_err();
        let r = &e.rendered;
        assert!(r.contains("targets.yml:1:1"), "{r}");
        assert!(r.contains("built-in target"), "{r}");
        assert!(r.contains("unknown target type `shh`"), "{r}");
        assert!(r.contains("`ssh` or `slurm`"), "{r}");
        assert!(r.contains("never read from the targets file"), "{r}");
        assert!(!r.contains("hunter2"), "the password is not echoed: {r}");
        assert!(r.contains("unknown key `adress`"), "{r}");
        assert!(r.contains("did you mean `address`?"), "{r}");
        assert!(r.contains("`port` must be 1..65535"), "{r}");
        assert!(r.contains("targets.yml:10:"), "{r}");
    }

    #[test]
    fn password_sources() {
        let t = load("a:\n  type: ssh\n  password_env: BOX_PW\n  hosts: [{address: h}]\n").unwrap();
        let TargetKind::Ssh(s) = &t.get("a").unwrap().kind else {
            panic!()
        };
        assert_eq!(
            s.hosts[0].password,
            Some(PasswordSource::Env("BOX_PW".into()))
        );
        let e = load("a:\n  type: ssh\n  password_env: 'BOX PW'\n  hosts: [{address: h}]\n")
            .unwrap_err();
        assert!(e.rendered.contains("not an environment variable name"));
    }

    #[test]
    fn locate_prefers_explicit_then_dirs() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            locate(Some(Path::new("x.yml")), &[]),
            Some(PathBuf::from("x.yml"))
        );
        std::fs::write(d.path().join(FILE_NAME), "").unwrap();
        if std::env::var_os("SWEEP_TARGETS").is_none() {
            assert_eq!(
                locate(
                    None,
                    &[PathBuf::from("/nonexistent"), d.path().to_path_buf()]
                ),
                Some(d.path().join(FILE_NAME))
            );
        }
    }
}
