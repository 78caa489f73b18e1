//! The runner as a driver developer's CI uses it: exit codes, every output format, and
//! expectations both ways.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
        .args(args)
        .output()
        .expect("the runner starts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_conformant_shim_exits_zero() {
    let o = run(&["run", "--shim", "vfio-pci"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let last = stdout(&o).lines().last().unwrap_or_default().to_string();
    assert!(last.contains(" passed, 0 failed, "), "{last}");
}

#[test]
fn a_broken_shim_exits_one_and_the_report_names_the_rule_and_links_it() {
    let o = run(&[
        "run",
        "--shim",
        "broken-vfio-no-bookkeep-wait",
        "--book-url",
        "https://example.org/spec/",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("violated MUST rule revoke.exporter.wait-bookkeep  https://example.org/spec/revocation.html#r-revoke.exporter.wait-bookkeep"), "{out}");
    assert!(out.contains("observed: "), "{out}");
    assert!(
        out.contains("trace, reference (-) against broken-vfio-no-bookkeep-wait (+):"),
        "{out}"
    );
    assert!(
        out.contains("-#18   exporter.buf0 -> core: dma_resv_wait_timeout(buf0.resv, BOOKKEEP"),
        "{out}"
    );
}

#[test]
fn the_run_itself_failing_exits_two_with_a_message() {
    let o = run(&["run", "--shim", "no-such-driver"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown shim `no-such-driver`; in-tree shims: vfio-pci"),
        "{}",
        stderr(&o)
    );
    let o = run(&["run", "--expectations", "/no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read /no/such/file.toml"),
        "{}",
        stderr(&o)
    );
    let o = run(&["run", "--filter", "zzz"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["run", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn json_results_validate_against_the_committed_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("results.json");
    let o = run(&[
        "run",
        "--format",
        "json",
        "--output",
        file.to_str().unwrap_or_default(),
        "--shim",
        "iommufd",
        "--shim",
        "broken-iommufd-never-unpins",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("written")).expect("JSON");
    let schema_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"),
    )
    .expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&schema_text).expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    if let Err(e) = validator.validate(&results) {
        panic!("results do not match their schema: {e}");
    }
    assert_eq!(
        results["shims"][1]["shim"]["name"],
        "broken-iommufd-never-unpins"
    );
    let verdicts = results["shims"][1]["rules"].as_array().expect("rules");
    let v = verdicts
        .iter()
        .find(|r| r["rule"] == "teardown.importer.release-before-detach")
        .expect("rule");
    assert_eq!(v["verdict"], "violated");
}

#[test]
fn junit_output_is_junit_xml_with_cases_and_rule_verdicts() {
    let o = run(&[
        "run",
        "--format",
        "junit",
        "--shim",
        "broken-vfio-map-while-revoked",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "a suite of cases and a suite of rules");
    assert_eq!(
        suites[0].attribute("name"),
        Some("broken-vfio-map-while-revoked")
    );
    let failing = suites[0]
        .children()
        .find(|n| n.attribute("name") == Some("map_after_revoke_fails[vfio]"))
        .expect("the case is there");
    let failure = failing
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    assert!(
        failure
            .attribute("message")
            .unwrap_or_default()
            .contains("revoke.exporter.reject-map")
    );
    let skipped = suites[0]
        .children()
        .filter(|n| n.children().any(|c| c.has_tag_name("skipped")))
        .count();
    assert!(skipped > 0, "not applicable cases are skipped");
    assert_eq!(
        suites[1].attribute("name"),
        Some("broken-vfio-map-while-revoked: rules")
    );
    let rule = suites[1]
        .children()
        .find(|n| n.attribute("name") == Some("revoke.exporter.reject-map"))
        .expect("the rule is there");
    assert!(rule.children().any(|c| c.has_tag_name("failure")));
}

#[test]
fn ktap_output_has_a_plan_per_level_and_the_rule_verdicts() {
    let o = run(&[
        "run",
        "--format",
        "ktap",
        "--shim",
        "vfio-pci",
        "--shim",
        "broken-vfio-map-while-revoked",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "KTAP version 1");
    assert_eq!(lines[1], "1..2");
    assert!(text.contains("    # Subtest: vfio-pci"));
    assert!(text.contains("        # Subtest: rules"));
    assert!(lines.contains(&"ok 1 vfio-pci"));
    assert!(lines.contains(&"not ok 2 broken-vfio-map-while-revoked"));
    assert!(text.contains("# SKIP not applicable: "));
    // Every test line at each indentation counts up to its plan.
    for indent in ["    ", "        "] {
        let plans: Vec<usize> = lines
            .iter()
            .filter_map(|l| {
                l.strip_prefix(indent)
                    .and_then(|r| r.strip_prefix("1.."))
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        assert!(!plans.is_empty());
    }
}

#[test]
fn expectations_work_both_ways() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results.json");
    let exps = dir.path().join("expectations.toml");
    let shim = ["--shim", "broken-iommufd-never-unpins"];
    // Adopt the suite on an imperfect driver in one step.
    let o = run(&[
        &[
            "run",
            "--format",
            "json",
            "--output",
            results.to_str().unwrap_or_default(),
        ][..],
        &shim[..],
    ]
    .concat());
    assert_eq!(o.status.code(), Some(1));
    let o = run(&[
        "expectations",
        "--from",
        results.to_str().unwrap_or_default(),
        "--output",
        exps.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&exps).expect("written");
    assert!(
        text.contains("case = \"orderly_teardown[iommufd]\""),
        "{text}"
    );
    // The known failure is now expected: the run passes.
    let o = run(&[
        &["run", "--expectations", exps.to_str().unwrap_or_default()][..],
        &shim[..],
    ]
    .concat());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("xfail orderly_teardown[iommufd]"),
        "{}",
        stdout(&o)
    );
    // The same file against the fixed driver: an unexpected pass fails the run.
    let any_shim: String = text
        .lines()
        .filter(|l| !l.starts_with("shim = "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&exps, any_shim).expect("write");
    let o = run(&[
        "run",
        "--shim",
        "iommufd",
        "--expectations",
        exps.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("XPASS orderly_teardown[iommufd]"),
        "{}",
        stdout(&o)
    );
    // An expired entry fails the run.
    std::fs::write(&exps, "[[expected]]\ncase = \"orderly_teardown[iommufd]\"\nreason = \"r\"\nexpires = \"2000-01-01\"\n").expect("write");
    let o = run(&[
        &["run", "--expectations", exps.to_str().unwrap_or_default()][..],
        &shim[..],
    ]
    .concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("EXPIRED orderly_teardown[iommufd]"),
        "{}",
        stdout(&o)
    );
    // A malformed or wrong file is a clear error.
    std::fs::write(
        &exps,
        "[[expected]]\ncase = \"no_such_case\"\nreason = \"r\"\n",
    )
    .expect("write");
    let o = run(&["run", "--expectations", exps.to_str().unwrap_or_default()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such case"), "{}", stderr(&o));
}

#[test]
fn listings_have_json_forms() {
    for cmd in ["shims", "list", "rules"] {
        let o = run(&[cmd, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{cmd}");
    }
}

/// A reader that closes standard output early (`revoke-conformance list | head -1`) ends the
/// command quietly, as `SIGPIPE` ends a C program: no panic message, no "internal error", for
/// every command that prints.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let commands: &[&[&str]] = &[
        &["list"],
        &["list", "--format", "json"],
        &["rules"],
        &["rules", "--format", "json"],
        &["shims"],
        &["show", "attach_after_revoke_fails"],
        &["run", "--shim", "vfio-pci"],
        &["mutants"],
    ];
    for args in commands {
        // The reader is gone before the first write: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
            .args(*args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("the runner starts");
        let err = stderr(&o);
        assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("internal error"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");

        // `| head -1`: the reader takes one line and goes.
        let mut child = Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
            .args(*args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the runner starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("one line");
        assert!(!first.is_empty(), "{args:?}");
        let o = child.wait_with_output().expect("it ends");
        let err = stderr(&o);
        assert!(
            o.status.signal() == Some(libc::SIGPIPE) || o.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {:?} {err}",
            o.status
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("internal error"), "{args:?}: {err}");
    }
}

#[test]
fn an_output_path_that_cannot_be_written_is_refused_before_the_run() {
    let o = Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
        .args([
            "run",
            "--shim",
            "vfio-pci",
            "--output",
            "/nonexistent-folder/results.json",
        ])
        .output()
        .expect("the runner starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the folder /nonexistent-folder does not exist"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("vfio-pci: pass"),
        "the run started before the output was checked: {stderr}"
    );
}

#[test]
fn filters_repeat_take_globs_and_exclusions() {
    let o = Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
        .args([
            "run",
            "--shim",
            "iommufd",
            "--format",
            "json",
            "--filter",
            "revoke.",
            "--filter",
            "orderly_teardown",
            "--exclude",
            "*reset*",
        ])
        .output()
        .expect("the runner starts");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let names: Vec<&str> = j["shims"][0]["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("orderly_teardown")),
        "{names:?}"
    );
    assert!(names.contains(&"attach_after_revoke_fails"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("reset")), "{names:?}");
}

#[test]
fn results_say_which_spec_judged_them() {
    let o = Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
        .args(["run", "--shim", "vfio-pci", "--format", "json"])
        .output()
        .expect("the runner starts");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let p = &j["provenance"];
    let spec = p["spec"].as_str().expect("a spec revision");
    assert_eq!(spec.len(), 16, "{spec}");
    assert!(spec.chars().all(|c| c.is_ascii_hexdigit()), "{spec}");
    let rules = p["rules"].as_object().expect("rule hashes");
    assert_eq!(rules.len(), conformance::spec().rules.len());
    let snapshot = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/snapshots/revoke_around_reset__iommufd.snap"),
    )
    .expect("a blessed snapshot");
    // The same hash as the blessed snapshots show for the rule.
    let hash = rules["revoke.exporter.wait-bookkeep"]
        .as_str()
        .expect("a hash");
    assert!(
        snapshot.contains(&format!("revoke.exporter.wait-bookkeep MUST #{hash}")),
        "{hash}"
    );
}
