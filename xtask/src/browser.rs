//! The browser check of the built book: every page opened in Debian's headless Chromium.
//!
//! [`check`] copies `book/build/` to a scratch folder, puts a script that records script
//! errors at the top of every page, and opens a harness page (`browser.js`) that loads each
//! page in a 420 px wide frame and checks that:
//!
//! - the page raised no script error (nor failed to load a script or style);
//! - every diagram was drawn as an SVG without mermaid's "Syntax error", the case sequence
//!   diagrams included (each `<details>` is opened);
//! - no table, code block, diagram or rule box sticks out of the text column at 420 px (a
//!   box may scroll sideways inside itself) and the page does not scroll sideways;
//! - every strength and version badge has a contrast of at least 4.5:1 (WCAG AA) in each of
//!   mdBook's five themes;
//! - typing each rule's ID into mdBook's search box gives that rule first;
//! - the rule index's jump-to-rule box opens the rule typed into it.
//!
//! The harness writes its findings into the page, which Chromium prints with `--dump-dom`;
//! this needs no DevTools client. Chromium is started with a fresh profile and without
//! network features; `--allow-file-access-from-files` lets the harness read its frames.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The harness script.
const HARNESS_JS: &str = include_str!("browser.js");

/// Put first in every page's `<head>`: records every script error, rejected promise and
/// script or style that failed to load, in `window.__bookErrors`.
const ERROR_CATCHER: &str = "<script>window.__bookErrors = [];\
addEventListener('error', (e) => { const t = e.target; \
window.__bookErrors.push(t && t !== window && (t.src || t.href) ? 'cannot load ' + (t.src || t.href) \
: (e.message || 'error') + ' at ' + (e.filename || '?') + ':' + (e.lineno || '?')); }, true);\
addEventListener('unhandledrejection', (e) => window.__bookErrors.push('unhandled rejection: ' + e.reason));\
</script>";

/// How long the whole check may take before Chromium is stopped.
const TIME_LIMIT: Duration = Duration::from_secs(180);

/// Pages not checked: `toc.html` is the sidebar mdBook loads into every page, and
/// `404.html` links its resources from the site's root (`site-url`), which a copy on disk
/// does not have.
const SKIPPED: [&str; 2] = ["toc.html", "404.html"];

/// Runs the browser check on the book built in `root`'s `book/build/` (run
/// `cargo xtask book` first); fails listing every problem found.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let build = root.join("book/build");
    if !build.join("index.html").is_file() {
        return Err(format!(
            "{} has no built book: run `cargo xtask book` first",
            build.display()
        ));
    }
    let browser = chromium()?;
    let scratch = std::env::temp_dir().join(format!("xtask-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = run(root, &build, &scratch, &browser);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run(root: &Path, build: &Path, scratch: &Path, browser: &Path) -> Result<(), String> {
    let site = scratch.join("site");
    let mut pages = Vec::new();
    copy_site(build, &site, Path::new(""), &mut pages)?;
    pages.retain(|p| !SKIPPED.contains(&p.as_str()));
    pages.sort();
    let rules = rule_pages(root)?;
    let harness = site.join("browser-check.html");
    write(
        &harness,
        &format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>browser check</title></head><body>\n\
             <script>const PAGES = {};\nconst RULES = {};</script>\n<script>{HARNESS_JS}</script>\n</body></html>\n",
            serde_json::to_string(&pages).map_err(|e| e.to_string())?,
            serde_json::to_string(&rules).map_err(|e| e.to_string())?,
        ),
    )?;
    let profile = scratch.join("profile");
    std::fs::create_dir_all(&profile)
        .map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
    let started = Instant::now();
    let dom = dump_dom(browser, &profile, &harness)?;
    let report = result_of(&dom)?;
    let problems: Vec<String> = report["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    let stats = &report["stats"];
    let checked = format!(
        "{} pages, {} diagrams, {} badge colours, {} rule IDs searched ({:.0?})",
        stats["pages"],
        stats["diagrams"],
        stats["badges"],
        stats["searches"],
        started.elapsed()
    );
    if !problems.is_empty() {
        return Err(format!(
            "the browser check found {} problem{} in the built book ({checked}):\n{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n")
        ));
    }
    println!("browser check: {checked}: no problem");
    Ok(())
}

/// Every rule's ID with the page and anchor it lives at (`revocation.html#r-ID`).
fn rule_pages(root: &Path) -> Result<Vec<(String, String)>, String> {
    let (spec, diags) = spec_chapters::Spec::load(&root.join("book/src"));
    if !diags.is_empty() {
        return Err(format!(
            "the book's sources have {} problem(s); run `cargo xtask book`",
            diags.len()
        ));
    }
    Ok(spec
        .rules
        .values()
        .map(|r| {
            let page = r.chapter.strip_suffix(".md").unwrap_or(&r.chapter);
            (r.id.clone(), format!("{page}.html#r-{}", r.id))
        })
        .collect())
}

/// Copies the built book from `from` to `to`, adding [`ERROR_CATCHER`] to every HTML page,
/// whose path (relative to the book, with `/`) is added to `pages`.
fn copy_site(from: &Path, to: &Path, rel: &Path, pages: &mut Vec<String>) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let rel = rel.join(entry.file_name());
        if src.is_dir() {
            copy_site(&src, &dst, &rel, pages)?;
        } else if src.extension().is_some_and(|e| e == "html") {
            let html = std::fs::read_to_string(&src)
                .map_err(|e| format!("cannot read {}: {e}", src.display()))?;
            let Some(head) = html.find("<head>") else {
                return Err(format!("{} has no <head>", src.display()));
            };
            let at = head + "<head>".len();
            write(
                &dst,
                &format!("{}{ERROR_CATCHER}{}", &html[..at], &html[at..]),
            )?;
            pages.push(rel.to_string_lossy().replace('\\', "/"));
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("cannot copy {}: {e}", src.display()))?;
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Opens `page` in headless Chromium and returns the DOM once the harness is done.
fn dump_dom(browser: &Path, profile: &Path, page: &Path) -> Result<String, String> {
    let mut child = headless(browser, profile)
        .args([
            "--allow-file-access-from-files",
            // Virtual time stops the dump until the harness's timers have run; it only
            // runs ahead while the page is idle.
            "--virtual-time-budget=600000",
            "--window-size=1280,1000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", browser.display()))?;
    let mut stdout = child.stdout.take().ok_or("no stdout from Chromium")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the browser check did not finish within {TIME_LIMIT:?}; Chromium was stopped"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("cannot wait for Chromium: {e}")),
        }
    }
    reader
        .join()
        .map_err(|_| "the reader of Chromium's output panicked".to_string())?
        .map_err(|e| format!("cannot read Chromium's output: {e}"))
}

/// The harness's JSON report, from the DOM Chromium printed.
fn result_of(dom: &str) -> Result<serde_json::Value, String> {
    const OPEN: &str = "<pre id=\"browser-check-result\">";
    // The last one: the harness script names the element too.
    let start = dom.rfind(OPEN).ok_or_else(|| {
        "the browser check's harness did not finish (no result in the page Chromium printed)"
            .to_string()
    })? + OPEN.len();
    let end = dom[start..]
        .find("</pre>")
        .ok_or("the browser check's result is cut short")?;
    let json = dom[start..start + end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&json)
        .map_err(|e| format!("cannot read the browser check's result ({e}): {json:.2000}"))
}

/// Debian's Chromium, installed with apt-get (as root, or with `sudo -n`) when missing.
pub(crate) fn chromium() -> Result<PathBuf, String> {
    if let Some(path) = find_chromium() {
        return Ok(path);
    }
    host_tools::ensure(
        "headless Chromium (the browser check, screenshots)",
        &[host_tools::cmd("chromium", "chromium")],
    )?;
    find_chromium().ok_or_else(|| "chromium is installed but not on PATH".to_string())
}

/// Headless Chromium with the flags this machine needs (no sandbox as root, no network
/// traffic of its own) and a fresh profile in `profile`.
pub(crate) fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

fn find_chromium() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(|name| {
            std::env::split_paths(&paths)
                .chain([PathBuf::from("/usr/bin")])
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_is_read_from_the_printed_page() {
        let dom = r#"<script>// into <pre id="browser-check-result"></script><pre id="browser-check-result">{"problems":["a &lt;pre&gt; &amp; \"x\""],"stats":{}}</pre>"#;
        let report = result_of(dom).unwrap();
        assert_eq!(report["problems"][0], "a <pre> & \"x\"");
        assert!(result_of("<html></html>").is_err());
    }
}
