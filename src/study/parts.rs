//! What a validated spec turns into before anything runs: the seed actually used, the
//! sampler and the early-termination hook. `sweep run` and [`Study`](super::Study) both
//! build their sweeps here, so the CLI and the library sample and stop runs identically.

use super::StudyError;
use crate::policy::PolicyHook;
use crate::sampler::Sampler;
use crate::spec::{PolicyKind, SweepSpec};

/// The seed a sweep samples with: the spec's, or one drawn from the clock and the process
/// id (then recorded with the sweep, so it can be replayed).
pub fn resolve_seed(spec: &SweepSpec) -> u64 {
    spec.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.as_nanos() as u64 ^ u64::from(std::process::id())
    })
}

/// A sweep's moving parts, built from its spec.
///
/// ```
/// use sweep::study::{Parts, Study};
///
/// let spec = Study::builder().maximize("acc").uniform("x", 0.0, 1.0).random().seed(3)
///     .max_total_runs(5).spec()?;
/// let parts = Parts::new(&spec)?;
/// assert_eq!(parts.seed, 3);
/// assert!(parts.policy.is_none()); // no policy: nothing to evaluate
/// # Ok::<(), sweep::study::StudyError>(())
/// ```
pub struct Parts {
    /// The seed the sampler was built with.
    pub seed: u64,
    /// The candidate generator.
    pub sampler: Box<dyn Sampler>,
    /// The early-termination hook; `None` for `NoTermination`.
    pub policy: Option<PolicyHook>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("seed", &self.seed)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Parts {
    /// Builds the parts with the spec's seed (or a fresh one, see [`resolve_seed`]).
    pub fn new(spec: &SweepSpec) -> Result<Parts, StudyError> {
        Parts::with_seed(spec, resolve_seed(spec))
    }

    /// Builds the parts with a given seed (a resumed sweep uses its recorded one).
    pub fn with_seed(spec: &SweepSpec, seed: u64) -> Result<Parts, StudyError> {
        let policy = if matches!(spec.policy.kind, PolicyKind::NoTermination) {
            None
        } else {
            Some(PolicyHook::new(&spec.policy, spec.goal)?)
        };
        Ok(Parts {
            seed,
            sampler: crate::sampler::build(&spec.sampling, &spec.space, spec.goal, seed),
            policy,
        })
    }
}
