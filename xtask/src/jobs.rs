//! `cargo xtask main` and `cargo xtask test`: the README's two commands.

use std::path::Path;
use std::process::Command;

/// Runs a command in the workspace root, echoing it; an error names the command that failed.
fn run(root: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    eprintln!(
        "$ {}{program} {}",
        envs.iter()
            .map(|(k, v)| format!("{k}={v} "))
            .collect::<String>(),
        args.join(" ")
    );
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// The main job: every case against the reference implementation, then the book.
pub(crate) fn main_job(root: &Path) -> Result<(), String> {
    let suite = run(
        root,
        "cargo",
        &["run", "--quiet", "-p", "conformance", "--", "run"],
        &[],
    );
    // Build the book even when a case failed, so the failure can be read against it.
    crate::book::build(root, root)?;
    suite
}

/// Every test: formatting, clippy, the whole test suite with snapshot updates disabled, and
/// the book build.
pub(crate) fn test(root: &Path) -> Result<(), String> {
    run(root, "cargo", &["fmt", "--all", "--check"], &[])?;
    run(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run(
        root,
        "cargo",
        &["test", "--workspace"],
        &[("INSTA_UPDATE", "no")],
    )?;
    // The bridge to the real kernel: the book's scenarios on Linux 6.12's dma-buf core, with
    // CONFIG_DMABUF_MOVE_NOTIFY on and off; fails if the results differ from the committed
    // file the book's table is rendered from, or if the mutant C driver is not caught.
    run(
        root,
        "cargo",
        &[
            "run",
            "--quiet",
            "-p",
            "conformance",
            "--",
            "kernel",
            "--check-summary",
            "book/src/kernel/linux-6.12.json",
        ],
        &[],
    )?;
    crate::book::build(root, root)
}
