//! `cargo xtask book`: builds the book with mdBook run in-process, and `cargo xtask
//! screenshot`: renders a built page to a PNG to look at.
//!
//! The build registers the `revoke-spec` preprocessor (crate `book-preprocessor`) and the
//! `mermaid` preprocessor (crate `mdbook-mermaid`) as libraries, so no mdBook tool needs to be
//! installed. mdbook-mermaid's library has no install step, and its binary's `install`
//! subcommand would edit `book.toml`; so the build copies the mermaid script that the crate
//! ships (`src/bin/assets/mermaid.min.js`, found through `cargo metadata`, so always the
//! locked version) into the built book, as `book/theme-js/mermaid.min.js`, where
//! `book/theme/diagrams.js` loads it on the pages that draw a diagram (and only there: it is
//! 2.6 MB). The crate's `mermaid-init.js` is not used; `diagrams.js` does its work.
//!
//! The screenshot is taken with headless Chromium (`apt-get install -y chromium`); the
//! command `cargo xtask screenshot revocation.html#seq-restore_after_revoke /tmp/r.png` runs:
//!
//! ```console
//! chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
//!   --disable-background-networking --disable-component-update --disable-sync \
//!   --hide-scrollbars --virtual-time-budget=5000 --window-size=1280,1600 \
//!   --user-data-dir=$TMP/xtask-chromium-PID --screenshot=/tmp/r.png \
//!   file://$TMP/xtask-chromium-PID/frame.html
//! ```
//!
//! where `frame.html` shows `file:///<workspace>/book/build/revocation.html#seq-...` in an
//! `<iframe>` of the window's size: headless Chromium draws a page that was scrolled (to a
//! fragment, or by a script) blank, but draws a scrolled frame right. A fragment naming a
//! case's sequence diagram (`#seq-NAME`, `#seq-NAME-VARIANT`) opens it.
//! `--virtual-time-budget` lets mermaid's script draw the diagrams before the picture is
//! taken; `--no-sandbox` is needed when running as root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use book_preprocessor::RevokeSpecPreprocessor;
use mdbook_driver::MDBook;
use mdbook_mermaid::Mermaid;

/// Where the mermaid script is written, relative to the built book (`diagrams.js` loads it
/// from there).
const MERMAID_JS: &str = "book/theme-js/mermaid.min.js";
/// The book's own scripts, relative to the workspace root: `diagrams.js` loads mermaid and
/// frames the diagrams, `sequence.js` draws the case sequence diagrams when their `<details>`
/// are opened, `rules.js` runs the rule index's jump-to-rule box.
const THEME_JS: [&str; 3] = [
    "book/theme/diagrams.js",
    "book/theme/sequence.js",
    "book/theme/rules.js",
];

/// Builds the book whose `book.toml` is in `root` into its `build-dir`; `workspace` is where
/// to look up the locked mdbook-mermaid (normally both are the workspace root).
///
/// Fails on any diagnostic of the spec (the preprocessor lists them all), on any warning of
/// mdBook (such as unbalanced HTML in a chapter), which is shown on stderr, and on any
/// internal link of the built pages that does not resolve ([`crate::links`]), listing them
/// all.
pub(crate) fn build(workspace: &Path, root: &Path) -> Result<(), String> {
    let warned = show_mdbook_warnings();
    let mut book = MDBook::load(root).map_err(|e| format!("cannot load the book: {e:#}"))?;
    check_scripts_listed(&book)?;
    let mutants = generated_mutants_table(workspace)?;
    let monitors = generated(workspace, &["monitors", "--format", "markdown"])?;
    let monitor_code = crate::monitor_code::monitor_code(
        workspace,
        &crate::monitor_code::rules_with_monitors(&monitors),
    )?;
    let monitors = crate::monitor_code::link_rows(&monitors);
    // What each release changed, rule by rule, from the repository's tags and history file.
    let changes = spec_review::changes_page(workspace, &workspace.join("target/spec-diff"))
        .map_err(|e| format!("cannot generate the Changes page: {e}"))?;
    book.with_preprocessor(
        RevokeSpecPreprocessor::new()
            .with_generated("{{#mutants}}", mutants)
            .with_generated("{{#monitors}}", monitors)
            .with_generated("{{#monitor-code}}", monitor_code)
            .with_generated("{{#changes}}", changes),
    );
    book.with_preprocessor(Mermaid);
    book.build()
        .map_err(|e| format!("the book was not built: {e:#}"))?;
    if warned.load(Ordering::Relaxed) {
        return Err("mdBook warned about the book (see above)".to_string());
    }
    let build_dir = root.join(&book.config.build.build_dir);
    install_mermaid(workspace, &build_dir)?;
    let site_url = book
        .config
        .html_config()
        .and_then(|html| html.site_url)
        .unwrap_or_else(|| "/".to_string());
    crate::links::check(&build_dir, &site_url)?;
    println!("book built: {}", build_dir.join("index.html").display());
    Ok(())
}

/// Shows mdBook's warnings and errors (it logs with `tracing`) on stderr; the flag returned is
/// set once one has been shown.
fn show_mdbook_warnings() -> Arc<AtomicBool> {
    let warned = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&warned);
    // Only the first call in a process installs the subscriber.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .without_time()
        .with_target(false)
        .with_writer(move || {
            flag.store(true, Ordering::Relaxed);
            std::io::stderr()
        })
        .try_init();
    warned
}

/// Copies mdbook-mermaid's `mermaid.min.js` into the built book, at [`MERMAID_JS`].
fn install_mermaid(workspace: &Path, build_dir: &Path) -> Result<(), String> {
    let from = mermaid_crate_dir(workspace)?.join("src/bin/assets/mermaid.min.js");
    let to = build_dir.join(MERMAID_JS);
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::copy(&from, &to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// The source folder of the `mdbook-mermaid` package locked by the workspace.
fn mermaid_crate_dir(workspace: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cannot read cargo metadata's output: {e}"))?;
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "mdbook-mermaid")
        .and_then(|p| p["manifest_path"].as_str())
        .and_then(|m| Path::new(m).parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| "mdbook-mermaid is not in the dependency graph".to_string())
}

/// Fails unless `book.toml` loads the book's own scripts.
fn check_scripts_listed(book: &MDBook) -> Result<(), String> {
    let html = book.config.html_config().unwrap_or_default();
    for path in THEME_JS.iter().map(PathBuf::from) {
        if !html.additional_js.contains(&path) {
            return Err(format!(
                "book.toml: [output.html] additional-js must list \"{}\"",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Renders `page` (a path under the build folder, or an existing file, optionally with a
/// `#fragment`) with headless Chromium into the PNG `out`.
pub(crate) fn screenshot(root: &Path, page: &str, out: &Path) -> Result<(), String> {
    let (file, fragment) = match page.split_once('#') {
        Some((file, fragment)) => (file, format!("#{fragment}")),
        None => (page, String::new()),
    };
    let file = if Path::new(file).is_file() {
        PathBuf::from(file)
    } else {
        root.join("book/build").join(file)
    };
    let file = file
        .canonicalize()
        .map_err(|e| format!("{}: {e} (run `cargo xtask book` first)", file.display()))?;
    let out = std::path::absolute(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let browser = crate::browser::chromium()?;
    let profile = std::env::temp_dir().join(format!("xtask-chromium-{}", std::process::id()));
    // Headless Chromium draws a page that was scrolled (to a fragment, or by a script) blank,
    // but draws it right in a frame of the window's size: the picture is of a scratch page
    // holding the page in such a frame.
    std::fs::create_dir_all(&profile)
        .map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
    let frame = profile.join("frame.html");
    std::fs::write(
        &frame,
        frame_page(&format!("file://{}{fragment}", file.display())),
    )
    .map_err(|e| format!("cannot write {}: {e}", frame.display()))?;
    let url = format!("file://{}", frame.display());
    let status = crate::browser::headless(&browser, &profile)
        .arg("--virtual-time-budget=5000")
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .arg(format!("--screenshot={}", out.display()))
        .arg(&url)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", browser.display()));
    // The profile is a scratch folder of this run only.
    let _ = std::fs::remove_dir_all(&profile);
    if !status?.success() {
        return Err(format!(
            "{} failed to take the screenshot",
            browser.display()
        ));
    }
    println!("screenshot: {}", out.display());
    Ok(())
}

/// The window's size for a screenshot, in CSS pixels.
const WINDOW: (u32, u32) = (1280, 1600);

/// A page showing `url` in a frame as large as the screenshot's window.
fn frame_page(url: &str) -> String {
    let url = url.replace('&', "&amp;").replace('"', "&quot;");
    let (width, height) = WINDOW;
    format!(
        "<!doctype html>\n<html><body style=\"margin:0\"><iframe src=\"{url}\" \
         style=\"display:block;border:0;width:{width}px;height:{height}px\"></iframe></body></html>\n"
    )
}

/// The table of what the suite catches, as `revoke-conformance mutants --format markdown`
/// prints it.
/// What `revoke-conformance ARGS` prints, for a generated part of the book.
fn generated(workspace: &Path, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("cargo")
        .args(["run", "--quiet", "-p", "conformance", "--"])
        .args(args)
        .current_dir(workspace)
        .output()
        .map_err(|e| format!("cannot run `revoke-conformance {}`: {e}", args.join(" ")))?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(format!(
            "`revoke-conformance {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn generated_mutants_table(workspace: &Path) -> Result<String, String> {
    let out = std::process::Command::new("cargo")
        .args([
            "run",
            "--quiet",
            "-p",
            "conformance",
            "--",
            "mutants",
            "--format",
            "markdown",
        ])
        .current_dir(workspace)
        .output()
        .map_err(|e| format!("cannot run the mutants table: {e}"))?;
    if out.stdout.is_empty() {
        return Err(format!(
            "`revoke-conformance mutants` printed nothing: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // A missed broken shim still renders (as MISSED); the test suite fails on it.
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
