//! The Python files every run gets on its `PYTHONPATH` (`<run_dir>/python`), so unchanged
//! Azure ML scripts report to sweep: `azureml.core.Run` for scripts written for HyperDrive
//! (used only where azureml-core is not installed: the `azureml` package puts a real
//! installation first), and the `sweep:` MLflow tracking store, found by MLflow through
//! the `mlflow.tracking_store` entry point of the `*.dist-info` beside it. Both append
//! metric-protocol lines to the run's metrics file, which every target already reads. The
//! files are standard-library Python (the store imports only `mlflow` itself), kept in
//! `src/target/pyshim/` and compiled into sweep.

use std::path::Path;

/// The run-directory entry that holds the files (on the run's `PYTHONPATH`).
pub const DIR: &str = "python";

/// The value of `MLFLOW_TRACKING_URI` that selects the store.
pub const MLFLOW_URI: &str = "sweep:run";

/// Every file, as a path below [`DIR`] and its contents.
pub const FILES: &[(&str, &str)] = &[
    (
        "_sweep_run/__init__.py",
        include_str!("pyshim/_sweep_run/__init__.py"),
    ),
    (
        "_sweep_run/mlflow_store.py",
        include_str!("pyshim/_sweep_run/mlflow_store.py"),
    ),
    (
        "azureml/__init__.py",
        include_str!("pyshim/azureml/__init__.py"),
    ),
    (
        "azureml/core/__init__.py",
        include_str!("pyshim/azureml/core/__init__.py"),
    ),
    (
        "azureml/core/run.py",
        include_str!("pyshim/azureml/core/run.py"),
    ),
    (
        "sweep_run_mlflow-1.0.dist-info/METADATA",
        include_str!("pyshim/sweep_run_mlflow-1.0.dist-info/METADATA"),
    ),
    (
        "sweep_run_mlflow-1.0.dist-info/entry_points.txt",
        include_str!("pyshim/sweep_run_mlflow-1.0.dist-info/entry_points.txt"),
    ),
];

/// Writes the files into `dir` (a run's [`DIR`]).
pub fn install(dir: &Path) -> std::io::Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// The end marker of the here-documents of [`shell_lines`].
const EOF_MARK: &str = "SWEEP_PYSHIM_EOF";

/// Shell lines writing the files below `"$RUN"/python` (for a run on an SSH host): one
/// quoted here-document each, so nothing in them is expanded.
pub fn shell_lines() -> String {
    let mut s = String::new();
    for (name, text) in FILES {
        let path = format!("\"$RUN\"/{DIR}/{name}");
        if let Some((parent, _)) = path.rsplit_once('/') {
            s.push_str(&format!("mkdir -p {parent}\n"));
        }
        s.push_str(&format!("cat > {path} <<'{EOF_MARK}'\n{text}"));
        if !text.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(EOF_MARK);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_files_are_the_compiled_ones_and_here_documents_hold_them_whole() {
        let d = tempfile::tempdir().unwrap();
        install(d.path()).unwrap();
        for (name, text) in FILES {
            assert_eq!(&std::fs::read_to_string(d.path().join(name)).unwrap(), text);
            assert!(
                !text.lines().any(|l| l == EOF_MARK),
                "{name} holds the here-document end marker"
            );
        }
        // The shell writes the same bytes.
        let script = format!("RUN={}\n{}", d.path().join("sh").display(), shell_lines());
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap();
        assert!(st.success());
        for (name, text) in FILES {
            let got = std::fs::read_to_string(d.path().join("sh").join(DIR).join(name)).unwrap();
            assert_eq!(&got, text, "{name}");
        }
    }
}
