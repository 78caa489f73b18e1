//! Judging a recorded boot of Linux 7.2.13 (`tests/fixtures/console-7.2.13.log`, the guest's
//! report and the kprobe trace of `cargo run -p real-drivers -- run`), and the same
//! recording with the driver behaviour broken on purpose: the checks must catch it.

use real_drivers::ftrace::parse_console;
use real_drivers::judge::{CaseVerdict, Verdict, judge_all};

const RECORDED: &str = include_str!("fixtures/console-7.2.13.log");

fn judge(text: &str) -> Vec<CaseVerdict> {
    let console = parse_console(text);
    assert!(console.complete, "the recording has both dump markers");
    judge_all(&console).expect("every case maps")
}

fn verdict<'a>(vs: &'a [CaseVerdict], case: &str, describe_starts: &str) -> &'a Verdict {
    let v = vs.iter().find(|v| v.case == case).expect(case);
    let c = v
        .checks
        .iter()
        .find(|c| c.describe.starts_with(describe_starts))
        .unwrap_or_else(|| panic!("{case}: no check `{describe_starts}`"));
    &c.verdict
}

/// Drops the lines of the trace for which `drop` holds.
fn without(drop: impl Fn(&str) -> bool) -> String {
    RECORDED
        .lines()
        .filter(|l| !drop(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_recorded_run_is_judged_as_in_the_book() {
    let vs = judge(RECORDED);
    let cases: Vec<&str> = vs.iter().map(|v| v.case.as_str()).collect();
    assert_eq!(
        cases,
        [
            "vfio_attach_negotiates_revocability[iommufd]",
            "pin_without_a_pin_op",
            "revoke_around_reset[iommufd]",
            "attach_after_revoke_fails",
            "cleanup_after_revoke",
            "revoke_around_reset[iommufd] by VFIO_DEVICE_RESET",
        ]
    );
    let reset = "revoke_around_reset[iommufd] by VFIO_DEVICE_RESET";
    for check in [
        "step 4: `dma_resv_lock`, `dma_buf_invalidate",
        "step 4: `dma_buf_invalidate_mappings`, `dma_resv_wait_timeout`",
        "step 4: `dma_resv_wait_timeout` for BOOKKEEP",
        "step 4: `dma_resv_unlock`, `wait_for_unmap`",
    ] {
        assert_eq!(verdict(&vs, reset, check), &Verdict::Pass, "{check}");
    }
    assert_eq!(
        verdict(&vs, reset, "step 3: the device access finds ok"),
        &Verdict::NotObservable
    );
    let r = "revoke_around_reset[iommufd]";
    assert_eq!(
        verdict(&vs, r, "step 4: `dma_resv_lock`, `dma_buf_invalidate"),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(&vs, r, "step 4: `dma_resv_wait_timeout` for BOOKKEEP"),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(&vs, r, "step 4: `dma_resv_unlock`, `wait_for_unmap`"),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(&vs, r, "step 3: the device access finds ok"),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(&vs, r, "step 7: the device does not access"),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(&vs, r, "step 5: the device does not access"),
        &Verdict::NotObservable
    );
    assert_eq!(
        verdict(&vs, r, "no device access finds RECLAIMED"),
        &Verdict::NotObservable
    );
    // iommufd reaches the BAR through the private interconnect, and its callback removes the
    // IOMMU mapping: `iommu_unmap()` inside `iopt_revoke_notify()`.
    assert_eq!(
        verdict(
            &vs,
            r,
            "step 4: every private-interconnect mapping is removed"
        ),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(&vs, r, "step 4: every mapping held when the step begins"),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(
            &vs,
            "attach_after_revoke_fails",
            "step 4: `ops.attach` returns -ENODEV"
        ),
        &Verdict::Pass
    );
    assert_eq!(
        verdict(
            &vs,
            "cleanup_after_revoke",
            "step 5: `ops.release` is called"
        ),
        &Verdict::Pass
    );
    for v in &vs {
        assert!(
            v.checks.iter().all(|c| c.verdict != Verdict::Fail),
            "{}: {:?}",
            v.case,
            v.checks
        );
    }
}

#[test]
fn an_exporter_that_does_not_wait_for_the_fences_fails() {
    let vs = judge(&without(|l| {
        l.contains(" e_wait: ") || l.contains(" x_wait: ")
    }));
    assert_eq!(
        verdict(
            &vs,
            "revoke_around_reset[iommufd]",
            "step 4: `dma_resv_wait_timeout` for BOOKKEEP"
        ),
        &Verdict::Fail
    );
}

#[test]
fn an_importer_that_does_not_unmap_in_the_callback_fails() {
    let vs = judge(&without(|l| l.contains("_iommuunmap: ")));
    assert_eq!(
        verdict(
            &vs,
            "revoke_around_reset[iommufd]",
            "step 4: every private-interconnect mapping is removed"
        ),
        &Verdict::Fail
    );
}

#[test]
fn a_device_write_after_the_revoke_fails() {
    let text = RECORDED.replace(
        "dma after revoke: NO WRITE ARRIVED",
        "dma after revoke: WRITE ARRIVED",
    );
    let vs = judge(&text);
    assert_eq!(
        verdict(
            &vs,
            "revoke_around_reset[iommufd]",
            "step 7: the device does not access"
        ),
        &Verdict::Fail
    );
}

#[test]
fn an_attach_that_succeeds_while_revoked_fails() {
    // vfio_pci_dma_buf_attach() returning 0 while revoked.
    let text = RECORDED.replace(
        "<- vfio_pci_dma_buf_attach) ret=-19",
        "<- vfio_pci_dma_buf_attach) ret=0",
    );
    let vs = judge(&text);
    assert_eq!(
        verdict(
            &vs,
            "attach_after_revoke_fails",
            "step 4: `ops.attach` returns -ENODEV"
        ),
        &Verdict::Fail
    );
}

#[test]
fn a_truncated_dump_is_refused() {
    let cut: String = RECORDED
        .lines()
        .take(60)
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!parse_console(&cut).complete);
}

#[test]
fn a_lockdep_report_during_the_last_put_fails() {
    let text = RECORDED.replace(
        "real-drivers: phase device-close",
        "real-drivers: kmsg in close: WARNING: possible circular locking dependency detected\nreal-drivers: phase device-close",
    );
    let vs = judge(&text);
    assert_eq!(
        verdict(&vs, "cleanup_after_revoke", "the core prints no warning"),
        &Verdict::Fail
    );
    // A WARN()'s own banner is the __warn probe's to record, not counted twice.
    let banner = RECORDED.replace(
        "real-drivers: phase device-close",
        "real-drivers: kmsg in close: WARNING: CPU: 0 PID: 1 at drivers/dma-buf/dma-buf.c:1 x\nreal-drivers: phase device-close",
    );
    assert_eq!(
        verdict(
            &judge(&banner),
            "cleanup_after_revoke",
            "the core prints no warning"
        ),
        &Verdict::Pass
    );
}

/// The verdict table of `book/src/real-drivers.md` says what the recorded boot gives: per
/// case, the same rules with the same verdicts, in the same order.
#[test]
fn the_book_table_matches_the_recording() {
    let book = include_str!("../../book/src/real-drivers.md");
    let mut table: Vec<(String, String, String)> = Vec::new();
    let mut case = String::new();
    for line in book.lines().filter(|l| l.starts_with("| ")) {
        let cols: Vec<&str> = line
            .split(" | ")
            .map(|c| c.trim_matches(['|', ' ']))
            .collect();
        if cols.len() != 5 || !cols[1].starts_with('`') || cols[3] != "pass" {
            continue;
        }
        if !cols[0].is_empty() {
            case = cols[0].trim_matches('`').to_string();
        }
        let word = ["pass", "not observable", "FAIL"]
            .into_iter()
            .find(|w| cols[4].starts_with(w))
            .unwrap_or("?");
        table.push((
            case.clone(),
            cols[1].trim_matches('`').to_string(),
            word.to_string(),
        ));
    }
    let judged: Vec<(String, String, String)> = judge(RECORDED)
        .iter()
        .flat_map(|v| {
            v.checks.iter().map(|c| {
                let word = match c.verdict {
                    Verdict::Pass => "pass",
                    Verdict::NotObservable => "not observable",
                    Verdict::Fail => "FAIL",
                };
                (v.case.clone(), c.rule.clone(), word.to_string())
            })
        })
        .collect();
    assert_eq!(table, judged);
}

#[test]
fn a_refused_attachment_keeps_one_name() {
    let vs = judge(RECORDED);
    let v = vs
        .iter()
        .find(|v| v.case == "attach_after_revoke_fails")
        .expect("case");
    let step4: Vec<String> = v
        .trace
        .events
        .iter()
        .filter(|e| e.step == 4)
        .map(|e| e.call.render())
        .collect();
    assert!(
        step4
            .iter()
            .any(|c| c.starts_with("dma_buf_dynamic_attach(buf0") && c.contains("-> att1")),
        "{step4:?}"
    );
    assert!(step4.iter().any(|c| c == "ops.attach(att1)"), "{step4:?}");
}
