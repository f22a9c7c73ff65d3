//! Config fuzzing, run with the other tests in bounded time: arbitrary and mutated configs
//! never panic the reader, never take more than [`MEMORY_BOUND`] while being read, and every
//! rejection carries at least one located diagnostic (`file:line:col`); a config that is
//! accepted can be run (its sampler proposes finite values that a command line can carry).
//! The same holds through the `sweep validate` binary, under an address-space limit.

use crate::support::{repo, sweep_command, Ran};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use sweep::config::{self, diag::Severity};
use sweep::sampler::Proposal;
use sweep::space::Value;

/// The most memory reading one config may take (a few KB of text; an alias bomb is cut at
/// its bound well below this).
const MEMORY_BOUND: usize = 64 << 20;

/// Counts the bytes each thread has allocated and not freed, and its peak, so a test can
/// measure what one call takes while other tests run on other threads.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get().saturating_add(n);
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn shrank(n: usize) {
    // Memory freed by another thread than the one that took it only lowers the count.
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: every call is passed to the system allocator unchanged; only counters move.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most memory it held at once on this thread.
pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    (out, PEAK.with(Cell::get).saturating_sub(start))
}

/// Reads `text` as `fuzz.yml` and checks the properties; the error says which failed.
fn check(text: &str) -> Result<(), String> {
    let (loaded, peak) =
        peak_of(|| config::load_str("fuzz.yml", text, Path::new("fuzz.yml"), None));
    if peak > MEMORY_BOUND {
        return Err(format!("reading took {peak} bytes"));
    }
    match loaded {
        Err(p) => {
            let located = p
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error && d.span.is_some());
            if !located || !p.rendered.contains("fuzz.yml:") {
                return Err(format!("rejected without a located error:\n{}", p.rendered));
            }
            Ok(())
        }
        Ok(l) => runnable(&l.spec),
    }
}

/// What `sweep run` does first with an accepted config, short of launching: the sampler's
/// first proposals, every value finite and passable as an argument.
fn runnable(spec: &sweep::spec::SweepSpec) -> Result<(), String> {
    let mut sampler = sweep::sampler::build(&spec.sampling, &spec.space, spec.goal, 1);
    let n = spec.limits.max_total_runs.clamp(1, 3) as usize;
    let candidates = match sampler.propose(&[], &[], n) {
        Proposal::Candidates(c) => c,
        other => return Err(format!("first proposal of {spec:?}: {other:?}")),
    };
    for p in &candidates {
        for (name, v) in p.iter() {
            let ok = match v {
                Value::Float(x) => x.is_finite(),
                Value::Str(s) => !s.contains('\0'),
                _ => true,
            };
            if !ok || name.contains('\0') {
                return Err(format!("{name} = {v:?} cannot reach a run"));
            }
        }
    }
    let _ = sweep::engine::limit_duration(spec.limits.max_duration_minutes * 60.0);
    Ok(())
}

/// The example configs (v1 and v2), the texts mutations start from.
fn examples() -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// Values that have broken readers before: empty ones, non-finite and out-of-range
/// numbers, extreme integers, a NUL, aliases, wrong types.
const HOSTILE: &[&str] = &[
    "",
    "~",
    "null",
    ".inf",
    "-.inf",
    ".nan",
    "1e309",
    "1e20",
    "1e300",
    "-1",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "5e-324",
    "\"a\\0b\"",
    "[]",
    "{}",
    "[1e300, 1e-300, 1e-300]",
    "[-1.7976931348623157e308, 1.7976931348623157e308]",
    "[0, 40, 1]",
    "[1000, 1]",
    "[9223372036854775807]",
    "[0, 1e18, 1]",
    "[0, 1, 5e-324]",
    "&x [1, 2]",
    "*x",
    "yes",
    "'quoted'",
];

/// A line-level mutation of a config.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value of the line's `key:` (or the whole line) by a hostile value.
    Value(usize, &'static str),
    /// Remove the line.
    Delete(usize),
    /// Write the line twice.
    Duplicate(usize),
    /// Indent the line by two more spaces.
    Indent(usize),
}

fn mutate(text: &str, muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in muts {
        if lines.is_empty() {
            break;
        }
        match m {
            Mutation::Value(i, v) => {
                let i = i % lines.len();
                let l = &lines[i];
                lines[i] = match l
                    .find(": ")
                    .or_else(|| l.strip_suffix(':').map(|s| s.len()))
                {
                    Some(at) => format!("{}: {v}", &l[..at]),
                    None => format!("{l} {v}"),
                };
            }
            Mutation::Delete(i) => {
                let i = i % lines.len();
                lines.remove(i);
            }
            Mutation::Duplicate(i) => {
                let i = i % lines.len();
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            Mutation::Indent(i) => {
                let i = i % lines.len();
                lines[i] = format!("  {}", lines[i]);
            }
        }
    }
    lines.join("\n") + "\n"
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = 0usize..200;
    prop_oneof![
        4 => (line.clone(), prop::sample::select(HOSTILE)).prop_map(|(i, v)| Mutation::Value(i, v)),
        1 => line.clone().prop_map(Mutation::Delete),
        1 => line.clone().prop_map(Mutation::Duplicate),
        1 => line.prop_map(Mutation::Indent),
    ]
}

/// YAML-like text from config keys and hostile values, indented at random.
fn arbitrary_yaml() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "sampling:",
        "type:",
        "parameter_space:",
        "- name:",
        "expression:",
        "values:",
        "policy:",
        "slack_factor:",
        "evaluation_interval:",
        "primary_metric_name:",
        "primary_metric_goal:",
        "max_total_runs:",
        "max_concurrent_runs:",
        "max_duration_minutes:",
        "search_space:",
        "objective:",
        "limits:",
        "trial:",
        "timeout:",
        "trial_timeout:",
        "x: &a",
        "y: *a",
        "- *a",
    ]);
    let words = prop::sample::select(vec![
        "random",
        "grid",
        "bayesian",
        "uniform",
        "choice",
        "randint",
        "quniform",
        "qloguniform",
        "lognormal",
        "qnormal",
        "Maximize",
        "acc",
        "BanditPolicy",
    ]);
    let value = prop_oneof![
        prop::sample::select(HOSTILE).prop_map(str::to_string),
        words.prop_map(str::to_string)
    ];
    prop::collection::vec((0usize..4, keys, value), 0..30).prop_map(|lines| {
        lines
            .iter()
            .map(|(indent, k, v)| format!("{}{k} {v}\n", "  ".repeat(*indent)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn mutated_examples_are_read_safely(
        which in 0usize..64,
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let bases = examples();
        let text = mutate(&bases[which % bases.len()], &muts);
        if let Err(e) = check(&text) {
            prop_assert!(false, "{e}\n--- config:\n{text}");
        }
    }

    #[test]
    fn arbitrary_configs_are_read_safely(text in arbitrary_yaml()) {
        if let Err(e) = check(&text) {
            prop_assert!(false, "{e}\n--- config:\n{text}");
        }
    }
}

#[test]
fn every_blanked_value_of_every_example_is_located() {
    // Each `key: value` line of each example with its value left out, as `~` and as
    // `null`: whatever is rejected says where.
    let mut variants = 0;
    for base in examples() {
        let lines: Vec<&str> = base.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(at) = l.find(": ") else { continue };
            if l.trim_start().starts_with('#') {
                continue;
            }
            for blank in ["", " ~", " null"] {
                let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
                v[i] = format!("{}:{blank}", &l[..at]);
                let text = v.join("\n") + "\n";
                variants += 1;
                if let Err(e) = check(&text) {
                    panic!("{e}\n--- config:\n{text}");
                }
            }
        }
    }
    assert!(variants >= 300, "only {variants} variants");
}

/// `sweep validate fuzz.yml` in a fresh directory, its address space limited to 1 GiB.
fn validate_limited(text: &str) -> Ran {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fuzz.yml"), text).unwrap();
    let mut cmd = sweep_command();
    cmd.arg("validate").arg("fuzz.yml").current_dir(dir.path());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let gib = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &gib) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    Ran(cmd.output().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn sweep_validate_exits_0_or_2_with_a_location(
        which in 0usize..64,
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let bases = examples();
        let text = mutate(&bases[which % bases.len()], &muts);
        let ran = validate_limited(&text);
        match ran.exit_code() {
            Some(0) => {}
            Some(2) => {
                let located = ran.stderr().lines().any(|l| {
                    l.trim_start()
                        .strip_prefix("--> fuzz.yml:")
                        .is_some_and(|rest| rest.split(':').all(|n| n.parse::<u32>().is_ok()))
                });
                prop_assert!(located, "exit 2 without a location:\n{}\n--- config:\n{text}", ran.text());
            }
            _ => prop_assert!(false, "{}\n--- config:\n{text}", ran.text()),
        }
    }
}
