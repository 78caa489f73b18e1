//! `spec-diff` and `compare` as a reviewer runs them.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_revoke-conformance");

fn runner(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the runner starts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn compare_names_the_regressed_case_and_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = dir.path().join("old.json");
    let (code, _, err) = runner(&[
        "run",
        "--shim",
        "vfio-pci",
        "--format",
        "json",
        "--output",
        old.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "{err}");
    // The same driver, later: one case now fails on one rule.
    let mut results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&old).expect("results")).expect("JSON");
    let shim = &mut results["shims"][0];
    let case = shim["cases"]
        .as_array_mut()
        .expect("cases")
        .iter_mut()
        .find(|c| c["name"] == "revoke_around_reset[iommufd]")
        .expect("the case ran");
    case["status"] = "fail".into();
    let rule = shim["rules"]
        .as_array_mut()
        .expect("rules")
        .iter_mut()
        .find(|r| r["rule"] == "revoke.exporter.wait-bookkeep")
        .expect("the rule was judged");
    rule["verdict"] = "violated".into();
    let new = dir.path().join("new.json");
    std::fs::write(&new, results.to_string()).expect("write");

    let (code, out, err) = runner(&[
        "compare",
        old.to_str().expect("utf-8"),
        new.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 1, "a regression fails the comparison: {out}{err}");
    assert!(
        out.contains("1 case(s) changed status (0 fixed, 1 regressed)"),
        "{out}"
    );
    assert!(
        out.contains("| vfio-pci | `revoke_around_reset[iommufd]` | pass | fail |"),
        "{out}"
    );
    assert!(
        out.contains("| vfio-pci | `revoke.exporter.wait-bookkeep` | conformant | violated |"),
        "{out}"
    );

    let (code, out, _) = runner(&[
        "compare",
        old.to_str().expect("utf-8"),
        old.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("0 case(s) changed status"), "{out}");

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").expect("write");
    let (code, _, err) = runner(&[
        "compare",
        garbage.to_str().expect("utf-8"),
        old.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a result file"), "{err}");
}

#[test]
fn spec_diff_of_the_work_tree_against_itself_changes_nothing() {
    let (code, out, err) = runner(&["spec-diff", "HEAD", "HEAD", "--no-verdicts"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Nothing normative changed."), "{out}");
    let (code, out, err) = runner(&["spec-diff", "HEAD", "--no-verdicts", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["head"], "work tree");
    assert!(v["rule_counts"][0].as_u64().expect("a count") > 50);
}

#[test]
fn spec_diff_of_an_unknown_revision_is_one_clear_error() {
    let (code, _, err) = runner(&["spec-diff", "no-such-revision", "--no-verdicts"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`no-such-revision` is not a revision"),
        "{err}"
    );
}
