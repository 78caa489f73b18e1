//! The `kunit-parse` stage of the full test run: the KTAP the runner writes, read by the
//! kernel's own parser (`tools/testing/kunit/kunit.py parse`) from the Linux 7.2 tree the
//! kernel stage downloaded and extracted. `cargo test` cannot depend on that download, so the
//! test that does it is ignored there and run here, where a missing tree is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The test of `conformance/tests/suite/cli.rs` that runs `kunit.py parse`.
const TEST: &str = "cli::kunit_parse_reads_the_ktap_as_the_run_ends";

/// The Linux 7.2 tree the kernel stage extracted under `target/kernel/src/`.
fn tree(root: &Path) -> Result<PathBuf, String> {
    let src = root.join("target/kernel/src/linux-source-7.2");
    let mut candidates = vec![src.clone()];
    if let Ok(entries) = std::fs::read_dir(&src) {
        candidates.extend(entries.flatten().map(|e| e.path()));
    }
    candidates
        .into_iter()
        .find(|t| t.join("tools/testing/kunit/kunit.py").is_file())
        .ok_or_else(|| {
            format!(
                "no Linux 7.2 tree with tools/testing/kunit/kunit.py under {} (the kernel-7.2 stage extracts it)",
                src.display()
            )
        })
}

/// Runs the ignored test with the tree; fails unless exactly that one test ran and passed.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let tree = tree(root)?;
    eprintln!("kunit-parse: kunit.py of {}", tree.display());
    let out = Command::new("cargo")
        .args(["test", "-p", "conformance", "--test", "suite", TEST])
        .args(["--", "--ignored", "--exact"])
        .env("REVOKE_SPEC_KUNIT_TREE", &tree)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && stdout.contains("test result: ok. 1 passed") {
        eprintln!("kunit-parse: {TEST} passed");
        Ok(())
    } else {
        Err(format!(
            "{TEST} did not pass ({}):\n{stdout}{stderr}",
            out.status
        ))
    }
}
