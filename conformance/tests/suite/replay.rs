//! `replay`: a portable scenario file run on a backend and judged, as a developer runs it.

use std::process::{Command, Output};

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
        .arg("replay")
        .args(args)
        .output()
        .expect("the runner starts")
}

fn scenario(name: &str) -> String {
    format!("{}/tests/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The reference passes the file; a shim that does not wait for fences before the BAR is
/// reused fails it on the rule it breaks, with the event.
#[test]
fn a_sequential_file_passes_on_the_reference_and_catches_a_broken_shim() {
    let file = scenario("revoke-with-work-in-flight.json");
    let o = replay(&[&file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("pass: "), "{}", text(&o));
    let o = replay(&[&file, "--shim", "broken-vfio-no-bookkeep-wait"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("fail revoke.exporter.reuse-after-waits")
            && text(&o).contains("RECLAIMED"),
        "{}",
        text(&o)
    );
}

/// A file with a schedule runs the other thread's step where the schedule says.
#[test]
fn a_schedule_is_replayed_where_it_says() {
    let o = replay(&[&scenario("map-inside-revoke.json")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("thread importer runs inside step 2 at its first dma_resv_unlock"),
        "{out}"
    );
    let map = out.find("-- step 3 [importer]").expect("the map ran");
    let wait = out.find("wait_for_unmap").expect("the revoke went on");
    assert!(map < wait, "{out}");
}

/// A shim process runs sequential files; a file with threads is refused with the reason, and
/// a file that is not one is an error naming the problem.
#[test]
fn what_cannot_run_is_an_error_with_the_reason() {
    let o = replay(&[
        &scenario("revoke-with-work-in-flight.json"),
        "--shim",
        "c-vfio-exporter",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A shim process of protocol version 1 cannot run steps of several threads: the file is
    // not applicable to it, with the reason, and that is no failure.
    let v1 = format!(
        "{} serve rust-vfio-exporter --protocol 1",
        env!("CARGO_BIN_EXE_revoke-conformance")
    );
    let o = replay(&[&scenario("map-inside-revoke.json"), "--shim-cmd", &v1]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).starts_with("not-applicable ")
            && text(&o).contains("this shim speaks version 1, one call in flight at a time, so it runs sequential scenarios only"),
        "{}",
        text(&o)
    );
    let bad = std::env::temp_dir().join(format!("bad-scenario-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"{"format": 1, "steps": [{"op": "revoke", "buf": 9}]}"#,
    )
    .unwrap();
    let o = replay(&[bad.to_str().unwrap()]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("buf9 was never exported"), "{}", text(&o));
}

/// Every kept regression (a schedule or a generated scenario that once failed) replays on the
/// reference and passes; its report, the trace in the order it ran, is a snapshot. A
/// schedule the reference cannot run at all (it holds a lock the preempting step wants: the
/// very reason it is safe) is refused with exit status 2 and says so; that refusal is the
/// snapshot.
#[test]
fn every_regression_replays_and_passes_on_the_reference() {
    let dir = format!("{}/tests/scenarios/regressions", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the folder")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for path in files {
        let o = replay(&[path.to_str().unwrap()]);
        let refused = o.status.code() == Some(2)
            && String::from_utf8_lossy(&o.stderr).contains("this schedule cannot run");
        assert!(o.status.code() == Some(0) || refused, "{}", text(&o));
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let report = text(&o).replace(&dir, "regressions");
        insta::assert_snapshot!(format!("regression-{stem}"), report);
    }
}
