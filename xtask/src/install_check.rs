//! The `install` stage of the full test run: the runner as a driver team installs it. The
//! committed revision is cloned into a temporary folder and installed from that clone's git
//! URL (`cargo install --locked --git file://...`) into a temporary root, with a build folder
//! of its own (`target/install-check`, kept between runs as a cache, built without debug info
//! to spare the disk); then the clone is deleted and the build folder moved out of reach, and
//! the installed binary is run from another temporary folder against an in-tree shim, an
//! in-tree shim in C (carried inside the binary), and a shim in C compiled there from the C
//! library's sources, as a driver's own shim is. Nothing of a checkout is left for it to lean
//! on; the build folder comes back afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `program` with `args` in `dir`; returns its standard output, or an error with both
/// outputs.
fn run_in(
    dir: &Path,
    program: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> Result<String, String> {
    eprintln!(
        "$ (in {}) {} {}",
        dir.display(),
        program.display(),
        args.join(" ")
    );
    let out = Command::new(program)
        .args(args)
        .env_remove("REVOKE_CONFORMANCE_BOOK_URL")
        .env_remove("CARGO_TARGET_DIR")
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`{} {}` failed ({}):\n{stdout}{}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The check; `root` is the checkout.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let tmp = crate::jobs::TempDir::new("revoke-spec-install")?;
    let (clone, prefix, elsewhere) = (
        tmp.0.join("clone"),
        tmp.0.join("root"),
        tmp.0.join("elsewhere"),
    );
    let build = root.join("target/install-check");
    std::fs::create_dir_all(&elsewhere).map_err(|e| format!("{}: {e}", elsewhere.display()))?;
    let git = Path::new("git");
    let rev = run_in(root, git, &["rev-parse", "HEAD"], &[])?
        .trim()
        .to_string();
    let root_url = format!("file://{}", root.display());
    run_in(
        &tmp.0,
        git,
        &["clone", "--quiet", "--no-checkout", &root_url, "clone"],
        &[],
    )?;
    run_in(&clone, git, &["checkout", "--quiet", &rev], &[])?;
    // A driver's own shim in C: the library's sources, as a user copies them.
    let user_shim = elsewhere.join("my-shim");
    let c = clone.join("shims-c/c");
    for f in ["dma-buf-shim.c", "dma-buf-shim.h", "vfio-exporter.c"] {
        std::fs::copy(c.join(f), elsewhere.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    run_in(
        &elsewhere,
        Path::new("cc"),
        &["-o", "my-shim", "vfio-exporter.c", "dma-buf-shim.c"],
        &[],
    )?;
    let url = format!("file://{}", clone.display());
    run_in(
        &tmp.0,
        Path::new("cargo"),
        &[
            "install",
            "--locked",
            "--debug",
            "--quiet",
            "--git",
            &url,
            "--rev",
            &rev,
            "--root",
            prefix.to_str().unwrap_or_default(),
            "conformance",
        ],
        &[
            ("CARGO_TARGET_DIR", &build),
            ("CARGO_PROFILE_DEV_DEBUG", Path::new("0")),
            ("CARGO_INCREMENTAL", Path::new("0")),
        ],
    )?;
    // Out of reach: the clone is deleted, the build folder moved away until the end.
    std::fs::remove_dir_all(&clone).map_err(|e| format!("{}: {e}", clone.display()))?;
    let _away = Away::new(&build)?;
    runs(&prefix, &elsewhere, &user_shim)
}

/// A folder renamed away while this lives, and renamed back when it is dropped.
struct Away {
    from: PathBuf,
    to: PathBuf,
}

impl Away {
    fn new(from: &Path) -> Result<Away, String> {
        let to = from.with_extension("away");
        let _ = std::fs::remove_dir_all(&to);
        std::fs::rename(from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
        Ok(Away {
            from: from.to_path_buf(),
            to,
        })
    }
}

impl Drop for Away {
    fn drop(&mut self) {
        let _ = std::fs::rename(&self.to, &self.from);
    }
}

/// The installed binary, run from `elsewhere`.
fn runs(prefix: &Path, elsewhere: &Path, user_shim: &Path) -> Result<(), String> {
    let bin: PathBuf = prefix.join("bin/revoke-conformance");
    let shim_cmd = user_shim.display().to_string();
    for args in [
        &["run", "--shim", "vfio-pci"][..],
        &["run", "--shim", "c-vfio-exporter"][..],
        &["run", "--shim-cmd", &shim_cmd][..],
    ] {
        let out = run_in(elsewhere, &bin, args, &[])?;
        if !out.contains("the run passes: ") {
            return Err(format!("{}: no passing run:\n{out}", args.join(" ")));
        }
    }
    // A broken shim's report links into the published book, not into a checkout.
    let report = run_in(
        elsewhere,
        &bin,
        &["run", "--shim", "broken-vfio-no-bookkeep-wait"],
        &[],
    )
    .err()
    .unwrap_or_default();
    if !report.contains("https://") || report.contains("book/build/") {
        return Err(format!(
            "the links do not point at the published book:\n{report}"
        ));
    }
    eprintln!(
        "install: the installed runner ran from {} with no checkout",
        elsewhere.display()
    );
    Ok(())
}
