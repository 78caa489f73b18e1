//! Shims in other processes: the same Rust shim gives the same traces in and out of process,
//! and no way a shim process can misbehave stops the run, loses a result or leaves a process
//! behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use conformance::outcome::scenario_of;
use conformance::remote::RemoteBackend;
use conformance::runner::{Backend, InProcess, selected};
use reference_impl::{Role, Step, profiles_apply};

const BIN: &str = env!("CARGO_BIN_EXE_revoke-conformance");

fn quote(s: &str) -> String {
    shlex::try_quote(s).expect("quotable").into_owned()
}

/// The command that serves the Rust VFIO shim, misbehaving as asked.
pub(crate) fn serve_cmd(bin: &str, misbehave: Option<&str>) -> String {
    let mut c = format!("{} serve rust-vfio-exporter", quote(bin));
    if let Some(m) = misbehave {
        c.push_str(&format!(" --misbehave {m}"));
    }
    c
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the runner starts")
}

/// Runs every case against the Rust shim misbehaving as `mode`, started through `t`, with a
/// half-second timeout; the JSON report.
pub(crate) fn run_hostile(t: &Tagged, mode: &str) -> (Output, serde_json::Value) {
    let o = run(&[
        "run",
        "--timeout",
        "0.5",
        "--format",
        "json",
        "--shim-cmd",
        &serve_cmd(&t.path.display().to_string(), Some(mode)),
    ]);
    let j = json_of(&o);
    (o, j)
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// The case variants a VFIO exporter plays in, and whether each revokes.
fn vfio_cases() -> Vec<(String, bool)> {
    selected(&conformance::spec(), None)
        .into_iter()
        .filter_map(|(c, v)| {
            let steps = scenario_of(c, v)?.steps;
            profiles_apply(Role::Exporter, &["vfio"], &steps).ok()?;
            let revokes = steps.iter().any(|s| matches!(s, Step::Revoke { .. }));
            Some((c.variant_name(v), revokes))
        })
        .collect()
}

/// A copy of the runner under a unique name: its processes can be found, or not, by name.
pub(crate) struct Tagged {
    _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    name: String,
}

pub(crate) fn tagged(tag: &str) -> Tagged {
    let dir = tempfile::tempdir().expect("temp dir");
    // Process names are cut to 15 characters in /proc/PID/stat.
    let name = format!("rs{}{tag}", std::process::id() % 100_000);
    let name: String = name.chars().take(15).collect();
    let path = dir.path().join(&name);
    std::os::unix::fs::symlink(BIN, &path).expect("symlink");
    Tagged {
        _dir: dir,
        path,
        name,
    }
}

/// Processes (live or zombie) started from `t`.
fn processes_of(t: &Tagged) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let p = entry.path();
        let cmdline = std::fs::read(p.join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let by_cmd = String::from_utf8_lossy(&cmdline).contains(&t.path.display().to_string());
        let by_comm = stat.contains(&format!("({})", t.name));
        if by_cmd || by_comm {
            found.push(format!("{}: {stat}", p.display()));
        }
    }
    found
}

pub(crate) fn assert_none_left(t: &Tagged) {
    // A killed process may take a moment to disappear from /proc.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_of(t);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < end, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_rust_shim_gives_identical_traces_in_and_out_of_process() {
    let mut local = InProcess::new(&shims::rust_vfio::SHIM);
    let mut reference = InProcess::new(&shims::vfio_pci::SHIM);
    let mut remote = RemoteBackend::start_argv(
        "rust-vfio-exporter (process)",
        vec![BIN.into(), "serve".into(), "rust-vfio-exporter".into()],
        Duration::from_secs(20),
        None,
    )
    .expect("the shim process starts");
    let mut compared = 0;
    for (case, variant) in selected(&conformance::spec(), None) {
        let steps = scenario_of(case, variant).expect("scenario").steps;
        assert_eq!(
            local.applies_to(case, variant, &steps).is_ok(),
            remote.applies_to(case, variant, &steps).is_ok(),
            "{}",
            case.variant_name(variant)
        );
        if local.applies_to(case, variant, &steps).is_err() {
            continue;
        }
        let a = local.run(case, variant, &steps).trace.expect("in process");
        let b = remote
            .run(case, variant, &steps)
            .trace
            .expect("out of process");
        let r = reference
            .run(case, variant, &steps)
            .trace
            .expect("reference");
        let name = case.variant_name(variant);
        assert_eq!(a, b, "{name}: the traces differ in and out of process");
        assert_eq!(
            a, r,
            "{name}: the Rust shim differs from the book's VFIO exporter"
        );
        compared += 1;
    }
    assert!(
        compared >= 10,
        "only {compared} cases apply to a VFIO exporter"
    );
}

/// What each misbehaviour during `revoke` must be reported as.
const MID_CASE: &[(&str, &str)] = &[
    (
        "crash-on-revoke",
        "was killed by signal 6 (SIGABRT) during `revoke`",
    ),
    ("exit-on-revoke", "exited with status 0 during `revoke`"),
    (
        "hang-on-revoke",
        "no answer to `revoke` within 0.5 s (--timeout); the shim process was killed",
    ),
    ("garbage", "the line is not JSON"),
    (
        "truncated",
        "in the middle of a line during `revoke`; the partial line was: {\"type\":\"ret\",\"id\":",
    ),
    ("invalid-json", "the line is not JSON"),
    ("wrong-shape", "a \"ret\" message of the wrong shape"),
    ("unknown-message", "unknown message type \"greetings\""),
    ("unsolicited-reply", "a reply to a call that was never made"),
    ("oversized", "a line longer than 1048576 bytes (the limit)"),
];

#[test]
fn a_shim_that_breaks_mid_case_fails_that_case_and_the_run_goes_on() {
    let cases = vfio_cases();
    let revoking = cases.iter().filter(|(_, r)| *r).count();
    assert!(revoking >= 5 && revoking < cases.len());
    for (mode, expected) in MID_CASE {
        let t = tagged(&mode[..3]);
        let (o, j) = run_hostile(&t, mode);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{mode}: a misbehaving shim exits 1"
        );
        let shim = &j["shims"][0];
        for (name, revokes) in &cases {
            let c = shim["cases"]
                .as_array()
                .expect("cases")
                .iter()
                .find(|c| c["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{mode}: {name} is missing from the report"));
            if *revokes {
                assert_eq!(c["status"], "fail", "{mode}: {name}");
                // A revoke on a thread of its own (a racy case) is named with its thread.
                let error = c["error"]
                    .as_str()
                    .unwrap_or_default()
                    .replace(" on thread `reset`", "");
                assert!(
                    error.contains(expected),
                    "{mode}: {name}: the error does not say what happened: {error}"
                );
            } else {
                assert_eq!(c["status"], "pass", "{mode}: {name} ({c})");
            }
        }
        assert_none_left(&t);
    }
}

#[test]
fn a_shim_with_a_bad_hello_is_one_error_naming_the_cause_and_the_fix() {
    let expected = [
        (
            "silent",
            "did not say hello within 0.5 s (--timeout)",
            Some("flushes its standard output after every line"),
        ),
        ("bad-role", "unknown role \"gpu-driver\"", None),
        (
            "bad-capability",
            "unknown capability \"time-travel\" (the profiles it plays have: ",
            None,
        ),
        (
            "version-9",
            "chose protocol version 9; this runner offered versions 2 and 1",
            None,
        ),
    ];
    for (mode, says, hint) in expected {
        let t = tagged(&mode[..3]);
        let o = run(&[
            "run",
            "--timeout",
            "0.5",
            "--format",
            "json",
            "--shim-cmd",
            &serve_cmd(&t.path.display().to_string(), Some(mode)),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{mode}: {stderr}");
        assert!(
            o.stdout.is_empty(),
            "{mode}: a report was written for a run that could not be done"
        );
        assert!(stderr.contains("failed its hello: "), "{mode}: {stderr}");
        assert!(stderr.contains(says), "{mode}: {stderr}");
        if let Some(hint) = hint {
            assert!(stderr.contains(hint), "{mode}: no hint in {stderr}");
        }
        assert_eq!(
            stderr.matches("failed its hello").count(),
            1,
            "{mode}: one error, not one per case: {stderr}"
        );
        assert_none_left(&t);
    }
}

/// A process that claims two importer profiles is refused at hello: `new` does not say which
/// profile an instance plays, so its cases would judge it on the wrong profile.
#[test]
fn a_shim_claiming_two_profiles_is_refused_at_hello() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("two_profiles.py");
    std::fs::write(
        &script,
        "import sys, json\nsys.stdin.readline()\nprint(json.dumps({'type': 'hello', 'version': 1, \
         'name': 'two', 'role': 'importer', 'plays': ['rdma', 'iommufd'], 'capabilities': []}), \
         flush=True)\nsys.stdin.readline()\n",
    )
    .expect("write the shim");
    let o = run(&[
        "run",
        "--shim-cmd",
        &format!("python3 {}", script.display()),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the hello plays 2 profiles (rdma, iommufd)")
            && stderr.contains("start one process per profile"),
        "{stderr}"
    );
}

#[test]
fn a_wrong_return_value_is_a_protocol_error_against_the_case() {
    let o = run(&[
        "run",
        "--format",
        "json",
        "--shim-cmd",
        &serve_cmd(BIN, Some("bad-errno")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j = json_of(&o);
    let errors: Vec<String> = j["shims"][0]["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["error"].as_str().map(str::to_string))
        .collect();
    assert!(!errors.is_empty());
    for e in errors {
        assert!(
            e.contains("`map_dma_buf` returned a bad value: -9999 is not an errno (-1 to -4095)"),
            "{e}"
        );
    }
}

/// Any errno is judged by the rules, not refused by the wire: an exporter that refuses with
/// -EIO where the book requires -ENODEV fails those rules, and the report names both values.
#[test]
fn a_wrong_errno_is_judged_by_the_rules() {
    let o = run(&[
        "run",
        "--format",
        "json",
        "--shim-cmd",
        &serve_cmd(BIN, Some("eio-for-enodev")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j = json_of(&o);
    let cases = j["shims"][0]["cases"].as_array().expect("cases");
    assert!(
        cases.iter().all(|c| c["error"].is_null()),
        "no protocol error: {cases:?}"
    );
    let failures: Vec<&serde_json::Value> = cases
        .iter()
        .flat_map(|c| c["failures"].as_array().into_iter().flatten())
        .collect();
    for rule in [
        "revoke.exporter.reject-map",
        "revoke.exporter.reject-attach",
    ] {
        let f = failures
            .iter()
            .find(|f| f["rule"] == rule && f["monitor"] == true)
            .unwrap_or_else(|| panic!("{rule} is not reported by its monitor: {failures:?}"));
        let observed = f["observed"].as_str().expect("observed");
        assert!(
            observed.contains("expected -ENODEV, got -EIO"),
            "{rule}: {observed}"
        );
    }
}

#[test]
fn a_slow_but_correct_shim_passes_and_its_stderr_is_captured() {
    let o = run(&[
        "run",
        "--timeout",
        "10",
        "--format",
        "json",
        "--shim-cmd",
        &serve_cmd(BIN, Some("slow")),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&[
        "run",
        "--format",
        "json",
        "--shim-cmd",
        &serve_cmd(BIN, Some("stderr")),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let j = json_of(&o);
    let stdout_protocol_clean = j["summary"]["failed"] == 0;
    assert!(stdout_protocol_clean);
    for c in j["shims"][0]["cases"].as_array().expect("cases") {
        if c["status"] == "pass" {
            let err = c["stderr"].as_str().unwrap_or_default();
            assert!(
                err.contains("shim: handling call"),
                "{}: stderr not captured: {c}",
                c["name"]
            );
        }
    }
}

#[test]
fn a_shim_command_that_cannot_start_exits_two() {
    let o = run(&["run", "--shim-cmd", "/nonexistent/revoke-shim --flag"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot start `/nonexistent/revoke-shim --flag`"),
        "{err}"
    );
}

#[test]
fn ctrl_c_leaves_a_valid_partial_report_and_no_process() {
    let t = tagged("int");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("results.json");
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--format",
            "json",
            "--output",
            &out.display().to_string(),
            "--shim-cmd",
            &serve_cmd(&t.path.display().to_string(), Some("slow")),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the runner starts");
    let end = Instant::now() + Duration::from_secs(30);
    let finished_cases = |p: &Path| -> usize {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .map(|j| {
                j["shims"][0]["cases"]
                    .as_array()
                    .map(|a| a.iter().filter(|c| c["status"] == "pass").count())
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    while finished_cases(&out) < 2 {
        assert!(Instant::now() < end, "no case finished within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signals a child process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().expect("the runner ends");
    assert_eq!(status.code(), Some(130));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("report")).expect("valid JSON");
    assert_eq!(j["partial"], true);
    let n = j["shims"][0]["cases"].as_array().expect("cases").len();
    assert!(
        n >= 2 && n < selected(&conformance::spec(), None).len(),
        "{n} cases"
    );
    assert_none_left(&t);
}

/// Every line of a transcript (`> ` to the shim, `< ` from it) matches its schema.
pub(crate) fn check_against_schemas(text: &str) {
    let schema = |name: &str| {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(name);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).expect("schema")).expect("JSON");
        jsonschema::validator_for(&v).expect("compiles")
    };
    let (to, from) = (
        schema("protocol-to-shim.schema.json"),
        schema("protocol-from-shim.schema.json"),
    );
    for line in text.lines() {
        let (validator, msg) = match line.split_at(2) {
            ("> ", m) => (&to, m),
            ("< ", m) => (&from, m),
            _ => panic!("not a transcript line: {line}"),
        };
        let v: serde_json::Value = serde_json::from_str(msg).expect("JSON");
        if let Err(e) = validator.validate(&v) {
            panic!("{line} does not match the schema: {e}");
        }
    }
}

fn transcript_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../book/src/generated/shim-exchange.txt")
}

#[test]
fn the_exchange_in_the_book_is_a_real_one_and_every_line_matches_the_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.txt");
    let o = run(&[
        "run",
        "--filter",
        "revoke_around_reset[iommufd]",
        "--transcript",
        &path.display().to_string(),
        "--shim-cmd",
        &format!("{} serve rust-vfio-exporter", quote(BIN)),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = std::fs::read_to_string(&path).expect("transcript");
    check_against_schemas(&text);
    let committed = transcript_path();
    if std::env::var_os("UPDATE_TRANSCRIPT").is_some() {
        std::fs::create_dir_all(committed.parent().expect("parent")).expect("dir");
        std::fs::write(&committed, &text).expect("write");
    }
    assert_eq!(
        std::fs::read_to_string(&committed).unwrap_or_default(),
        text,
        "{} is stale: run `UPDATE_TRANSCRIPT=1 cargo test -p conformance --test suite remote::` and review the diff",
        committed.display()
    );
}

/// The C shims give the very traces of the book's reference drivers they stand in for.
#[test]
fn the_c_shims_pass_and_their_traces_are_the_reference_ones() {
    let pairs = [
        (shims_c::vfio_exporter(), shims::vfio_pci::SHIM),
        (shims_c::example_importer(), shims::iommufd::SHIM),
    ];
    for (path, reference) in pairs {
        let mut c = RemoteBackend::start_argv(
            "c",
            vec![path.display().to_string()],
            Duration::from_secs(20),
            None,
        )
        .expect("the C shim starts");
        let mut r = InProcess::new(&reference);
        let mut ran = 0;
        for (case, variant) in selected(&conformance::spec(), None) {
            let steps = scenario_of(case, variant).expect("scenario").steps;
            if c.applies_to(case, variant, &steps).is_err() {
                continue;
            }
            let name = case.variant_name(variant);
            let a = c.run(case, variant, &steps);
            let b = r.run(case, variant, &steps);
            assert_eq!(
                a.trace.expect("runs"),
                b.trace.expect("runs"),
                "{name}: {} differs from {}",
                path.display(),
                reference.name
            );
            ran += 1;
        }
        assert!(ran >= 10, "{}: only {ran} cases", path.display());
    }
}

#[test]
fn the_c_exporter_without_waits_is_caught_on_the_wait_rules() {
    let o = run(&[
        "run",
        "--shim",
        "c-vfio-exporter-no-wait",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j = json_of(&o);
    let with_verdict = |verdict: &str| -> Vec<&str> {
        j["shims"][0]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter(|r| r["verdict"] == verdict)
            .filter_map(|r| r["rule"].as_str())
            .collect()
    };
    // The first wait it leaves out is the root cause; the unmap wait it leaves out too is
    // reported in the same cases, after it: a consequence in the rule verdicts.
    let violated = with_verdict("violated");
    assert!(
        violated.contains(&"revoke.exporter.wait-bookkeep"),
        "{violated:?}"
    );
    let reported: Vec<&str> = violated
        .into_iter()
        .chain(with_verdict("consequence"))
        .collect();
    assert!(
        reported.contains(&"revoke.exporter.wait-unmap"),
        "{reported:?}"
    );
    let o = run(&["run", "--shim", "c-vfio-exporter", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "the good C exporter passes");
    assert_eq!(json_of(&o)["summary"]["passed"], vfio_cases().len());
}
