//! The spec diff on a real change of this repository's history: commit 8187570 replaced
//! `revoke.importer.unmap-unpin` with `revoke.importer.unmap-bounded` (and, at the time,
//! added no entry to `rules-history.toml`).

use std::path::{Path, PathBuf};

use spec_review::{CaseDiff, RuleDiff, Side, SpecDiff};

const CHANGE: &str = "8187570ff5066eb6a26ecdec9364067145b53934";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("spec-review lives in the workspace")
        .to_path_buf()
}

#[test]
fn a_replaced_rule_is_named_and_its_traces_diffed_without_renumbering() {
    let cache = tempfile::tempdir().expect("temp dir");
    let Ok(base) = Side::at_revision(&repo(), &format!("{CHANGE}^"), cache.path()) else {
        eprintln!("warning: commit {CHANGE} is not in this clone (shallow?); nothing checked");
        return;
    };
    let head = Side::at_revision(&repo(), CHANGE, cache.path()).expect("the change's commit");
    let diff = SpecDiff::between(&base, &head);

    assert!(diff.rules.iter().any(|r| matches!(r,
        RuleDiff::Removed { rule, retired: None } if rule.id == "revoke.importer.unmap-unpin")));
    assert!(diff.rules.iter().any(|r| matches!(r,
        RuleDiff::Added { rule } if rule.id == "revoke.importer.unmap-bounded")));
    assert_eq!(
        diff.unexplained_removals,
        vec!["revoke.importer.unmap-unpin"]
    );
    assert!(diff.cases.iter().any(|c| matches!(c,
        CaseDiff::Changed { name, rules_added, .. }
            if name == "revoke_around_reset" && rules_added.contains(&"revoke.importer.unmap-bounded".to_string()))));
    // The commit changed the restore trace; its diff must not list every later event again.
    let restore = diff
        .traces
        .iter()
        .find(|t| t.case == "restore_after_revoke")
        .expect("the restore trace changed");
    let total = head.traces["restore_after_revoke"].lines().count();
    assert!(
        restore.added + restore.removed < total,
        "the diff is not smaller than the trace:\n{}",
        restore.diff
    );
    let md = diff.markdown();
    assert!(
        md.contains("**removed** `revoke.importer.unmap-unpin`"),
        "{md}"
    );
    assert!(
        md.contains("Rule IDs removed without an alias or a retirement entry"),
        "{md}"
    );

    // The same revisions again come from the cache, not from git.
    let again = Side::at_revision(&repo(), CHANGE, cache.path()).expect("cached");
    assert_eq!(again.rules, head.rules);
}

#[test]
fn a_bad_revision_is_a_clear_error() {
    let cache = tempfile::tempdir().expect("temp dir");
    let err = Side::at_revision(&repo(), "no-such-revision", cache.path()).unwrap_err();
    assert!(
        err.contains("`no-such-revision` is not a revision"),
        "{err}"
    );
}

/// Prints the Markdown of the real change, for a person to read: `cargo test -p spec-review
/// --test history -- --ignored --nocapture show`.
#[test]
#[ignore = "prints a report to read"]
fn show() {
    let cache = tempfile::tempdir().expect("temp dir");
    let base = Side::at_revision(&repo(), &format!("{CHANGE}^"), cache.path()).expect("base");
    let head = Side::at_revision(&repo(), CHANGE, cache.path()).expect("head");
    println!("{}", SpecDiff::between(&base, &head).markdown());
}

#[test]
fn the_changes_page_lists_the_retired_id_and_counts_the_rules() {
    let cache = tempfile::tempdir().expect("temp dir");
    let page = spec_review::changes_page(&repo(), cache.path()).expect("the page");
    let head = Side::load(&repo(), "work tree").expect("the work tree");
    assert!(
        page.contains(&format!("{} rules", head.rules.len())),
        "{page}"
    );
    assert!(page.contains("| `revoke.importer.unmap-unpin` |"), "{page}");
    assert!(page.contains("## Retired rules"), "{page}");
}

/// Revisions share one build folder, and cargo rebuilds by comparing file times: extracted
/// files must carry the time of extraction, not the commit's (else an older revision
/// extracted after a newer one was built is taken as up to date, and its verdicts are the
/// newer one's).
#[test]
fn extracted_files_are_newer_than_any_earlier_build() {
    let cache = tempfile::tempdir().expect("temp dir");
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    Side::at_revision(&repo(), &format!("{CHANGE}^"), cache.path()).expect("base");
    let chapter = std::fs::read_dir(cache.path())
        .expect("cache")
        .flatten()
        .map(|e| e.path().join("files/book/src/revocation.md"))
        .find(|p| p.is_file())
        .expect("the chapter was extracted");
    let mtime = std::fs::metadata(&chapter)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert!(
        mtime > before,
        "{} kept the commit's time",
        chapter.display()
    );
}

/// The citations file came with the Linux 7.2 work: a review from before it to the work tree
/// shows each cited rule's new source.
#[test]
fn a_new_citation_is_a_change_of_the_rules_source() {
    let cache = tempfile::tempdir().expect("temp dir");
    let base = Side::at_revision(&repo(), CHANGE, cache.path()).expect("an old revision");
    let head = Side::load(&repo(), "work tree").expect("the work tree");
    let cited = &head.rules["revoke.exporter.wait-bookkeep"];
    assert!(
        cited
            .sources
            .iter()
            .any(|s| s.contains("drivers/vfio/pci/vfio_pci_dmabuf.c")
                || s.contains("drivers/dma-buf/dma-buf.c")),
        "{:?}",
        cited.sources
    );
    let diff = SpecDiff::between(&base, &head);
    assert!(diff.rules.iter().any(|r| matches!(r,
        RuleDiff::Changed { id, changed } if id == "revoke.exporter.wait-bookkeep"
            && changed.iter().any(|(f, old, _)| *f == spec_review::RuleField::Source && old.is_empty()))));
}
