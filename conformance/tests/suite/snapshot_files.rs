//! Every snapshot file belongs to a case variant of the book, and every case variant has one:
//! a renamed or deleted case leaves no orphan behind (`--unreferenced=reject` in one test).

use std::collections::BTreeSet;

#[test]
fn snapshots_match_cases_exactly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("tests/snapshots exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let expected: BTreeSet<String> = conformance::spec()
        .cases
        .iter()
        .flat_map(|c| {
            c.variants.iter().map(move |v| {
                if v.label.is_empty() {
                    format!("{}.snap", c.name)
                } else {
                    format!("{}__{}.snap", c.name, v.label)
                }
            })
        })
        .collect();
    let orphans: Vec<&String> = on_disk.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&on_disk).collect();
    assert!(
        orphans.is_empty() && missing.is_empty(),
        "snapshot files out of step with the book's cases\n  orphaned or pending (delete, or review with `cargo insta review`): {orphans:?}\n  missing (run the tests, read the new snapshot, then accept it): {missing:?}"
    );
}
