//! `cargo xtask main` and `cargo xtask test`: the README's two commands, as named stages.
//!
//! Every stage says what it does before it starts and how long it took when it ends, and
//! the commands it runs stream their own output (cargo's build progress, the test names), so
//! a newcomer never watches a silent terminal for minutes. A summary of the stages closes
//! the run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A stage of a job: a name shown in the progress lines and the summary, what it does, and
/// the work.
struct Stage<'a> {
    name: &'static str,
    what: &'static str,
    work: Box<dyn FnOnce() -> Result<(), String> + 'a>,
}

impl<'a> Stage<'a> {
    fn new(
        name: &'static str,
        what: &'static str,
        work: impl FnOnce() -> Result<(), String> + 'a,
    ) -> Self {
        Stage {
            name,
            what,
            work: Box::new(work),
        }
    }
}

/// How a job treats a failed stage.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// Stop at the first failure (tests: later stages would only repeat the noise).
    Stop,
    /// Run the remaining stages, then fail (the main job builds the book even when a case
    /// failed, so the failure can be read against it).
    Continue,
}

/// Runs the stages in order, printing a line before and after each and a summary at the end.
fn run_stages(job: &str, stages: Vec<Stage<'_>>, on_failure: OnFailure) -> Result<(), String> {
    let total = stages.len();
    let started = Instant::now();
    let mut done: Vec<(&'static str, Duration, Option<String>)> = Vec::new();
    for (i, stage) in stages.into_iter().enumerate() {
        if on_failure == OnFailure::Stop && done.iter().any(|(_, _, e)| e.is_some()) {
            break;
        }
        eprintln!("\n==> [{}/{total}] {}: {}", i + 1, stage.name, stage.what);
        let t = Instant::now();
        let result = (stage.work)();
        let took = t.elapsed();
        match &result {
            Ok(()) => eprintln!("<== {}: ok in {}", stage.name, secs(took)),
            Err(e) => eprintln!("<== {}: FAILED in {}: {e}", stage.name, secs(took)),
        }
        done.push((stage.name, took, result.err()));
    }
    eprintln!("\n{job}: stages");
    for (name, took, error) in &done {
        let status = if error.is_some() { "FAILED" } else { "ok" };
        eprintln!("  {status:<6} {:>8}  {name}", secs(*took));
    }
    let skipped = total - done.len();
    if skipped > 0 {
        eprintln!("  ({skipped} later stage(s) not run after the failure)");
    }
    eprintln!("  total  {:>8}", secs(started.elapsed()));
    let failed: Vec<&str> = done
        .iter()
        .filter(|(_, _, e)| e.is_some())
        .map(|(n, _, _)| *n)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{job} failed at: {}", failed.join(", ")))
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let whole = s.round() as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Runs a command in the workspace root, echoing it; its output streams to the terminal. An
/// error names the command that failed.
pub(crate) fn run(
    root: &Path,
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Result<(), String> {
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

/// Runs a binary of the workspace's package `package` with `args` (`cargo run --quiet -p
/// PACKAGE -- ARGS`); cargo's build output still shows when it has something to build.
fn cargo_run(root: &Path, package: &str, args: &[&str]) -> Result<(), String> {
    let mut all = vec!["run", "--quiet", "-p", package, "--"];
    all.extend_from_slice(args);
    run(root, "cargo", &all, &[])
}

/// The main job: every case against every in-tree shim, then the book.
pub(crate) fn main_job(root: &Path) -> Result<(), String> {
    let stages = vec![
        Stage::new(
            "build",
            "compile the runner, the shims and the book's code (cargo shows its progress)",
            || run(root, "cargo", &["build", "-p", "conformance"], &[]),
        ),
        Stage::new(
            "suite",
            "run every case against every in-tree shim (in process and as processes)",
            || cargo_run(root, "conformance", &["run"]),
        ),
        Stage::new(
            "book",
            "build the book into book/build/ and check its internal links",
            || crate::book::build(root, root),
        ),
    ];
    run_stages("cargo xtask main", stages, OnFailure::Continue)
}

/// Which test run: the quick loop of contributors, or the complete run CI makes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestScope {
    /// Everything but what builds kernels or depends on the place of the build folder.
    Quick,
    /// Every test.
    Full,
}

/// Every test: formatting, clippy, the whole test suite with snapshot updates disabled, the
/// book build; the full run adds the macros' diagnostics with the build folder outside the
/// checkout and the kernel bridge.
pub(crate) fn test(root: &Path, scope: TestScope) -> Result<(), String> {
    let mut stages = vec![
        Stage::new("fmt", "check formatting (cargo fmt --check)", || {
            run(root, "cargo", &["fmt", "--all", "--check"], &[])
        }),
        Stage::new(
            "clippy",
            "lint every crate and target with warnings denied",
            || {
                run(
                    root,
                    "cargo",
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ],
                    &[],
                )
            },
        ),
        Stage::new(
            "tests",
            "unit, trybuild, snapshot, schema, broken-shim and out-of-process tests",
            || {
                run(
                    root,
                    "cargo",
                    &["test", "--workspace"],
                    &[("INSTA_UPDATE", "no")],
                )
            },
        ),
    ];
    stages.push(Stage::new(
        "workflows",
        "check the forge's workflow files with actionlint",
        || crate::workflows::check(root),
    ));
    if scope == TestScope::Full {
        stages.push(Stage::new(
            "trybuild-outside",
            "the macros' diagnostics with CARGO_TARGET_DIR outside the checkout",
            || trybuild_outside(root),
        ));
        // The bridge to the real kernel: the book's scenarios on the dma-buf core of Linux 7.2
        // (the merged contract) and of Linux 6.12 (CONFIG_DMABUF_MOVE_NOTIFY on and off); each
        // fails if its results differ from the committed file the book's table is rendered
        // from, or if the mutant C driver is not caught.
        for (kernel, name, what) in [
            (
                "7.2",
                "kernel-7.2",
                "build Linux 7.2 as User-Mode Linux; judge the cases on its dma-buf core",
            ),
            (
                "6.12",
                "kernel-6.12",
                "build Linux 6.12 as User-Mode Linux (move-notify on, off); judge the cases",
            ),
        ] {
            let summary = format!("book/src/kernel/linux-{kernel}.json");
            stages.push(Stage::new(name, what, move || {
                cargo_run(
                    root,
                    "conformance",
                    &["kernel", "--kernel", kernel, "--check-summary", &summary],
                )
            }));
        }
        stages.push(Stage::new(
            "install",
            "cargo install the runner from a clone's git URL; run it with the clone and build gone",
            || crate::install_check::check(root),
        ));
        stages.push(Stage::new(
            "kunit-parse",
            "the runner's KTAP read by kunit.py parse of Linux 7.2 (a passing and a failing run)",
            || crate::kunit_parse::check(root),
        ));
        stages.push(Stage::new(
            "real-drivers",
            "boot Linux 7.2 (x86_64) under QEMU; judge its real VFIO and iommufd drivers",
            || {
                cargo_run(
                    root,
                    "real-drivers",
                    &[
                        "run",
                        "--check-recorded",
                        "real-drivers/tests/fixtures/console-7.2.13.log",
                    ],
                )
            },
        ));
        stages.push(Stage::new(
            "citations",
            "check every rule's citation of the Linux 7.2 source against the 7.2 tree",
            || {
                cargo_run(
                    root,
                    "conformance",
                    &[
                        "kernel",
                        "--kernel",
                        "7.2",
                        "--check-citations",
                        "book/src/kernel/citations.json",
                    ],
                )
            },
        ));
    }
    stages.push(Stage::new(
        "book",
        "build the book and check its internal links",
        || crate::book::build(root, root),
    ));
    if scope == TestScope::Full {
        stages.push(Stage::new(
            "browser",
            "read the built book in headless Chromium (installed if missing)",
            || crate::browser::check(root),
        ));
    }
    let job = match scope {
        TestScope::Quick => "cargo xtask test --quick",
        TestScope::Full => "cargo xtask test",
    };
    run_stages(job, stages, OnFailure::Stop)
}

/// Runs the compile-fail tests of the macros with the build folder in a temporary folder
/// outside the checkout: the macros must find the book wherever build outputs live.
fn trybuild_outside(root: &Path) -> Result<(), String> {
    let dir = TempDir::new("revoke-spec-target")?;
    let target = dir.0.to_string_lossy().into_owned();
    // From another current folder too: nothing may depend on where cargo is started.
    let elsewhere = std::env::temp_dir();
    let manifest = root.join("Cargo.toml");
    eprintln!(
        "$ (cd {}) CARGO_TARGET_DIR={target} cargo test --manifest-path {} -p spec-macros --test compile_fail",
        elsewhere.display(),
        manifest.display()
    );
    let status = Command::new("cargo")
        .args(["test", "--manifest-path"])
        .arg(&manifest)
        .args(["-p", "spec-macros", "--test", "compile_fail"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&elsewhere)
        .status()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the trybuild tests failed with CARGO_TARGET_DIR={target} ({status})"
        ))
    }
}

/// A folder removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
