//! `spec-diff` and `compare`: reviewing a change of the spec, and a change of a driver's
//! results (the work is done by the `spec-review` crate).

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, ValueEnum};
use spec_review::{Comparison, Side, SpecDiff, Verdicts};

use crate::cli::{CliError, Exit};

/// Output formats of `spec-diff` and `compare`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReviewFormat {
    /// Markdown, for a pull request comment, a job summary or a terminal.
    Markdown,
    /// JSON.
    Json,
}

/// Arguments of `spec-diff`.
#[derive(Args, Debug)]
pub struct SpecDiffArgs {
    /// The base revision (a branch, tag or commit of the repository).
    pub base: String,
    /// The head revision; the work tree, uncommitted changes included, when omitted.
    pub head: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReviewFormat::Markdown)]
    pub format: ReviewFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Compare rules, cases and blessed traces only: build nothing, run no shim.
    #[arg(long)]
    pub no_verdicts: bool,
    /// Where revisions are extracted, built and their verdicts kept (default:
    /// `<repository>/target/spec-diff`); a revision already there is not built again.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// Arguments of `compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The older result file (`run --format json`).
    pub old: PathBuf,
    /// The newer result file.
    pub new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReviewFormat::Markdown)]
    pub format: ReviewFormat,
}

/// The top folder of the git checkout holding the current folder.
fn repository() -> Result<PathBuf, String> {
    let out = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(
            "spec-diff compares revisions of the revoke-spec repository: run it inside a git checkout of it"
                .to_string(),
        );
    }
    let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !root.join("book.toml").is_file() {
        return Err(format!(
            "{} is not a checkout of revoke-spec (no book.toml)",
            root.display()
        ));
    }
    Ok(root)
}

fn write_out(output: Option<&Path>, text: &str) -> Result<(), CliError> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| CliError::Fatal(format!("cannot write {}: {e}", path.display()))),
        None => crate::cli::print(text),
    }
}

/// Runs `spec-diff`: exit status 0, or 1 when a rule ID disappeared with neither an alias nor
/// a retirement entry (IDs are forever).
pub fn spec_diff(args: SpecDiffArgs) -> Result<Exit, CliError> {
    let repo = repository()?;
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| repo.join("target/spec-diff"));
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let mut base = Side::at_revision(&repo, &args.base, &cache)?;
    let mut head = match &args.head {
        Some(rev) => Side::at_revision(&repo, rev, &cache)?,
        None => Side::load(&repo, "work tree")?,
    };
    if !args.no_verdicts {
        base = base.with_verdicts_at(&repo, &args.base, &cache);
        head = match &args.head {
            Some(rev) => head.with_verdicts_at(&repo, rev, &cache),
            None => head.with_verdicts(Verdicts::compute(&repo, None)),
        };
    }
    let diff = SpecDiff::between(&base, &head);
    let text = match args.format {
        ReviewFormat::Markdown => diff.markdown(),
        ReviewFormat::Json => {
            serde_json::to_string_pretty(&diff).map_err(|e| CliError::Fatal(e.to_string()))? + "\n"
        }
    };
    write_out(args.output.as_deref(), &text)?;
    Ok(Exit::passed_if(diff.unexplained_removals.is_empty()))
}

/// Runs `compare`: exit status 0 when no case regressed, 1 when one did.
pub fn compare(args: CompareArgs) -> Result<Exit, CliError> {
    let read = |p: &Path| -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a result file: {e}", p.display()))
    };
    let c = Comparison::of_results(&read(&args.old)?, &read(&args.new)?)?;
    let text = match args.format {
        ReviewFormat::Markdown => c.markdown(),
        ReviewFormat::Json => {
            serde_json::to_string_pretty(&c).map_err(|e| CliError::Fatal(e.to_string()))? + "\n"
        }
    };
    write_out(None, &text)?;
    Ok(Exit::passed_if(c.regressed == 0))
}
