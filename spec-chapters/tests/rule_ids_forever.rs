//! Rule IDs are forever: every ID that ever named a rule in the book's history is still a rule,
//! an alias of one, or retired with a reason in `book/rules-history.toml`.
//!
//! The history read is every commit reachable from `HEAD` (so the last release tag and the
//! merge base with any branch are covered), through `git log -p` over `book/src`. A line that
//! adds `r[...]` in a diff is a candidate; a candidate the book no longer explains is checked
//! against the chapter as it was in that commit, with the same reader the macros use, so an
//! `r[...]` inside a code block or an example does not count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use spec_chapters::Spec;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("spec-chapters lives in the workspace")
        .to_path_buf()
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(workspace())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every `r[id ...]` line added in a commit under `book/src`: ID -> (commit, chapter path).
fn added_markers() -> BTreeMap<String, (String, String)> {
    let log = git(&[
        "log",
        "-p",
        "--no-ext-diff",
        "--no-color",
        "--format=commit %H",
        "--",
        "book/src",
    ])
    .expect("git log over book/src");
    let mut found = BTreeMap::new();
    let (mut commit, mut path) = (String::new(), String::new());
    for line in log.lines() {
        if let Some(c) = line.strip_prefix("commit ") {
            commit = c.to_string();
        } else if let Some(p) = line.strip_prefix("+++ b/") {
            path = p.to_string();
        } else if let Some(inside) = line.strip_prefix("+r[").and_then(|l| l.strip_suffix(']')) {
            let id = inside.split_whitespace().next().unwrap_or_default();
            // `git log` lists the newest commits first: keep the oldest that added the ID.
            found.insert(id.to_string(), (commit.clone(), path.clone()));
        }
    }
    found
}

/// Whether `id` was a rule of the chapter `path` as it was in `commit`.
fn was_rule(id: &str, commit: &str, path: &str) -> bool {
    let Some(source) = git(&["show", &format!("{commit}:{path}")]) else {
        return false;
    };
    let rel = path.strip_prefix("book/src/").unwrap_or(path).to_string();
    let mut spec = Spec::default();
    let mut diags = Vec::new();
    spec.add_chapter(rel, source, &mut diags);
    spec.rules.contains_key(id)
}

#[test]
fn no_rule_id_disappears() {
    if git(&["rev-parse", "--is-shallow-repository"]).as_deref() == Some("true\n") {
        // A shallow clone (some CI systems make one) holds only part of the history: check
        // that part, and say so.
        eprintln!(
            "warning: this clone is shallow; rule IDs are checked against the commits it has only \
             (`git fetch --unshallow` for the whole history)"
        );
    }
    let (spec, diags) = Spec::load(&workspace().join("book/src"));
    assert!(diags.is_empty(), "the book has diagnostics: {diags:?}");
    let explained = |id: &str| {
        spec.rules.contains_key(id)
            || spec.history.aliases.contains_key(id)
            || spec.history.retired.contains_key(id)
    };
    let markers = added_markers();
    assert!(
        markers.len() >= spec.rules.len(),
        "the history names fewer rule IDs ({}) than the book has ({}): is this a git checkout?",
        markers.len(),
        spec.rules.len()
    );
    let lost: Vec<String> = markers
        .iter()
        .filter(|(id, _)| !explained(id))
        .filter(|(id, (commit, path))| was_rule(id, commit, path))
        .map(|(id, (commit, path))| format!("`{id}` (added in {} to {path})", &commit[..12]))
        .collect();
    assert!(
        lost.is_empty(),
        "rule IDs disappeared without an alias or a retirement entry in book/rules-history.toml:\n  {}\n\
         A renamed rule goes under [aliases] (\"old.id\" = \"new.id\"); a deleted or changed-meaning one under [retired] with the reason.",
        lost.join("\n  ")
    );
}

#[test]
fn every_alias_leads_to_a_rule() {
    let (spec, _) = Spec::load(&workspace().join("book/src"));
    for (old, new) in &spec.history.aliases {
        assert!(
            spec.rules.contains_key(new),
            "alias `{old}` -> `{new}`: `{new}` is not a rule of the book"
        );
    }
}
