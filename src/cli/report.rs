//! `sweep report SWEEP [--out FILE]`: writes the self-contained HTML report of a sweep (plots,
//! parameter importance, a sortable runs table) from one consistent snapshot of its history;
//! it works while the sweep is still running.

use super::{CliError, CliResult, Common, IoContext};
use clap::Args;
use std::path::PathBuf;
use sweep::report::{html, ReportData};

/// `sweep report SWEEP --out report.html`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep report latest
  sweep report my-sweep --out my-sweep.html")]
pub struct ReportArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// The HTML file to write.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `sweep report`.
pub fn run(args: &ReportArgs) -> CliResult {
    let data = ReportData::load(&args.common.workspace_dir(), &args.sweep)?;
    let page = html::render(&data);
    // Written beside the target and renamed over it: a browser reloading the report never
    // sees half a file.
    let name = args
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            CliError::BadInput(format!("--out {}: not a file name", args.out.display()))
        })?;
    let tmp = args.out.with_file_name(format!(".{name}.tmp"));
    let what = || format!("cannot write the report to {}", args.out.display());
    std::fs::write(&tmp, &page).or_io(what)?;
    std::fs::rename(&tmp, &args.out).or_io(what)?;
    println!(
        "wrote {} ({:.1} KiB): sweep {} ({}), {} runs, {} plots",
        args.out.display(),
        page.len() as f64 / 1024.0,
        data.sweep.id,
        data.sweep.state,
        data.runs.len(),
        page.matches(r#"<svg class="plot""#).count()
    );
    Ok(())
}
