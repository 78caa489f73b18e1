//! Judging the real drivers' trace by the suite's own cases and checks.

use judge::outcome::{CaseOutcome, run_case};
use reference_impl::{Call, Trace};
use serde::Serialize;

use crate::ftrace::Console;
use crate::mapping::{Access, KCall, StepSource, accesses, calls, kernel_reports, trace_for};

/// A case of the suite whose scenario the guest plays with VFIO and iommufd, and which
/// guest phase stands for each of its steps.
#[derive(Debug, Clone, Copy)]
pub struct CaseMap {
    /// The case.
    pub case: &'static str,
    /// Its variant (empty if none).
    pub variant: &'static str,
    /// Said after the case's name when one case is played twice (`by VFIO_DEVICE_RESET`).
    pub how: &'static str,
    /// One source per step of the case, in the case's order.
    pub steps: &'static [StepSource],
}

use StepSource::{Attach, Map, Move, NotObservable, Phase};

/// Every case the guest's run can stand for: exporter VFIO, importer iommufd.
pub const CASES: &[CaseMap] = &[
    CaseMap {
        case: "vfio_attach_negotiates_revocability",
        variant: "iommufd",
        how: "",
        steps: &[Phase("export"), Attach("import")],
    },
    CaseMap {
        case: "pin_without_a_pin_op",
        variant: "",
        how: "",
        steps: &[Phase("export"), Attach("import"), Map("import")],
    },
    CaseMap {
        case: "revoke_around_reset",
        variant: "iommufd",
        how: "",
        // export, attach, map, device write, revoke, device write during the reset,
        // reclaim (decode back on), device write after.
        steps: &[
            Phase("export"),
            Attach("import"),
            Map("import"),
            Phase("dma-before"),
            Phase("revoke"),
            NotObservable,
            Phase("restore"),
            Phase("dma-after"),
        ],
    },
    CaseMap {
        case: "attach_after_revoke_fails",
        variant: "",
        how: "",
        steps: &[
            Phase("export"),
            Attach("import2"),
            Map("import2"),
            Phase("revoke2"),
            Phase("import-revoked"),
        ],
    },
    CaseMap {
        case: "cleanup_after_revoke",
        variant: "",
        how: "",
        steps: &[
            Phase("export"),
            Attach("import2"),
            Map("import2"),
            Phase("revoke2"),
            Phase("unmap2"),
            Phase("close"),
        ],
    },
    CaseMap {
        case: "revoke_around_reset",
        variant: "iommufd",
        how: "by VFIO_DEVICE_RESET",
        // virtio-rng's BAR 4: revoke and un-revoke inside one VFIO_DEVICE_RESET; the device
        // makes no DMA here.
        steps: &[
            Phase("r-export"),
            Attach("r-import"),
            Map("r-import"),
            NotObservable,
            Move("r-reset", 0),
            NotObservable,
            Move("r-reset", 1),
            NotObservable,
        ],
    },
];

/// The verdict on one check of one case for the real drivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The check holds on the kernel's trace.
    Pass,
    /// The check fails on the kernel's trace.
    Fail,
    /// The check is about something the trace cannot show (a device access the guest
    /// could not make or see); the suite's result on the mapped trace is not a verdict.
    NotObservable,
}

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct CheckVerdict {
    /// The rule.
    pub rule: String,
    /// What the check expects.
    pub describe: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The suite's message when the check failed on the mapped trace.
    pub detail: Option<String>,
}

/// One case's verdicts, with the mapped trace.
#[derive(Debug, Clone, Serialize)]
pub struct CaseVerdict {
    /// `name[variant]`.
    pub case: String,
    /// Per check.
    pub checks: Vec<CheckVerdict>,
    /// The suite's rendering of the case on the kernel's trace (steps, trace, checks).
    pub snapshot: String,
    /// The trace, as `revoke-conformance check-trace` reads it.
    pub trace: Trace,
    /// Kernel calls of each step the trace format has no event for.
    pub unmapped: Vec<Vec<String>>,
}

fn step_of(describe: &str) -> Option<usize> {
    describe
        .strip_prefix("step ")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

fn is_about_device(describe: &str) -> bool {
    describe.contains("device access")
        || describe.contains("device does not access")
        || describe.contains("device write")
}

/// Judges one case on the kernel's calls and the guest's device accesses.
pub fn judge(
    map: &CaseMap,
    all: &[KCall],
    acc: &[Access],
    reports: &[(String, String)],
) -> Result<CaseVerdict, String> {
    let def = judge::spec()
        .case(map.case)
        .ok_or_else(|| format!("no case {}", map.case))?;
    let variant = def
        .variants
        .iter()
        .find(|v| v.label == map.variant)
        .map(|v| v.label)
        .ok_or_else(|| format!("case {} has no variant `{}`", map.case, map.variant))?;
    let (trace, unmapped) = trace_for(all, acc, reports, map.steps);
    let outcome: CaseOutcome = run_case(&judge::spec(), def, variant, &mut |steps| {
        if steps.len() == map.steps.len() {
            Ok(trace.clone())
        } else {
            Err(format!(
                "the case has {} steps, the real-drivers mapping {}: update real-drivers/src/judge.rs",
                steps.len(),
                map.steps.len()
            ))
        }
    });
    let accessed = |step: usize| {
        trace
            .events
            .iter()
            .any(|e| e.step == step && matches!(e.call, Call::DmaAccess { .. }))
    };
    let checks = outcome
        .checks
        .iter()
        .map(|c| {
            let observable = !is_about_device(&c.describe)
                || step_of(&c.describe)
                    .is_some_and(|s| accessed(s) && map.steps.get(s) != Some(&NotObservable));
            CheckVerdict {
                rule: c.rule.to_string(),
                describe: c.describe.clone(),
                verdict: match (&c.result, observable) {
                    (_, false) => Verdict::NotObservable,
                    (Ok(()), true) => Verdict::Pass,
                    (Err(_), true) => Verdict::Fail,
                },
                detail: c.result.clone().err(),
            }
        })
        .collect();
    Ok(CaseVerdict {
        case: if map.how.is_empty() {
            outcome.name()
        } else {
            format!("{} {}", outcome.name(), map.how)
        },
        checks,
        snapshot: outcome.snapshot(),
        trace,
        unmapped,
    })
}

/// Judges every case of [`CASES`] on one console capture.
pub fn judge_all(console: &Console) -> Result<Vec<CaseVerdict>, String> {
    let all = calls(console);
    let acc = accesses(console);
    let reports = kernel_reports(console);
    CASES
        .iter()
        .map(|m| judge(m, &all, &acc, &reports))
        .collect()
}

/// The per-rule table: one line per rule and case, the worst verdict of its checks.
pub fn markdown(verdicts: &[CaseVerdict]) -> String {
    let mut out =
        String::from("| case | rule | check | real VFIO + iommufd (7.2) |\n|---|---|---|---|\n");
    for v in verdicts {
        for c in &v.checks {
            let verdict = match &c.verdict {
                Verdict::Pass => "pass".to_string(),
                Verdict::Fail => format!(
                    "**FAIL**: {}",
                    c.detail.as_deref().unwrap_or("").replace('|', "\\|")
                ),
                Verdict::NotObservable => "not observable".to_string(),
            };
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {verdict} |\n",
                v.case,
                c.rule,
                c.describe.replace('|', "\\|")
            ));
        }
    }
    out
}
