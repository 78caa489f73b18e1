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
    assert!(last.starts_with("the run passes: "), "{last}");
    assert!(!last.contains("fail"), "{last}");
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

/// `show` with the name of a case that has variants names each variant instead of "no case".
#[test]
fn show_without_a_variant_lists_the_variants() {
    let o = run(&["show", "attach_links_after_exporter_accepts"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(
            "case `attach_links_after_exporter_accepts` has 2 variants; name one: \
             attach_links_after_exporter_accepts[rdma], attach_links_after_exporter_accepts[static]"
        ),
        "{}",
        stderr(&o)
    );
    let o = run(&["show", "attach_links_after_exporter_accepts[rdma]"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&["show", "no_such_case"]);
    assert!(
        stderr(&o).contains("no case `no_such_case`"),
        "{}",
        stderr(&o)
    );
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
    assert!(lines[1].starts_with("# revoke-conformance "), "{text}");
    assert!(lines.contains(&"1..2"), "{text}");
    assert!(text.contains("    # Subtest: vfio-pci"));
    assert!(text.contains("        # Subtest: rules"));
    assert!(lines.contains(&"ok 1 vfio-pci"));
    assert!(lines.contains(&"not ok 2 broken-vfio-map-while-revoked"));
    assert!(text.contains("# SKIP not-applicable: "));
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

/// A run's report in every format, and the exit status of each (which must agree).
struct Reports {
    code: i32,
    human: String,
    junit: String,
    ktap: String,
}

fn reports(args: &[&str]) -> Reports {
    let mut code = None;
    let mut texts = Vec::new();
    for format in ["human", "junit", "ktap"] {
        let o = run(&[args, &["--format", format]].concat());
        let c = o.status.code().unwrap_or(-1);
        assert!(
            code.is_none_or(|k| k == c),
            "{format} exits {c}: {}",
            stderr(&o)
        );
        code = Some(c);
        texts.push(stdout(&o));
    }
    Reports {
        code: code.unwrap_or(-1),
        human: texts[0].clone(),
        junit: texts[1].clone(),
        ktap: texts[2].clone(),
    }
}

/// The failures counted on JUnit's root element.
fn junit_failures(xml: &str) -> usize {
    let doc = roxmltree::Document::parse(xml).expect("JUnit XML");
    doc.root_element()
        .attribute("failures")
        .and_then(|n| n.parse().ok())
        .expect("a failures count")
}

/// Writes the expectations of a run of `broken-iommufd-never-unpins` into `dir` and returns
/// their path: the suite adopted on an imperfect driver in one step.
fn adopted(dir: &Path) -> std::path::PathBuf {
    let results = dir.join("results.json");
    let exps = dir.join("expectations.toml");
    let o = run(&[
        "run",
        "--shim",
        "broken-iommufd-never-unpins",
        "--format",
        "json",
        "--output",
        results.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&[
        "expectations",
        "--from",
        results.to_str().unwrap_or_default(),
        "--output",
        exps.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    exps
}

#[test]
fn expectations_work_both_ways_in_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exps = adopted(dir.path());
    let exps_arg = exps.to_str().unwrap_or_default().to_string();
    let text = std::fs::read_to_string(&exps).expect("written");
    assert!(
        text.contains("case = \"orderly_teardown[iommufd]\""),
        "{text}"
    );
    assert!(
        text.contains("rules = [\"teardown.importer.release-before-detach\"]"),
        "{text}"
    );
    let shim = ["--shim", "broken-iommufd-never-unpins"];

    // The known failures are expected: every format passes.
    let r = reports(&[&["run", "--expectations", &exps_arg][..], &shim[..]].concat());
    assert_eq!(r.code, 0, "{}", r.human);
    assert!(
        r.human
            .contains("expected-fail       orderly_teardown[iommufd]  (breaks teardown.importer.release-before-detach: "),
        "{}",
        r.human
    );
    assert!(r.human.contains("expected-violation"), "{}", r.human);
    assert_eq!(junit_failures(&r.junit), 0, "{}", r.junit);
    assert!(
        r.junit.contains(
            "<skipped message=\"expected-fail: known failure when the suite was adopted on"
        ),
        "{}",
        r.junit
    );
    assert!(!r.ktap.contains("not ok"), "{}", r.ktap);
    assert!(r.ktap.contains("# SKIP expected-fail: "), "{}", r.ktap);
    assert!(
        r.ktap
            .contains("teardown.importer.release-before-detach # SKIP expected-violation: "),
        "{}",
        r.ktap
    );
    std::fs::write(dir.path().join("pass.ktap"), &r.ktap).expect("write");

    // The same entries naming another rule the case checks: the set of broken rules changed,
    // which fails in every format, naming the new and the vanished rule.
    let other = "teardown.core.detach-unlinks";
    let changed = text.replace(
        "rules = [\"teardown.importer.release-before-detach\"]",
        &format!("rules = [\"{other}\"]"),
    );
    assert_ne!(changed, text);
    std::fs::write(&exps, &changed).expect("write");
    let r = reports(&[&["run", "--expectations", &exps_arg][..], &shim[..]].concat());
    assert_eq!(r.code, 1, "{}", r.human);
    let why = format!(
        "breaks other rules than its expectation names: now also breaks teardown.importer.release-before-detach; no longer breaks {other}"
    );
    assert!(r.human.contains(&format!("fail: {why}")), "{}", r.human);
    assert!(junit_failures(&r.junit) > 0, "{}", r.junit);
    assert!(
        r.junit.contains(&format!("message=\"fail: {why}")),
        "{}",
        r.junit
    );
    assert!(r.ktap.contains(&format!(": fail: {why}")), "{}", r.ktap);
    assert!(r.ktap.contains("not ok"), "{}", r.ktap);
    std::fs::write(dir.path().join("fail.ktap"), &r.ktap).expect("write");

    // The same file against the fixed driver: an unexpected pass fails the run.
    let any_shim: String = text
        .lines()
        .filter(|l| !l.starts_with("shim = "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&exps, any_shim).expect("write");
    let r = reports(&["run", "--shim", "iommufd", "--expectations", &exps_arg]);
    assert_eq!(r.code, 1);
    assert!(
        r.human
            .contains("unexpected-pass     orderly_teardown[iommufd]"),
        "{}",
        r.human
    );
    assert!(
        r.ktap
            .contains("# orderly_teardown[iommufd]: unexpected-pass: expected to fail"),
        "{}",
        r.ktap
    );

    // An expired entry fails the run, and the reports say why.
    std::fs::write(&exps, "[[expected]]\ncase = \"orderly_teardown[iommufd]\"\nrules = [\"teardown.importer.release-before-detach\"]\nreason = \"r\"\nexpires = \"2000-01-01\"\n").expect("write");
    let r = reports(&[&["run", "--expectations", &exps_arg][..], &shim[..]].concat());
    assert_eq!(r.code, 1);
    assert!(
        r.human.contains("expired-expectation orderly_teardown[iommufd]  (the expectation expired on 2000-01-01: r)"),
        "{}",
        r.human
    );
    assert!(
        r.ktap.contains("# orderly_teardown[iommufd]: expired-expectation: the expectation expired on 2000-01-01: r"),
        "{}",
        r.ktap
    );

    // A malformed or wrong file is a clear error.
    for (entry, error) in [
        ("case = \"no_such_case\"\nrules = []", "no such case"),
        (
            "case = \"orderly_teardown[iommufd]\"",
            "`rules` is required",
        ),
    ] {
        std::fs::write(&exps, format!("[[expected]]\n{entry}\nreason = \"r\"\n")).expect("write");
        let o = run(&["run", "--expectations", &exps_arg]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(error), "{}", stderr(&o));
    }
}

/// The kernel's own KTAP parser (`kunit.py parse`, from the Linux tree given in
/// `REVOKE_SPEC_KUNIT_TREE`) reads the KTAP of a run that passes with known failures as
/// passing (exit 0), and that of a run whose broken rules changed as failing. The kernel tree
/// is downloaded by the full test run (`cargo xtask test`), whose `kunit-parse` stage runs
/// this test after the kernel stage; without the tree it fails rather than pass unchecked.
#[test]
#[ignore = "needs a Linux tree: the kunit-parse stage of `cargo xtask test` runs it"]
fn kunit_parse_reads_the_ktap_as_the_run_ends() {
    let tree = std::env::var_os("REVOKE_SPEC_KUNIT_TREE")
        .expect("REVOKE_SPEC_KUNIT_TREE names a Linux source tree");
    let kunit = Path::new(&tree).join("tools/testing/kunit/kunit.py");
    assert!(kunit.is_file(), "no {}", kunit.display());
    let dir = tempfile::tempdir().expect("temp dir");
    let exps = adopted(dir.path());
    let exps_arg = exps.to_str().unwrap_or_default().to_string();
    let shim = ["--shim", "broken-iommufd-never-unpins"];
    let ktap = |extra: &[&str]| {
        let o = run(&[&["run", "--format", "ktap"][..], &shim[..], extra].concat());
        (o.status.code(), stdout(&o))
    };
    let parse = |text: &str, name: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("write");
        let o = Command::new("python3")
            .arg(&kunit)
            .arg("parse")
            .arg(&file)
            .output()
            .expect("python3 runs kunit.py");
        (o.status.code(), stdout(&o) + &stderr(&o))
    };

    let (code, passing) = ktap(&["--expectations", &exps_arg]);
    assert_eq!(code, Some(0));
    let (status, said) = parse(&passing, "pass.ktap");
    assert_eq!(
        status,
        Some(0),
        "kunit.py parse on a passing run:\n{said}\n{passing}"
    );
    assert!(said.contains("skipped"), "{said}");

    let (code, failing) = ktap(&[]);
    assert_eq!(code, Some(1));
    let (status, said) = parse(&failing, "fail.ktap");
    assert_ne!(status, Some(0), "kunit.py parse on a failing run:\n{said}");
    assert!(said.contains("orderly_teardown"), "{said}");
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

/// `--partition K/N` splits a run across N jobs: the parts are disjoint and together they are
/// the whole run, case variant by case variant and shim by shim; each part says which it is.
#[test]
fn partitions_are_disjoint_and_cover_the_run() {
    let names = |args: &[&str]| -> Vec<(String, String)> {
        let o = run(&[
            &[
                "run", "--format", "json", "--shim", "vfio-pci", "--shim", "iommufd",
            ][..],
            args,
        ]
        .concat());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        let part = v["provenance"]["partition"].as_str().map(String::from);
        assert_eq!(
            part.as_deref(),
            args.get(1).copied(),
            "the part is recorded"
        );
        v["shims"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| {
                let shim = s["shim"]["name"].as_str().unwrap_or_default().to_string();
                s["cases"].as_array().into_iter().flatten().map(move |c| {
                    (
                        shim.clone(),
                        c["name"].as_str().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect()
    };
    let whole = names(&[]);
    assert!(whole.len() > 50);
    for n in [2, 3] {
        let mut seen: Vec<(String, String)> = Vec::new();
        for k in 1..=n {
            let part = names(&["--partition", &format!("{k}/{n}")]);
            assert!(!part.is_empty(), "part {k}/{n} is empty");
            for item in part {
                assert!(!seen.contains(&item), "{item:?} is in two parts of {n}");
                seen.push(item);
            }
        }
        seen.sort();
        let mut all = whole.clone();
        all.sort();
        assert_eq!(seen, all, "the {n} parts are the whole run");
    }
    let o = run(&["run", "--partition", "4/3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("1 <= K <= N"), "{}", stderr(&o));
}

/// Rule links point at the published book by default (never into a checkout), and one
/// setting moves them: `REVOKE_CONFORMANCE_BOOK_URL`, or `--book-url` for one run.
#[test]
fn rule_links_point_at_the_published_book_unless_told_otherwise() {
    let args = [
        "run",
        "--shim",
        "broken-vfio-no-bookkeep-wait",
        "--format",
        "junit",
    ];
    let anchor = "revocation.html#r-revoke.exporter.wait-bookkeep";
    let o = run(&args);
    assert!(
        stdout(&o).contains(&format!("{}{anchor}", conformance::PUBLISHED_BOOK)),
        "{}",
        stdout(&o)
    );
    assert!(conformance::PUBLISHED_BOOK.starts_with("https://"));
    let o = Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
        .args(args)
        .env("REVOKE_CONFORMANCE_BOOK_URL", "file:///srv/book")
        .output()
        .expect("the runner starts");
    assert!(
        stdout(&o).contains(&format!("file:///srv/book/{anchor}")),
        "{}",
        stdout(&o)
    );
    let o = run(&[
        &args[..],
        &["--book-url", "https://mirror.example.org/spec/"],
    ]
    .concat());
    assert!(
        stdout(&o).contains(&format!("https://mirror.example.org/spec/{anchor}")),
        "{}",
        stdout(&o)
    );
}

/// An expectations entry that judged nothing (its shim did not run, its case does not apply)
/// is named on standard error, and changes nothing else.
#[test]
fn unused_expectations_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exps = dir.path().join("expectations.toml");
    std::fs::write(
        &exps,
        "[[expected]]\ncase = \"orderly_teardown[rdma]\"\nrules = []\nreason = \"x\"\n\
         [[expected]]\ncase = \"orderly_teardown[iommufd]\"\nshim = \"nobody\"\nrules = []\nreason = \"x\"\n",
    )
    .expect("write");
    let o = run(&[
        "run",
        "--shim",
        "vfio-pci",
        "--expectations",
        exps.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("entry 1 (`orderly_teardown[rdma]`) was not used: the case is not-applicable"),
        "{err}"
    );
    assert!(
        err.contains(
            "entry 2 (`orderly_teardown[iommufd]`) was not used: its shim `nobody` did not run"
        ),
        "{err}"
    );
}
