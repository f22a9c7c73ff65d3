//! What a [`RunHandle`] holds, for every target: one JSON object whose `kind` names the
//! target's type (`local`, `ssh`, `slurm`), with that type's fields. Handles are persisted
//! in the run history and read back by a later `sweep` (resume, cancel), so this format is
//! on disk: the strings stored by earlier versions decode as they are (see the tests).

use super::{RunHandle, TargetError};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::PathBuf;

/// A handle of any target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(super) enum Handle {
    /// A local run.
    Local(LocalHandle),
    /// A run on an SSH host.
    Ssh(SshHandle),
    /// A Slurm job.
    Slurm(SlurmHandle),
}

/// A local run: its supervisor, which leads the run's process group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct LocalHandle {
    /// The supervisor's pid.
    pub pid: i32,
    /// The run's process group (the supervisor's pid).
    pub pgid: i32,
    /// The run directory, absolute.
    pub run_dir: PathBuf,
}

/// A run on an SSH host: the host, its run directory there and the program's process group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct SshHandle {
    /// The target's name when the run started (kept for the record; the host is found by
    /// its address, port and user).
    #[serde(default)]
    pub target: String,
    /// The host's label.
    pub host: String,
    /// The host's address.
    pub address: String,
    /// The host's ssh port.
    pub port: u16,
    /// The login user (`null`: ssh's default).
    pub user: Option<String>,
    /// The run directory on the host, absolute.
    pub run_dir: String,
    /// The program's process group on the host.
    pub pgid: i32,
}

/// A Slurm job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct SlurmHandle {
    /// The target's name when the job was submitted (kept for the record).
    #[serde(default)]
    pub target: String,
    /// The job id: digits (and `_` for an array task), since it reaches `scancel`'s
    /// command line.
    #[serde(deserialize_with = "job_id")]
    pub job: String,
    /// The run directory, absolute, on the shared filesystem.
    pub run_dir: PathBuf,
}

fn job_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let job = String::deserialize(d)?;
    if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(serde::de::Error::custom(format!(
            "{job:?} is not a Slurm job id"
        )));
    }
    Ok(job)
}

/// `From` the kind's handle into [`Handle`], and `TryFrom` back (failing with the handle
/// of another kind).
macro_rules! kind {
    ($variant:ident, $kind:ty) => {
        impl From<$kind> for Handle {
            fn from(h: $kind) -> Handle {
                Handle::$variant(h)
            }
        }
        impl TryFrom<Handle> for $kind {
            type Error = Handle;
            fn try_from(h: Handle) -> Result<$kind, Handle> {
                match h {
                    Handle::$variant(k) => Ok(k),
                    other => Err(other),
                }
            }
        }
    };
}
kind!(Local, LocalHandle);
kind!(Ssh, SshHandle);
kind!(Slurm, SlurmHandle);

/// The persisted form of `h`. Fails only for a run directory that is not UTF-8 text.
pub(super) fn encode(h: impl Into<Handle>) -> Result<RunHandle, TargetError> {
    serde_json::to_string(&h.into())
        .map(RunHandle)
        .map_err(|e| TargetError::BadHandle(format!("cannot record the run's handle: {e}")))
}

/// The handle `h` holds, which must be of kind `K`.
pub(super) fn decode<K: TryFrom<Handle>>(h: &RunHandle) -> Result<K, TargetError> {
    let any: Handle =
        serde_json::from_str(&h.0).map_err(|e| TargetError::BadHandle(e.to_string()))?;
    K::try_from(any).map_err(|_| TargetError::BadHandle(h.0.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handles exactly as the encoders of earlier versions wrote them into run histories.
    const STORED_LOCAL: &str =
        r#"{"kind":"local","pid":4242,"pgid":4242,"run_dir":"/w/.sweep/sweeps/s/runs/s_0"}"#;
    const STORED_SSH: &str = r#"{"kind":"ssh","target":"gpu-boxes","host":"gpu2","address":"10.0.0.5","port":2222,"user":"alice","run_dir":"/home/alice/.sweep-remote/s/runs/s_0","pgid":4243}"#;
    const STORED_SSH_NO_USER: &str = r#"{"kind":"ssh","target":"gpu-boxes","host":"gpu2","address":"10.0.0.5","port":2222,"user":null,"run_dir":"/home/alice/.sweep-remote/s/runs/s_0","pgid":4243}"#;
    const STORED_SLURM: &str =
        r#"{"kind":"slurm","target":"cluster","job":"17","run_dir":"/w/.sweep/sweeps/s/runs/s_0"}"#;

    fn stored(s: &str) -> RunHandle {
        RunHandle(s.to_string())
    }

    fn ssh(user: Option<&str>) -> SshHandle {
        SshHandle {
            target: "gpu-boxes".into(),
            host: "gpu2".into(),
            address: "10.0.0.5".into(),
            port: 2222,
            user: user.map(Into::into),
            run_dir: "/home/alice/.sweep-remote/s/runs/s_0".into(),
            pgid: 4243,
        }
    }

    #[test]
    fn stored_handles_decode_and_encode_to_the_same_text() {
        let local = LocalHandle {
            pid: 4242,
            pgid: 4242,
            run_dir: "/w/.sweep/sweeps/s/runs/s_0".into(),
        };
        let slurm = SlurmHandle {
            target: "cluster".into(),
            job: "17".into(),
            run_dir: "/w/.sweep/sweeps/s/runs/s_0".into(),
        };
        assert_eq!(decode::<LocalHandle>(&stored(STORED_LOCAL)).unwrap(), local);
        assert_eq!(
            decode::<SshHandle>(&stored(STORED_SSH)).unwrap(),
            ssh(Some("alice"))
        );
        assert_eq!(
            decode::<SshHandle>(&stored(STORED_SSH_NO_USER)).unwrap(),
            ssh(None)
        );
        assert_eq!(decode::<SlurmHandle>(&stored(STORED_SLURM)).unwrap(), slurm);
        assert_eq!(encode(local).unwrap().0, STORED_LOCAL);
        assert_eq!(encode(ssh(Some("alice"))).unwrap().0, STORED_SSH);
        assert_eq!(encode(ssh(None)).unwrap().0, STORED_SSH_NO_USER);
        assert_eq!(encode(slurm).unwrap().0, STORED_SLURM);
    }

    #[test]
    fn what_the_old_decoders_let_pass_still_does() {
        // No `user` at all is ssh's default user; fields no decoder knows are ignored.
        let h =
            r#"{"kind":"ssh","host":"h","address":"a","port":22,"run_dir":"/r","pgid":1,"x":[]}"#;
        let h = decode::<SshHandle>(&stored(h)).unwrap();
        assert_eq!((h.user, h.target.as_str(), h.port), (None, "", 22));
        let h = r#"{"kind":"slurm","job":"17_3","run_dir":"/r"}"#;
        assert_eq!(decode::<SlurmHandle>(&stored(h)).unwrap().job, "17_3");
    }

    #[test]
    fn a_handle_of_another_kind_or_malformed_is_a_bad_handle() {
        let bad = |r: Result<(), TargetError>| match r {
            Err(TargetError::BadHandle(why)) => why,
            other => panic!("{other:?}"),
        };
        // Another target's handle is named as it is.
        let why = bad(decode::<LocalHandle>(&stored(STORED_SSH)).map(drop));
        assert_eq!(why, STORED_SSH);
        bad(decode::<SshHandle>(&stored(STORED_SLURM)).map(drop));
        bad(decode::<SlurmHandle>(&stored(STORED_LOCAL)).map(drop));
        // A job id is all that reaches `scancel`'s command line.
        let why = bad(decode::<SlurmHandle>(&stored(
            r#"{"kind":"slurm","job":"1; rm -rf /","run_dir":"/r"}"#,
        ))
        .map(drop));
        assert!(why.contains("is not a Slurm job id"), "{why}");
        bad(
            decode::<SlurmHandle>(&stored(r#"{"kind":"slurm","job":"","run_dir":"/r"}"#)).map(drop),
        );
        let why = bad(
            decode::<LocalHandle>(&stored(r#"{"kind":"local","pid":1,"run_dir":"/r"}"#)).map(drop),
        );
        assert!(why.contains("pgid"), "{why}");
        let port =
            r#"{"kind":"ssh","host":"h","address":"a","port":70000,"run_dir":"/r","pgid":1}"#;
        bad(decode::<SshHandle>(&stored(port)).map(drop));
        bad(decode::<LocalHandle>(&stored("fake:s_0")).map(drop));
        bad(decode::<LocalHandle>(&stored(r#"{"kind":"nfs"}"#)).map(drop));
    }
}
