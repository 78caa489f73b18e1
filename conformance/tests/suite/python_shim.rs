//! The Python shim template (`shims-py/iommufd_importer.py`, standard library only) passes
//! every case that applies to it, and each bug planted in it is caught.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_revoke-conformance");

/// Runs the template (with `--bug BUG` when given) and returns the exit status and results.
fn run(bug: Option<&str>) -> (i32, serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shims-py/iommufd_importer.py");
    let mut cmd = format!("python3 {}", script.display());
    if let Some(bug) = bug {
        cmd.push_str(&format!(" --bug {bug}"));
    }
    let out = Command::new(BIN)
        .args(["run", "--format", "json", "--shim-cmd", &cmd])
        .output()
        .expect("the runner starts");
    let results = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON results ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), results)
}

fn with_verdict<'a>(results: &'a serde_json::Value, verdict: &str) -> Vec<&'a str> {
    results["shims"][0]["rules"]
        .as_array()
        .expect("rule verdicts")
        .iter()
        .filter(|r| r["verdict"] == verdict)
        .filter_map(|r| r["rule"].as_str())
        .collect()
}

#[test]
fn the_template_passes_every_case_that_applies() {
    let (code, results) = run(None);
    let shim = &results["shims"][0];
    assert_eq!(shim["shim"]["name"], "py-iommufd-importer");
    assert_eq!(code, 0, "{}", shim["cases"]);
    // The result says who was judged: the command, and the name and version of its hello.
    let process = &shim["shim"]["process"];
    assert!(
        process["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("python3 ") && c.ends_with("iommufd_importer.py")),
        "{process}"
    );
    assert_eq!(process["name"], "py-iommufd-importer");
    assert_eq!(process["version"], "0.1");
    assert_eq!(
        process["protocol"], 2,
        "the template speaks concurrent calls"
    );
    let passed = shim["summary"]["passed"].as_u64().expect("a count");
    assert!(
        passed >= 15,
        "only {passed} cases passed: {}",
        shim["summary"]
    );
    assert!(with_verdict(&results, "violated").is_empty());
}

#[test]
fn an_importer_that_keeps_its_mapping_is_caught_on_the_rules_it_breaks() {
    let (code, results) = run(Some("keep-mapping"));
    assert_eq!(code, 1);
    // It reaches the BAR through VFIO's private interconnect, which VFIO's unmap wait does
    // not count: only its callback can stop the device. Both rules are reported; in a case
    // where one follows from the other's violation (its root cause), it is a consequence.
    let violated = with_verdict(&results, "violated");
    let reported: Vec<&str> = violated
        .iter()
        .copied()
        .chain(with_verdict(&results, "consequence"))
        .collect();
    for rule in [
        "revoke.importer.stop-access",
        "revoke.importer.private-path-sync",
    ] {
        assert!(reported.contains(&rule), "{rule} not among {reported:?}");
    }
    assert!(
        violated.contains(&"revoke.importer.private-path-sync"),
        "{violated:?}"
    );
}

#[test]
fn an_importer_that_takes_the_lock_again_in_its_callback_is_blamed_first() {
    // The driver developer's trial: a re-lock in an iommufd-style callback used to be
    // reported as a dozen exporter violations. Every failed case now names the importer's
    // re-lock as its root cause, at the importer's own `dma_resv_lock`, and lists what the
    // hang kept from happening as consequences.
    let (code, results) = run(Some("relock"));
    assert_eq!(code, 1);
    assert!(with_verdict(&results, "violated").contains(&"invalidate.importer.no-relock"));
    let failed: Vec<&serde_json::Value> = results["shims"][0]["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert!(!failed.is_empty());
    for c in failed {
        let rc = &c["root_cause"];
        assert_eq!(
            rc["rule"], "invalidate.importer.no-relock",
            "{}: {rc}",
            c["name"]
        );
        assert_eq!(rc["role"], "importer", "{}: {rc}", c["name"]);
        let event = rc["event"].as_u64().expect("an event") as usize;
        let e = &c["trace"]["events"][event];
        assert_eq!(e["call"]["fn"], "dma_resv_lock", "{}: {e}", c["name"]);
        assert_eq!(e["from"]["role"], "importer", "{}: {e}", c["name"]);
        let consequences = rc["consequences"].as_array().expect("a list");
        assert!(
            !consequences
                .iter()
                .any(|r| r == "invalidate.importer.no-relock"),
            "{rc}"
        );
    }
}

/// The template answers a harness that offers only version 1 with version 1, and then takes
/// calls without a thread, on its main thread.
#[test]
fn the_template_speaks_version_1_to_a_harness_of_version_1() {
    use std::io::{BufRead, BufReader, Write};
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shims-py/iommufd_importer.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // As a harness does: each message once the previous one is answered.
    let mut exchange = |line: &str| -> serde_json::Value {
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("written");
        stdin.flush().expect("flushed");
        let mut reply = String::new();
        stdout.read_line(&mut reply).expect("a reply");
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
    };
    let hello = exchange(r#"{"type":"hello","versions":[1],"suite":"0.1.0"}"#);
    assert_eq!(hello["version"], 1, "{hello}");
    let ready = exchange(r#"{"type":"case","name":"v1"}"#);
    assert_eq!(ready, serde_json::json!({"type": "ready"}));
    let ret = exchange(r#"{"type":"call","id":1,"call":{"fn":"new","att":0}}"#);
    assert_eq!(
        ret,
        serde_json::json!({"type": "ret", "id": 1,
                           "ret": {"allow_peer2peer": true, "invalidate_mappings": true}})
    );
    drop(stdin);
    assert!(child.wait().expect("exits").success());
}
