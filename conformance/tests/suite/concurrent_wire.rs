//! Concurrent calls on the wire (protocol version 2): the racy cases explored on a shim
//! process give the verdicts, schedule counts and distinct traces of the same driver in
//! process; a shim of version 1 runs the sequential cases and is told, once, which cases it
//! cannot run; a shim that misbehaves on one thread fails that scenario and the run goes on.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::rc::Rc;
use std::time::Duration;

use crate::remote::{assert_none_left, run_hostile, serve_cmd, tagged};
use conformance::races::{explore_case, explore_case_with, racy_cases};
use conformance::remote::RemoteBackend;
use conformance::runner::Backend;
use reference_impl::{Exploration, ExploreOptions, ScenarioFile, Trace, explore, explore_with};

const BIN: &str = env!("CARGO_BIN_EXE_revoke-conformance");

/// Fewer sampled schedules than the default: every schedule to the bound still runs.
const OPTS: ExploreOptions = ExploreOptions {
    bound: 2,
    samples: 20,
    seed: 7,
};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the runner starts")
}

fn serve(extra: &str) -> String {
    format!("{BIN} serve rust-vfio-exporter {extra}")
}

fn in_process(name: &str) -> Rc<reference_impl::Roles> {
    match shims::registry::by_name(name).expect("registered").runs {
        shims::registry::Runs::InProcess { shim, .. } => Rc::new(shim.roles()),
        shims::registry::Runs::Process { .. } => panic!("{name} runs in process"),
    }
}

/// What an exploration found, comparable across backends.
fn summary(ex: &Exploration) -> (usize, usize, usize, bool, Option<String>) {
    (
        ex.explored,
        ex.distinct,
        ex.blocked,
        ex.exhaustive,
        ex.violation.as_ref().map(|v| v.message.clone()),
    )
}

/// Explores every racy case `in_process` plays, in process and on the shim process started
/// by `argv`, and requires the same schedules, distinct traces and verdict; returns how many
/// cases were compared.
pub(crate) fn same_verdicts_over_the_wire(in_process_name: &str, argv: Vec<String>) -> usize {
    same_verdicts_on(in_process_name, argv, &|_| true)
}

/// [`same_verdicts_over_the_wire`] on the racy cases whose name `which` accepts.
fn same_verdicts_on(
    in_process_name: &str,
    argv: Vec<String>,
    which: &dyn Fn(&str) -> bool,
) -> usize {
    let roles = in_process(in_process_name);
    let remote =
        RemoteBackend::start_argv(&argv.join(" "), argv.clone(), Duration::from_secs(20), None)
            .expect("the shim process starts");
    assert!(remote.concurrent(), "{argv:?} speaks protocol version 2");
    let mut compared = 0;
    for (case, variant) in racy_cases(&conformance::spec()) {
        let steps = conformance::outcome::scenario_of(case, variant)
            .expect("scenario")
            .steps;
        if remote.scenario_applies(&steps).is_err() || !which(case.name) {
            continue;
        }
        let label = case.variant_name(variant);
        let here = explore_case(roles.clone(), case, variant, OPTS);
        let there = explore_case_with(&mut |f| remote.run_schedule(&label, f), case, variant, OPTS);
        assert_eq!(
            summary(&here),
            summary(&there),
            "{label}: {in_process_name} in process and {argv:?} over the wire"
        );
        if let (Some(a), Some(b)) = (&here.violation, &there.violation) {
            assert_eq!(
                a.file.schedule, b.file.schedule,
                "{label}: the minimal schedule"
            );
        }
        if here.violation.is_none() {
            assert!(here.explored > 10 && here.distinct > 1, "{label}: {here:?}");
        }
        compared += 1;
    }
    compared
}

#[test]
fn the_rust_shim_over_the_wire_explores_as_it_does_in_process() {
    let argv = vec![
        BIN.to_string(),
        "serve".to_string(),
        "rust-vfio-exporter".to_string(),
    ];
    assert!(same_verdicts_over_the_wire("rust-vfio-exporter", argv) >= 1);
}

/// The C shims (a pthread per scenario thread) explore the racy cases as the reference
/// drivers they stand in for do in process; the C exporter with the mark set after the unlock
/// is caught by the same one-preemption schedule as the in-process broken shim.
#[test]
fn the_c_exporters_over_the_wire_explore_as_in_process() {
    let c = |p: &std::path::Path| vec![p.display().to_string()];
    // The C exporter takes VFIO's memory lock around its reset, restore and cleanup
    // (`down_write()`/`up_write()` over the wire), so it explores every racy case as the
    // in-process exporter does, the race of a cleanup with a reset included.
    let all = |_: &str| true;
    let cases = same_verdicts_on("vfio-pci", c(shims_c::vfio_exporter()), &all);
    assert!(
        cases >= 2,
        "the cleanup's race and the others: {cases} compared"
    );
    // The in-process exporter that marks after the unlock takes no memory lock, so its
    // cleanup also races a reset; the C variant has the lock: compared on the other cases.
    let others = |name: &str| name != "cleanup_races_a_revoke";
    assert!(
        same_verdicts_on(
            "broken-vfio-marks-after-unlock",
            c(shims_c::vfio_exporter_mark_after_unlock()),
            &others
        ) >= 1
    );
}

/// A revoke on the exporter's reset thread racing an iommufd importer's pin and release on
/// its own thread: no book case puts an iommufd importer on a thread, so this scenario is
/// explored directly, judged by the rules' monitors and the invariants.
fn importer_race() -> ScenarioFile {
    ScenarioFile::from_json(
        r#"{"format": 1, "title": "a revoke races an iommufd pin", "steps": [
            {"op": "export", "buf": 0, "exporter": "vfio"},
            {"op": "attach", "att": 0, "buf": 0, "importer": "iommufd"},
            {"op": "map", "att": 0, "thread": "importer"},
            {"op": "revoke", "buf": 0, "thread": "reset"},
            {"op": "detach", "att": 0, "thread": "importer"}]}"#,
    )
    .expect("a scenario file")
}

fn importer_judge(t: &Trace) -> Option<String> {
    let steps = importer_race().plain_steps();
    conformance::monitor::first_violation(&steps, t)
        .or_else(|| conformance::invariants::first_violation(t))
}

/// The C example importer and the Python template (a Python thread per scenario thread)
/// explore the importer race as the reference iommufd importer does in process.
#[test]
fn the_c_and_python_importers_over_the_wire_explore_as_in_process() {
    let file = importer_race();
    let here = explore(in_process("iommufd"), &file, OPTS, &importer_judge);
    assert!(here.violation.is_none() && here.distinct > 1, "{here:?}");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shims-py/iommufd_importer.py");
    // Both take the buffer through VFIO's private interconnect and unmap their IOMMU mapping
    // in the callback, as the reference (and 7.2's iommufd) does, and both give the
    // reference's very traces: when the reset's revoke runs before the attach, the attach is
    // refused and their map and detach do nothing, as the reference's do.
    for argv in [
        vec![shims_c::example_importer().display().to_string()],
        vec!["python3".to_string(), script.display().to_string()],
    ] {
        let remote =
            RemoteBackend::start_argv(&argv.join(" "), argv.clone(), Duration::from_secs(20), None)
                .expect("starts");
        assert!(remote.concurrent(), "{argv:?} speaks protocol version 2");
        let there = explore_with(
            &mut |f| remote.run_schedule("importer-race", f),
            &file,
            OPTS,
            &importer_judge,
        );
        assert_eq!(summary(&here), summary(&there), "{argv:?}");
    }
    // The template's planted bug is found over the wire, as the in-process bug would be.
    let argv = vec![
        "python3".to_string(),
        script.display().to_string(),
        "--bug".to_string(),
        "keep-mapping".to_string(),
    ];
    let remote = RemoteBackend::start_argv("py keep-mapping", argv, Duration::from_secs(20), None)
        .expect("starts");
    let found = explore_with(
        &mut |f| remote.run_schedule("importer-race", f),
        &file,
        OPTS,
        &importer_judge,
    );
    assert!(found.violation.is_some(), "{found:?}");
}

#[test]
fn a_version_1_shim_runs_the_sequential_cases_and_is_told_once_which_it_cannot_run() {
    let cmd = serve("--protocol 1");
    let o = run(&["explore", "--races", "--shim-cmd", &cmd]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "not a failure: {out}");
    let why = "needs concurrent calls (protocol version 2: several calls in flight, one per \
               thread); this shim speaks version 1, one call in flight at a time";
    assert_eq!(out.matches(why).count(), 1, "said once: {out}");
    assert!(
        out.contains(
            "not-applicable revoke_races_a_map: needs concurrent calls (protocol version 2)"
        ),
        "{out}"
    );
    assert!(!out.contains("pass  ") && !out.contains("fail  "), "{out}");
    // A scheduled file is not applicable to it either, and that is no failure.
    let file = regression("revoke-races-a-map-at-the-unlock.json");
    let o = run(&["replay", &file, "--shim-cmd", &cmd]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.starts_with("not-applicable ") && out.contains(why),
        "{out}"
    );
    // Every case still runs (the racy ones in the order written) and passes.
    let o = run(&["run", "--format", "json", "--shim-cmd", &cmd]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("a JSON report");
    assert_eq!(o.status.code(), Some(0), "{j}");
    let cases = j["shims"][0]["cases"].as_array().expect("cases");
    assert!(
        cases
            .iter()
            .any(|c| c["name"] == "revoke_races_a_map" && c["status"] == "pass")
    );
    assert_eq!(j["shims"][0]["shim"]["process"]["protocol"], 1, "{j}");
}

fn regression(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios/regressions")
        .join(name)
        .display()
        .to_string()
}

/// Each misbehaviour on the importer's thread: the scheduled scenario fails with what
/// happened, and `run` fails only the racy case (answering a waiting call cannot happen in
/// the order written, so there `run` passes).
#[test]
fn a_shim_misbehaving_on_one_thread_fails_that_scenario_and_the_run_goes_on() {
    let expected = [
        (
            "wrong-thread",
            "the ret of call 5 (`map_dma_buf` on thread `importer`) names thread `main`, but it belongs to thread `importer`",
            "names thread `main`, but it belongs to thread `importer`",
        ),
        (
            "hang-on-thread",
            "no answer to `map_dma_buf` on thread `importer` within 0.5 s (--timeout); the shim process was killed",
            "no answer to `map_dma_buf` on thread `importer`",
        ),
        (
            "garbled-thread",
            "protocol error during `map_dma_buf` on thread `importer`: a \"ret\" message of the wrong shape",
            "on thread `importer`: a \"ret\" message of the wrong shape",
        ),
        (
            "kcall-on-main",
            "kernel call `dma_resv_assert_held` (made during `map_dma_buf` on thread `importer`) names thread `main`, but it belongs to thread `importer`",
            "(made during `map_dma_buf` on thread `importer`) names thread `main`",
        ),
        (
            "ret-for-waiting",
            "a ret for call 4 (`revoke` on thread `main`), which waits for the return of its kernel call, while call 5 (`map_dma_buf` on thread `importer`) runs",
            // In the order written no call of another thread arrives while one waits.
            "",
        ),
    ];
    let file = regression("revoke-races-a-map-at-the-unlock.json");
    for (i, (mode, says, in_run)) in expected.into_iter().enumerate() {
        // A copy of the runner under a name of its own (not one remote.rs's tests use): no
        // process of it may be left behind.
        let t = tagged(&format!("cw{i}"));
        let cmd = serve_cmd(&t.path.display().to_string(), Some(mode));
        let o = run(&["replay", &file, "--timeout", "0.5", "--shim-cmd", &cmd]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{mode}: {out}");
        assert!(out.contains(says), "{mode}: {out}");
        assert!(out.contains("fail harness.no-crash"), "{mode}: {out}");
        let (o, j) = run_hostile(&t, mode);
        assert_none_left(&t);
        if in_run.is_empty() {
            assert_eq!(o.status.code(), Some(0), "{mode}: {j}");
            continue;
        }
        assert_eq!(o.status.code(), Some(1), "{mode}");
        let racy: Vec<&str> = racy_cases(&conformance::spec())
            .into_iter()
            .map(|(c, _)| c.name)
            .collect();
        for c in j["shims"][0]["cases"].as_array().expect("cases") {
            if c["name"] == "revoke_races_a_map" {
                assert_eq!(c["status"], "fail", "{mode}: {c}");
                let error = c["error"].as_str().unwrap_or_default();
                assert!(error.contains(in_run), "{mode}: {error}");
            } else if racy.iter().any(|r| c["name"] == *r) {
                // A case with a thread of its own meets the misbehaviour where a call runs
                // on that thread (in the order written, some make none there): reported
                // against the case, and the run goes on.
                assert!(c["status"] != "error", "{mode}: {c}");
            } else if c["status"] != "not-applicable" {
                assert_eq!(c["status"], "pass", "{mode}: {c}");
            }
        }
    }
}

/// The concurrent exchange shown in the book's chapter on the protocol: the kept regression
/// of `revoke_races_a_map` replayed against `serve rust-vfio-exporter`, every line checked
/// against the schemas. Regenerate with `UPDATE_TRANSCRIPT=1 cargo test -p conformance --test
/// suite concurrent_wire::` and read the diff.
#[test]
fn the_concurrent_exchange_in_the_book_is_a_real_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.txt");
    let o = run(&[
        "replay",
        &regression("revoke-races-a-map-at-the-unlock.json"),
        "--transcript",
        &path.display().to_string(),
        "--shim-cmd",
        &serve(""),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let text = std::fs::read_to_string(&path).expect("transcript");
    crate::remote::check_against_schemas(&text);
    // The map of thread importer runs while the revoke's unlock (thread main) waits.
    let unlock = text
        .find(
            r#"< {"type":"kcall","id":8,"thread":"main","call":{"fn":"dma_resv_unlock","buf":0}}"#,
        )
        .expect("the revoke's unlock");
    let map = text
        .find(r#"> {"type":"call","id":5,"thread":"importer","call":{"fn":"map_dma_buf""#)
        .expect("the map on thread importer");
    let unlocked = text
        .find(r#"> {"type":"kret","id":8,"thread":"main","ret":null}"#)
        .expect("the unlock's return");
    assert!(unlock < map && map < unlocked, "{text}");
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../book/src/generated/shim-exchange-concurrent.txt");
    if std::env::var_os("UPDATE_TRANSCRIPT").is_some() {
        std::fs::write(&committed, &text).expect("write");
    }
    assert_eq!(
        std::fs::read_to_string(&committed).unwrap_or_default(),
        text,
        "{} is stale: run `UPDATE_TRANSCRIPT=1 cargo test -p conformance --test suite concurrent_wire::` and review the diff",
        committed.display()
    );
}
