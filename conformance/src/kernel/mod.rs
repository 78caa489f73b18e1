//! The bridge to real kernels: the book's scenarios run by the real dma-buf core.
//!
//! `revoke-conformance kernel` finds (or installs) a Linux source tree, adds the kernel runner
//! (`kernel/revoke_spec_kunit.c`: C exporters and importers playing the reference profiles,
//! a step interpreter, a trace emitter) and the scenarios as generated C tables, builds a
//! User-Mode Linux kernel with KUnit for each configuration, collects the traces the runner
//! prints, and judges them with the same checks as every other backend. Rules carry the first
//! kernel version they hold for (`since=` in the book): a case that checks a rule the kernel
//! predates is not applicable to it, with the reason; a rule the book says holds on the kernel
//! and the kernel breaks is a *finding*.

pub mod ctable;
pub mod parse;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use reference_impl::{ExporterKind, ImporterKind, Role, Step, Trace};

use crate::cli::RunFormat;
use crate::results::{
    CaseResult, FORMAT_VERSION, RunResults, ShimInfo, ShimResults, Status, Summary, Verdict,
};
use crate::runner::{Backend, Ran, RunOptions, run_backend, selected};
use crate::{CaseDef, RuleDef};

/// The kernel runner, built into this binary so the command works from any directory.
const RUNNER_C: &str = include_str!("../../../kernel/revoke_spec_kunit.c");
/// The interposition header compiled into `dma-buf.c` only.
const HOOKS_H: &str = include_str!("../../../kernel/revoke_spec_hooks.h");
/// Marks the lines the bridge adds to a tree's `Kconfig` and `Makefile`.
const MARKER: &str = "# revoke-spec kernel bridge (added by revoke-conformance kernel)";

/// A Linux version, `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion(pub u32, pub u32);

impl KernelVersion {
    /// Reads `7.1`.
    pub fn parse(s: &str) -> Option<KernelVersion> {
        let (a, b) = s.split_once('.')?;
        Some(KernelVersion(a.parse().ok()?, b.parse().ok()?))
    }

    /// Reads `VERSION` and `PATCHLEVEL` from a tree's top-level `Makefile`.
    pub fn of_makefile(text: &str) -> Option<KernelVersion> {
        let field = |name: &str| -> Option<u32> {
            text.lines().find_map(|l| {
                l.strip_prefix(name)?
                    .trim()
                    .strip_prefix('=')?
                    .trim()
                    .parse()
                    .ok()
            })
        };
        Some(KernelVersion(field("VERSION")?, field("PATCHLEVEL")?))
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// A kernel as the rules see it: its version and the options it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `MAJOR.MINOR`.
    pub version: KernelVersion,
    /// The options set (`CONFIG_DMABUF_MOVE_NOTIFY`) among those rules mention.
    pub enabled: Vec<String>,
}

impl Target {
    /// Whether `rule` holds on this kernel by its version marks: `Err` gives the reason.
    pub fn rule_holds(&self, rule: &RuleDef) -> Result<(), String> {
        let Some(since) = rule.since.and_then(KernelVersion::parse) else {
            return Ok(());
        };
        if self.version >= since {
            return Ok(());
        }
        match rule.earlier_with {
            Some(cfg) if self.enabled.iter().any(|e| e == cfg) => Ok(()),
            Some(cfg) => Err(format!(
                "`{}` holds since Linux {since} (earlier only with {cfg}=y); this is Linux {} without it",
                rule.id, self.version
            )),
            None => Err(format!(
                "`{}` holds since Linux {since}; this is Linux {}",
                rule.id, self.version
            )),
        }
    }

    /// Whether a case variant can be judged on this kernel, before looking at its trace: at
    /// least one rule it checks must hold here, and no unheld rule its profiles rely on may
    /// take away what it checks (see [`relied_on`]). The checks of the rules that do not hold
    /// are then left out: see [`drop_unheld_checks`].
    pub fn case_applies(&self, case: &CaseDef, steps: &[Step]) -> Result<(), String> {
        let mut unheld = Vec::new();
        for id in case.rules {
            if let Some(rule) = crate::rule(id)
                && let Err(e) = self.rule_holds(rule)
            {
                unheld.push(e);
            }
        }
        if !unheld.is_empty() && unheld.len() == case.rules.len() {
            return Err(unheld.join("; "));
        }
        // Every reliance that takes something away, so that the reason is complete.
        let mut why = Vec::new();
        for r in relied_on(steps) {
            let Some(Err(e)) = crate::rule(r.rule).map(|rule| self.rule_holds(rule)) else {
                continue;
            };
            match r.affects {
                Affects::Everything => why.push(format!("{}. {e}", r.why)),
                Affects::AllBut(_) | Affects::Only(_) => {
                    let hit: Vec<String> = case
                        .rules
                        .iter()
                        .filter(|id| r.affects.covers(id) && self.holds(id))
                        .map(|id| format!("`{id}`"))
                        .collect();
                    if !hit.is_empty() {
                        why.push(format!(
                            "{}. {e}. The case checks {}, which this changes",
                            r.why,
                            hit.join(", ")
                        ));
                    }
                }
                // Decided on the kernel's trace: see `exercised`.
                Affects::StopsIn(_) => {}
            }
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join(". Also, "))
        }
    }

    /// Whether the rule with this ID holds on this kernel (an unknown ID does).
    fn holds(&self, id: &str) -> bool {
        crate::rule(id).is_none_or(|r| self.rule_holds(r).is_ok())
    }

    /// Whether a case variant whose scenario, by an unheld rule it relies on, never gets past
    /// a step on this kernel ([`Affects::StopsIn`]) was exercised by the kernel's trace. When
    /// the trace stopped exactly there, in the exporter's wait for unmaps, a check that fails
    /// only because a later step never ran, or only because that wait never returns, was not
    /// exercised; if such checks are the case's only failures, the case is not applicable.
    /// (A check that fails for any other reason keeps the case judged, and failing.)
    pub fn exercised(
        &self,
        case: &CaseDef,
        variant: &str,
        steps: &[Step],
        trace: &Trace,
    ) -> Result<(), String> {
        for r in relied_on(steps) {
            let Affects::StopsIn(step) = r.affects else {
                continue;
            };
            let Some(Err(e)) = crate::rule(r.rule).map(|rule| self.rule_holds(rule)) else {
                continue;
            };
            let hang = trace
                .events
                .iter()
                .find(|ev| ev.ret == Some(reference_impl::Ret::Hang));
            let stopped_there = trace.hung_at == Some(step)
                && hang.is_some_and(|ev| ev.step == step && ev.call.name() == "wait_for_unmap");
            if !stopped_there {
                continue;
            }
            let Some(scenario) = crate::outcome::scenario_of(case, variant) else {
                continue;
            };
            let mut unexercised: Vec<&str> = Vec::new();
            let mut failed = false;
            for c in &scenario.checks {
                let Err(failure) = c.check.eval(trace) else {
                    continue;
                };
                if !self.holds(c.rule) {
                    continue; // Left out anyway: see drop_unheld_checks.
                }
                if crate::check::never_ran(&failure) || c.check.describe == crate::check::NO_HANG {
                    if !unexercised.contains(&c.rule) {
                        unexercised.push(c.rule);
                    }
                } else if crate::rule(c.rule).is_none_or(|x| x.strength != crate::Strength::May) {
                    failed = true;
                }
            }
            if !unexercised.is_empty() && !failed {
                let list: Vec<String> = unexercised.iter().map(|id| format!("`{id}`")).collect();
                return Err(format!(
                    "{}. {e}. The kernel's trace stops in step {step} as this predicts, and the \
                     case's checks of {} need the steps after it, or that step's return",
                    r.why,
                    list.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// What an unheld rule a scenario relies on takes away from a case on a kernel that predates
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affects {
    /// Everything: what the case is about does not happen on the kernel.
    Everything,
    /// The checks of every rule except those whose ID starts with one of these.
    AllBut(&'static [&'static str]),
    /// The checks of the rules whose ID starts with one of these.
    Only(&'static [&'static str]),
    /// The scenario never gets past this step on the kernel (a wait that cannot end): the
    /// checks that need a later step, or that step's return. Which those are is read from the
    /// checks' own verdicts on the kernel's trace: see [`Target::exercised`].
    StopsIn(usize),
}

impl Affects {
    /// Whether the checks of rule `id` are taken away (decided later for `StopsIn`).
    pub fn covers(&self, id: &str) -> bool {
        match self {
            Affects::Everything => true,
            Affects::AllBut(keep) => !keep.iter().any(|p| id.starts_with(p)),
            Affects::Only(hit) => hit.iter().any(|p| id.starts_with(p)),
            Affects::StopsIn(_) => false,
        }
    }
}

/// A rule a scenario relies on without checking it, because of the profiles it uses and what
/// it does with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reliance {
    /// The rule.
    pub rule: &'static str,
    /// What happens instead on a kernel where the rule does not hold, naming the steps.
    pub why: String,
    /// What that takes away from the case.
    pub affects: Affects,
}

/// The rules a scenario relies on without checking them, each with what a kernel without it
/// does instead (Linux 6.12's `drivers/dma-buf/dma-buf.c`) and what that takes away.
pub fn relied_on(steps: &[Step]) -> Vec<Reliance> {
    let mut out: Vec<Reliance> = Vec::new();
    let mut push = |r: Reliance| {
        if !out.iter().any(|o| {
            o.rule == r.rule
                && std::mem::discriminant(&o.affects) == std::mem::discriminant(&r.affects)
        }) {
            out.push(r);
        }
    };
    let mut exporters: BTreeMap<u32, ExporterKind> = BTreeMap::new();
    // Per attachment: importer, buffer, the step it attached in, and (dynamic importer
    // profile) the step of the mapping it holds.
    struct Att {
        importer: ImporterKind,
        buf: u32,
        attached: usize,
        mapped: Option<usize>,
    }
    let mut atts: BTreeMap<u32, Att> = BTreeMap::new();
    let mut revoked: Vec<u32> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        match *s {
            Step::Export { buf, exporter } => {
                exporters.insert(buf.0, exporter);
            }
            Step::Attach { att, buf, importer }
            | Step::AttachDuringEviction { att, buf, importer } => {
                let exporter = exporters.get(&buf.0).copied();
                if importer == ImporterKind::Rdma {
                    // 6.12 dma_buf_dynamic_attach(): WARN_ON(importer_ops &&
                    // !importer_ops->move_notify) and -EINVAL.
                    push(Reliance {
                        rule: "attach.core.null-callback",
                        why: format!(
                            "the case uses the rdma importer profile (a NULL `invalidate_mappings`) in step {i}: the 6.12 core refuses such importer ops with a warning and `-EINVAL` before the exporter sees them, so that attachment never exists"
                        ),
                        affects: Affects::Everything,
                    });
                    continue;
                }
                match exporter {
                    // Before 7.0, dma_buf_dynamic_attach() maps (and pins) an attachment whose
                    // dynamic-ness differs from the exporter's (dma_buf_is_dynamic(): the
                    // exporter has `pin`) and caches the mapping until dma_buf_detach().
                    Some(ExporterKind::Gpu) if importer == ImporterKind::Static => push(Reliance {
                        rule: "map.core.no-cache",
                        why: format!(
                            "the case attaches the static importer profile to the gpu exporter profile (with `pin`) in step {i}: the 6.12 core pins and maps that attachment inside `dma_buf_attach()` and keeps both until `dma_buf_detach()`, so its maps and unmaps never reach the exporter and the buffer cannot move while it is attached"
                        ),
                        // Teardown and CPU access do not depend on when the exporter's ops
                        // ran, nor does which helpers the importer calls, and with what lock.
                        affects: Affects::AllBut(&[
                            "teardown.",
                            "cpu.",
                            "lock.importer.unlocked-helpers",
                        ]),
                    }),
                    // A static importer of the vfio profile is refused by the exporter's
                    // attach op (no peer-to-peer) before the core would cache anything, and so
                    // is any importer of a revoked buffer.
                    Some(ExporterKind::Vfio)
                        if importer != ImporterKind::Static && !revoked.contains(&buf.0) =>
                    {
                        push(Reliance {
                            rule: "map.core.no-cache",
                            why: format!(
                                "the case attaches the {} importer profile to the vfio exporter profile (without `pin`) in step {i}: the 6.12 core maps that attachment inside `dma_buf_dynamic_attach()` and keeps the mapping until `dma_buf_detach()`: its maps return that mapping without asking the exporter, even after an invalidation or a revoke, and its unmaps never reach the exporter",
                                importer.name()
                            ),
                            // A map after an invalidation or a revoke returns the cached
                            // mapping without asking the exporter.
                            affects: Affects::Only(&[
                                "map.",
                                "invalidate.importer.",
                                "revoke.exporter.reject-map",
                                "revoke.core.no-revoked-state",
                            ]),
                        });
                        atts.insert(
                            att.0,
                            Att {
                                importer,
                                buf: buf.0,
                                attached: i,
                                mapped: None,
                            },
                        );
                    }
                    Some(ExporterKind::Vfio) => {}
                    _ => {
                        atts.insert(
                            att.0,
                            Att {
                                importer,
                                buf: buf.0,
                                attached: i,
                                mapped: None,
                            },
                        );
                    }
                }
            }
            Step::Map { att } | Step::Access { att, .. } | Step::Submit { att, .. } => {
                // The dynamic importer profile maps on demand (and its device work needs one).
                if let Some(a) = atts.get_mut(&att.0)
                    && a.importer == ImporterKind::Dynamic
                    && a.mapped.is_none()
                    && !revoked.contains(&a.buf)
                {
                    a.mapped = Some(i);
                }
            }
            Step::Unmap { att } => {
                if let Some(a) = atts.get_mut(&att.0) {
                    a.mapped = None;
                }
            }
            Step::Detach { att } => {
                atts.remove(&att.0);
            }
            Step::Revoke { buf } | Step::Put { buf } => {
                if exporters.get(&buf.0) == Some(&ExporterKind::Vfio) && !revoked.contains(&buf.0) {
                    // The vfio profile's revoke (a put revokes too) waits for every mapping
                    // map_dma_buf made to be given back: the one cached at attach comes back
                    // only at dma_buf_detach().
                    if let Some(a) = atts.values().find(|a| a.buf == buf.0) {
                        push(Reliance {
                            rule: "map.core.no-cache",
                            why: format!(
                                "the vfio exporter profile's revoke in step {i} waits until every mapping `map_dma_buf` made is given back, and on 6.12 the mapping the core made when the {} importer profile attached (step {}) is given back only by `dma_buf_detach()`: the revoke never returns",
                                a.importer.name(),
                                a.attached
                            ),
                            affects: Affects::StopsIn(i),
                        });
                    }
                }
                // An unplugged or revoked buffer can no longer be mapped; a dynamic importer
                // gives its mapping back when invalidated.
                revoked.push(buf.0);
                for a in atts.values_mut().filter(|a| a.buf == buf.0) {
                    a.mapped = None;
                }
            }
            // Only the vfio profile restores; the gpu profile's unplug is for good.
            Step::Restore { buf } if exporters.get(&buf.0) == Some(&ExporterKind::Vfio) => {
                revoked.retain(|b| *b != buf.0)
            }
            Step::Move { buf } => {
                // Before 7.1, without CONFIG_DMABUF_MOVE_NOTIFY, dma_buf_map_attachment() pins
                // every mapping of an exporter with `pin`, dynamic attachments included, and
                // the exporter cannot move a pinned buffer.
                if exporters.get(&buf.0) == Some(&ExporterKind::Gpu)
                    && let Some(a) = atts.values().find(|a| a.buf == buf.0 && a.mapped.is_some())
                {
                    push(Reliance {
                        rule: "map.dynamic.no-pin-no-wait",
                        why: format!(
                            "step {i} moves the buffer while the dynamic importer profile holds the mapping it made in step {}: without the option the 6.12 core pinned the buffer inside `dma_buf_map_attachment()`, so the move migrates nothing",
                            a.mapped.unwrap_or_default()
                        ),
                        affects: Affects::Everything,
                    });
                }
            }
            Step::Restore { .. }
            | Step::Vmap { .. }
            | Step::Mmap { .. }
            | Step::Reclaim { .. }
            | Step::ExporterFence { .. }
            | Step::Complete => {}
        }
    }
    out
}

/// A kernel configuration the bridge builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MoveNotify {
    /// `CONFIG_DMABUF_MOVE_NOTIFY=y`.
    On,
    /// `CONFIG_DMABUF_MOVE_NOTIFY` not set.
    Off,
}

/// `revoke-conformance kernel`.
#[derive(clap::Args, Debug)]
pub struct KernelArgs {
    /// Use this kernel source tree in place (a developer's own tree): the runner is added to
    /// its drivers/dma-buf. Without it, the Debian source package is extracted under --work-dir.
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// The source tarball to extract (default: /usr/src/linux-source-6.12.tar.xz, installed
    /// with `apt-get install linux-source-6.12` if missing).
    #[arg(long)]
    pub tarball: Option<PathBuf>,
    /// Where to extract, build and keep logs.
    #[arg(long, default_value = "target/kernel")]
    pub work_dir: PathBuf,
    /// The configurations to build (default: both, if the tree has the option).
    #[arg(long, value_enum)]
    pub move_notify: Vec<MoveNotify>,
    /// Parallel build jobs.
    #[arg(long, default_value_t = 2)]
    pub jobs: u32,
    /// Judge saved kunit.py logs instead of building (`on=FILE`, `off=FILE`, or `FILE` for a
    /// tree without the option).
    #[arg(long)]
    pub log: Vec<String>,
    /// Only cases whose name, or one of whose rule IDs, starts with this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: RunFormat,
    /// Write the report here instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Where rule links point.
    #[arg(long, default_value = "book/build/")]
    pub book_url: String,
    /// Write the results summary (the book's table is rendered from it) to this file.
    #[arg(long)]
    pub write_summary: Option<PathBuf>,
    /// Fail if the results differ from this committed summary.
    #[arg(long)]
    pub check_summary: Option<PathBuf>,
    /// Also run every in-tree shim (in process) and report it first, so that each rule's
    /// verdict on the kernel stands next to the shims' in the report and the rule matrix.
    #[arg(long)]
    pub with_shims: bool,
}

/// One configuration's collected traces, as a backend the runner judges.
pub struct KernelBackend {
    info: ShimInfo,
    target: Target,
    traces: BTreeMap<String, Result<Trace, String>>,
}

impl KernelBackend {
    /// A backend over traces collected from a kernel (`mutant` selects the suite: `none` for
    /// the reference profiles).
    pub fn new(name: &str, target: Target, traces: &[parse::KernelTrace], mutant: &str) -> Self {
        KernelBackend {
            info: ShimInfo {
                name: name.to_string(),
                role: Role::Core,
                plays: vec!["core".into()],
                capabilities: vec!["core".into()],
                description: format!(
                    "the real dma-buf core of Linux {}, run under KUnit on User-Mode Linux{}",
                    target.version,
                    if mutant == "none" {
                        String::new()
                    } else {
                        format!(" with the mutant C driver `{mutant}`")
                    }
                ),
            },
            target,
            traces: traces
                .iter()
                .filter(|t| t.mutant == mutant)
                .map(|t| (t.name.clone(), t.trace.clone()))
                .collect(),
        }
    }
}

impl Backend for KernelBackend {
    fn info(&self) -> ShimInfo {
        self.info.clone()
    }
    fn applies_to(&self, case: &CaseDef, variant: &str, steps: &[Step]) -> Result<(), String> {
        self.target.case_applies(case, steps)?;
        match self.traces.get(&case.variant_name(variant)) {
            Some(Ok(trace)) => self.target.exercised(case, variant, steps, trace),
            _ => Ok(()),
        }
    }
    fn run(&mut self, case: &CaseDef, variant: &str, _steps: &[Step]) -> Ran {
        let name = case.variant_name(variant);
        Ran {
            trace: self
                .traces
                .get(&name)
                .cloned()
                .unwrap_or_else(|| Err(format!("the kernel printed no trace for `{name}`"))),
            stderr: None,
        }
    }
}

/// Leaves out of each case's verdict the checks of rules that do not hold on the kernel, and
/// recomputes the statuses and counts.
pub fn drop_unheld_checks(results: &mut ShimResults, target: &Target) {
    for c in &mut results.cases {
        if c.status == Status::NotApplicable {
            continue;
        }
        c.failures
            .retain(|f| crate::rule(&f.rule).is_none_or(|r| target.rule_holds(r).is_ok()));
        c.status = if c.error.is_some() || c.failures.iter().any(|f| f.strength == "MUST") {
            Status::Fail
        } else if c.failures.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        };
    }
    results.summary = Summary::of(&results.cases);
}

/// Sets the per-rule reasons of a kernel's results: rules the kernel predates are not
/// applicable, with the reason; a violated rule that holds on the kernel is a finding.
pub fn explain_rules(results: &mut ShimResults, target: &Target) {
    for r in &mut results.rules {
        let Some(rule) = crate::rule(&r.rule) else {
            continue;
        };
        match target.rule_holds(rule) {
            Err(reason) => {
                r.verdict = Verdict::NotApplicable;
                r.reason = Some(reason);
            }
            Ok(()) if r.verdict == Verdict::Violated => {
                r.reason = Some(format!(
                    "finding: the book says this holds on Linux {} and the kernel breaks it",
                    target.version
                ));
            }
            Ok(()) => {}
        }
    }
}

/// A mutant C driver and the rule the suite must catch it on.
pub struct MutantSpec {
    /// The suite's mutant name.
    pub name: &'static str,
    /// What it gets wrong.
    pub bug: &'static str,
    /// The rule a case must fail on.
    pub rule: &'static str,
}

/// The mutants built into the kernel runner.
pub const MUTANTS: &[MutantSpec] = &[MutantSpec {
    name: "dynamic-keeps-dma",
    bug: "the dynamic importer's move_notify keeps its mapping, and its device keeps using it",
    rule: "invalidate.importer.repeated",
}];

/// The compact results of a bridge run: what the book's table is rendered from, and what CI
/// compares a fresh run against.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary2 {
    /// The kernel (`6.12`).
    pub kernel: String,
    /// Per configuration.
    pub configs: Vec<ConfigSummary>,
    /// Per configuration and mutant.
    pub mutants: Vec<MutantSummary>,
}

/// One configuration's results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSummary {
    /// `linux-6.12 (move-notify on)`.
    pub name: String,
    /// Case variants the kernel ran (a trace came back).
    pub ran: usize,
    /// Case variants judged (applicable to this kernel).
    pub judged: usize,
    /// Per case variant: `pass`, `FAIL`, `n/a`..., with the reason or the failed rules.
    pub cases: Vec<CaseLine>,
    /// Per rule.
    pub rules: Vec<RuleLine>,
}

/// One case variant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseLine {
    /// `name[variant]`.
    pub case: String,
    /// Its status word.
    pub status: String,
    /// Why it is not applicable, the rules it failed, or why it could not run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleLine {
    /// The rule.
    pub rule: String,
    /// `conformant`, `VIOLATED`, `warning` or `n/a`.
    pub verdict: String,
    /// Why it is not applicable, or that it is a finding.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Whether a mutant was caught.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MutantSummary {
    /// The configuration.
    pub config: String,
    /// The mutant.
    pub mutant: String,
    /// The rule it must be caught on.
    pub rule: String,
    /// The case variants that failed on that rule.
    pub caught_by: Vec<String>,
}

fn case_line(c: &CaseResult) -> CaseLine {
    let detail = match c.status {
        Status::NotApplicable => c.reason.clone().unwrap_or_default(),
        _ if c.error.is_some() => c.error.clone().unwrap_or_default(),
        _ => {
            let mut rules: Vec<&str> = c.failures.iter().map(|f| f.rule.as_str()).collect();
            rules.dedup();
            rules.join(", ")
        }
    };
    CaseLine {
        case: c.name.clone(),
        status: c.status.word().to_string(),
        detail,
    }
}

fn summarize(shim: &ShimResults, ran: usize) -> ConfigSummary {
    ConfigSummary {
        name: shim.shim.name.clone(),
        ran,
        judged: shim
            .cases
            .iter()
            .filter(|c| c.status != Status::NotApplicable)
            .count(),
        cases: shim.cases.iter().map(case_line).collect(),
        rules: shim
            .rules
            .iter()
            .map(|r| RuleLine {
                rule: r.rule.clone(),
                verdict: r.verdict.word().to_string(),
                reason: r.reason.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn run_cmd(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {what}: {e}"))
        .and_then(|o| {
            if o.status.success() {
                Ok(o)
            } else {
                Err(format!(
                    "{what} failed ({}):\n{}{}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ))
            }
        })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Finds the tarball, installing the Debian package if needed.
fn tarball(args: &KernelArgs) -> Result<PathBuf, String> {
    if let Some(t) = &args.tarball {
        return Ok(t.clone());
    }
    let default = PathBuf::from("/usr/src/linux-source-6.12.tar.xz");
    if default.exists() {
        return Ok(default);
    }
    eprintln!("kernel: installing linux-source-6.12 with apt-get");
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    cmd.args(["install", "-y", "linux-source-6.12"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_cmd(&mut cmd, "apt-get install linux-source-6.12")?;
    if default.exists() {
        Ok(default)
    } else {
        Err(format!(
            "{} is still missing after apt-get",
            default.display()
        ))
    }
}

/// The tree to build in: the one given, or the tarball extracted under the work folder
/// (reused when already extracted).
fn tree(args: &KernelArgs, work: &Path) -> Result<PathBuf, String> {
    if let Some(t) = &args.tree {
        return std::fs::canonicalize(t).map_err(|e| format!("{}: {e}", t.display()));
    }
    let tarball = tarball(args)?;
    let name = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split(".tar").next())
        .ok_or_else(|| format!("{} is not a tarball", tarball.display()))?
        .to_string();
    let dir = work.join(&name);
    if !dir.join("Makefile").exists() {
        eprintln!(
            "kernel: extracting {} into {}",
            tarball.display(),
            work.display()
        );
        run_cmd(
            Command::new("tar")
                .arg("-xf")
                .arg(&tarball)
                .arg("-C")
                .arg(work),
            "tar",
        )?;
    }
    if !dir.join("Makefile").exists() {
        return Err(format!("{} has no {name}/Makefile", tarball.display()));
    }
    Ok(dir)
}

/// Writes `text` to `path` unless it already holds it (so make rebuilds nothing needlessly).
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn append_once(path: &Path, block: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if old.contains(MARKER) {
        return Ok(());
    }
    write_if_changed(path, &format!("{}\n{MARKER}\n{block}", old.trim_end()))
}

/// The scenarios of the selected case variants.
pub fn scenarios(filter: Option<&str>) -> Vec<(String, Vec<Step>)> {
    selected(filter)
        .into_iter()
        .map(|(c, v)| {
            let steps = crate::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            (c.variant_name(v), steps)
        })
        .collect()
}

/// Adds the runner and the generated scenarios to a tree.
pub fn install(tree: &Path, features: ctable::Features) -> Result<(), String> {
    let dir = tree.join("drivers/dma-buf");
    write_if_changed(&dir.join("revoke_spec_kunit.c"), RUNNER_C)?;
    write_if_changed(&dir.join("revoke_spec_hooks.h"), HOOKS_H)?;
    write_if_changed(
        &dir.join("revoke_spec_scenarios.h"),
        &ctable::header(&scenarios(None), features),
    )?;
    append_once(
        &dir.join("Kconfig"),
        "config REVOKE_SPEC_KUNIT\n\tbool \"KUnit scenarios of the dma-buf revoke specification\" if !KUNIT_ALL_TESTS\n\tdepends on KUNIT=y\n\tselect DMA_SHARED_BUFFER\n\tdefault KUNIT_ALL_TESTS\n",
    )?;
    append_once(
        &dir.join("Makefile"),
        "obj-$(CONFIG_REVOKE_SPEC_KUNIT) += revoke_spec_kunit.o\nifdef CONFIG_REVOKE_SPEC_KUNIT\nCFLAGS_dma-buf.o += -include $(srctree)/drivers/dma-buf/revoke_spec_hooks.h\nendif\n",
    )
}

fn config_name(version: KernelVersion, mn: Option<MoveNotify>) -> String {
    match mn {
        Some(MoveNotify::On) => format!("linux-{version} (move-notify on)"),
        Some(MoveNotify::Off) => format!("linux-{version} (move-notify off)"),
        None => format!("linux-{version}"),
    }
}

/// Builds and runs one configuration; returns kunit.py's output.
fn build_and_run(
    tree: &Path,
    work: &Path,
    mn: Option<MoveNotify>,
    jobs: u32,
) -> Result<String, String> {
    let tag = match mn {
        Some(MoveNotify::On) => "on",
        Some(MoveNotify::Off) => "off",
        None => "default",
    };
    let kunitconfig = work.join(format!("revoke-{tag}.kunitconfig"));
    let mut cfg = String::from("CONFIG_KUNIT=y\nCONFIG_REVOKE_SPEC_KUNIT=y\n");
    match mn {
        Some(MoveNotify::On) => cfg.push_str("CONFIG_DMABUF_MOVE_NOTIFY=y\n"),
        Some(MoveNotify::Off) => cfg.push_str("# CONFIG_DMABUF_MOVE_NOTIFY is not set\n"),
        None => {}
    }
    write_if_changed(&kunitconfig, &cfg)?;
    let build = work.join("build");
    // kunit.py configures and builds; the kernel then runs with its console going to a file:
    // UML's console drops lines when a pipe reader falls behind, and no line may be lost.
    run_cmd(
        Command::new("python3")
            .current_dir(tree)
            .arg("tools/testing/kunit/kunit.py")
            .arg("build")
            .arg("--kunitconfig")
            .arg(&kunitconfig)
            .arg(format!("--jobs={jobs}"))
            .arg("--build_dir")
            .arg(&build),
        "kunit.py build",
    )?;
    let log = work.join(format!("kunit-{tag}.log"));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let status = Command::new(build.join("linux"))
        .current_dir(&build)
        .args([
            "kunit.enable=1",
            "mem=1G",
            "console=tty",
            "kunit_shutdown=halt",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run the UML kernel: {e}"))?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    if !text.contains("revoke-trace: begin") {
        return Err(format!(
            "the kernel ran no scenario ({status}); see {}",
            log.display()
        ));
    }
    Ok(text)
}

/// Runs the bridge; returns the exit status.
pub fn main(args: KernelArgs) -> Result<i32, String> {
    let start = Instant::now();
    let work = if args.work_dir.is_absolute() {
        args.work_dir.clone()
    } else {
        std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(&args.work_dir)
    };
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut logs: Vec<(Option<MoveNotify>, String)> = Vec::new();
    let version;
    if args.log.is_empty() {
        let tree = tree(&args, &work)?;
        let makefile = std::fs::read_to_string(tree.join("Makefile")).map_err(|e| e.to_string())?;
        version = KernelVersion::of_makefile(&makefile)
            .ok_or("cannot read the kernel version from the tree's Makefile")?;
        let header = std::fs::read_to_string(tree.join("include/linux/dma-buf.h"))
            .map_err(|e| format!("not a kernel tree: {e}"))?;
        let has_option = std::fs::read_to_string(tree.join("drivers/dma-buf/Kconfig"))
            .unwrap_or_default()
            .contains("config DMABUF_MOVE_NOTIFY");
        install(&tree, ctable::Features::detect(&header))?;
        let configs: Vec<Option<MoveNotify>> = if !has_option {
            vec![None]
        } else if args.move_notify.is_empty() {
            vec![Some(MoveNotify::On), Some(MoveNotify::Off)]
        } else {
            args.move_notify.iter().copied().map(Some).collect()
        };
        for mn in configs {
            let t = Instant::now();
            eprintln!(
                "kernel: building and running {} in {}",
                config_name(version, mn),
                tree.display()
            );
            let log = build_and_run(&tree, &work, mn, args.jobs)?;
            eprintln!(
                "kernel: {} took {:.0?}",
                config_name(version, mn),
                t.elapsed()
            );
            logs.push((mn, log));
        }
    } else {
        version = KernelVersion(6, 12);
        for l in &args.log {
            let (mn, path) = match l.split_once('=') {
                Some(("on", p)) => (Some(MoveNotify::On), p),
                Some(("off", p)) => (Some(MoveNotify::Off), p),
                _ => (None, l.as_str()),
            };
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            logs.push((mn, text));
        }
    }
    let opts = RunOptions {
        filter: args.filter.as_deref(),
        expectations: None,
        today: time::OffsetDateTime::now_utc().date(),
    };
    let mut shims = Vec::new();
    let mut configs = Vec::new();
    let mut mutants = Vec::new();
    for (mn, log) in &logs {
        let traces = parse::parse(log);
        let target = Target {
            version,
            enabled: if *mn == Some(MoveNotify::On) {
                vec!["CONFIG_DMABUF_MOVE_NOTIFY".into()]
            } else {
                vec![]
            },
        };
        let name = config_name(version, *mn);
        let mut backend = KernelBackend::new(&name, target.clone(), &traces, "none");
        let ran = backend.traces.values().filter(|t| t.is_ok()).count();
        let mut results = run_backend(&mut backend, &opts, &mut |_, _| {});
        drop_unheld_checks(&mut results, &target);
        explain_rules(&mut results, &target);
        configs.push(summarize(&results, ran));
        shims.push(results);
        for m in MUTANTS {
            let mut backend = KernelBackend::new(&name, target.clone(), &traces, m.name);
            let mut results = run_backend(&mut backend, &opts, &mut |_, _| {});
            drop_unheld_checks(&mut results, &target);
            let caught_by = results
                .cases
                .iter()
                .filter(|c| c.failures.iter().any(|f| f.rule == m.rule))
                .map(|c| c.name.clone())
                .collect();
            // Required only where a case checking the mutant's rule with its profile is judged.
            let judged = results.cases.iter().any(|c| {
                c.status != Status::NotApplicable
                    && c.rules.iter().any(|r| r == m.rule)
                    && crate::case(&c.case)
                        .and_then(|d| crate::outcome::scenario_of(d, &c.variant))
                        .is_some_and(|s| {
                            s.steps.iter().any(|st| {
                                matches!(
                                    st,
                                    Step::Attach {
                                        importer: ImporterKind::Dynamic,
                                        ..
                                    }
                                )
                            })
                        })
            });
            if !judged {
                continue; // No case with the mutant's profile is judged on this configuration.
            }
            mutants.push(MutantSummary {
                config: name.clone(),
                mutant: m.name.to_string(),
                rule: m.rule.to_string(),
                caught_by,
            });
        }
    }
    if args.with_shims {
        let mut all: Vec<ShimResults> = shims::in_tree()
            .iter()
            .map(|s| crate::runner::run_shim(s, &opts, &mut |_, _| {}))
            .collect();
        all.append(&mut shims);
        shims = all;
    }
    let mut summary = Summary::default();
    for s in &shims {
        summary.add(&s.summary);
    }
    let results = RunResults {
        version: FORMAT_VERSION,
        suite: env!("CARGO_PKG_VERSION").to_string(),
        shims,
        summary,
        partial: false,
    };
    let summary2 = Summary2 {
        kernel: version.to_string(),
        configs,
        mutants,
    };
    let mut text = match args.format {
        RunFormat::Human => crate::formats::human(&results, &args.book_url),
        RunFormat::Json => serde_json::to_string_pretty(&results).unwrap_or_default() + "\n",
        RunFormat::Junit => crate::formats::junit(&results, &args.book_url),
        RunFormat::Ktap => crate::formats::ktap(&results),
    };
    if args.format == RunFormat::Human {
        text.push_str(&human_notes(&summary2));
        let _ = writeln!(text, "bridge run: {:.0?}", start.elapsed());
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => print!("{text}"),
    }
    let json = serde_json::to_string_pretty(&summary2).unwrap_or_default() + "\n";
    let table = table_md(&summary2);
    if let Some(path) = &args.write_summary {
        std::fs::write(path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
        let md = path.with_extension("md");
        std::fs::write(&md, &table).map_err(|e| format!("{}: {e}", md.display()))?;
    }
    let mut status = if results.failed() { 1 } else { 0 };
    for m in &summary2.mutants {
        if m.caught_by.is_empty() {
            eprintln!(
                "kernel: the mutant `{}` was not caught on `{}` ({})",
                m.mutant, m.rule, m.config
            );
            status = 1;
        }
    }
    if let Some(path) = &args.check_summary {
        let committed =
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if committed != json {
            let diff = similar::TextDiff::from_lines(&committed, &json)
                .unified_diff()
                .header("committed", "this run")
                .to_string();
            eprintln!(
                "kernel: the results differ from {} (regenerate it with --write-summary and update the book):\n{diff}",
                path.display()
            );
            status = 1;
        }
        let md = path.with_extension("md");
        if std::fs::read_to_string(&md).ok().as_deref() != Some(table.as_str()) {
            eprintln!("kernel: {} is not the table of this run", md.display());
            status = 1;
        }
    }
    Ok(status)
}

/// The book's per-rule table, rendered from a summary (written next to it as `.md`).
pub fn table_md(s: &Summary2) -> String {
    let mut out = String::new();
    let _ = write!(out, "| rule |");
    for c in &s.configs {
        let _ = write!(out, " {} |", c.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in &s.configs {
        let _ = write!(out, "---|");
    }
    out.push('\n');
    let Some(first) = s.configs.first() else {
        return out;
    };
    for (i, r) in first.rules.iter().enumerate() {
        let _ = write!(out, "| `{}` |", r.rule);
        for c in &s.configs {
            let v = &c.rules[i];
            let _ = write!(out, " {} |", v.verdict);
        }
        out.push('\n');
    }
    for c in &s.configs {
        let _ = writeln!(
            out,
            "\n{}: {} case variants ran on the kernel, {} were judged.",
            c.name, c.ran, c.judged
        );
    }
    out
}

fn human_notes(s: &Summary2) -> String {
    let mut out = String::new();
    for c in &s.configs {
        let _ = writeln!(
            out,
            "{}: {} case variants ran on the kernel, {} judged",
            c.name, c.ran, c.judged
        );
        for r in c.rules.iter().filter(|r| !r.reason.is_empty()) {
            let _ = writeln!(out, "    {} {}: {}", r.rule, r.verdict, r.reason);
        }
    }
    for m in &s.mutants {
        let _ = writeln!(
            out,
            "mutant {} on {}: {}",
            m.mutant,
            m.config,
            if m.caught_by.is_empty() {
                format!("NOT caught on {}", m.rule)
            } else {
                format!("caught on {} by {}", m.rule, m.caught_by.join(", "))
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(v: (u32, u32), enabled: &[&str]) -> Target {
        Target {
            version: KernelVersion(v.0, v.1),
            enabled: enabled.iter().map(|s| s.to_string()).collect(),
        }
    }

    const RULE: RuleDef = RuleDef {
        id: "demo.core.rule",
        strength: crate::Strength::Must,
        text: "",
        chapter: "a.md",
        line: 1,
        hash: "",
        since: Some("7.1"),
        earlier_with: Some("CONFIG_DMABUF_MOVE_NOTIFY"),
    };

    #[test]
    fn versions_read_and_compare() {
        let mk = "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n";
        assert_eq!(KernelVersion::of_makefile(mk), Some(KernelVersion(6, 12)));
        assert!(KernelVersion(6, 12) < KernelVersion::parse("7.1").unwrap_or(KernelVersion(0, 0)));
        assert!(KernelVersion(7, 1) >= KernelVersion(7, 0));
    }

    #[test]
    fn a_rule_holds_by_version_or_by_option() {
        assert!(target((7, 1), &[]).rule_holds(&RULE).is_ok());
        assert!(
            target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"])
                .rule_holds(&RULE)
                .is_ok()
        );
        let e = target((6, 12), &[]).rule_holds(&RULE).unwrap_err();
        assert!(
            e.contains("since Linux 7.1") && e.contains("CONFIG_DMABUF_MOVE_NOTIFY"),
            "{e}"
        );
        let plain = RuleDef {
            earlier_with: None,
            ..RULE
        };
        assert!(
            target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"])
                .rule_holds(&plain)
                .is_err()
        );
        let always = RuleDef {
            since: None,
            earlier_with: None,
            ..RULE
        };
        assert!(target((6, 12), &[]).rule_holds(&always).is_ok());
    }

    #[test]
    fn applicability_by_version_on_the_books_cases() {
        let old = target((6, 12), &[]);
        let new = target((7, 1), &[]);
        let mut na = 0;
        for (c, v) in selected(None) {
            let steps = crate::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            assert!(
                new.case_applies(c, &steps).is_ok(),
                "{} applies to 7.1",
                c.variant_name(v)
            );
            if let Err(reason) = old.case_applies(c, &steps) {
                assert!(reason.contains("since Linux"), "{reason}");
                na += 1;
            }
            // On 7.1 nothing a scenario relies on is missing, whatever its trace.
            if let Ok(trace) = reference_impl::run_reference(&steps) {
                assert!(new.exercised(c, v, &steps, &trace).is_ok());
            }
        }
        assert!(na > 0, "some cases rely on 7.1 behaviour");
    }

    fn variant(name: &str) -> (&'static CaseDef, &'static str, Vec<Step>) {
        let (c, v) = selected(None)
            .into_iter()
            .find(|(c, v)| c.variant_name(v) == name)
            .unwrap_or_else(|| panic!("no case {name}"));
        let steps = crate::outcome::scenario_of(c, v)
            .map(|s| s.steps)
            .unwrap_or_default();
        (c, v, steps)
    }

    fn applies(t: &Target, name: &str) -> Result<(), String> {
        let (c, _, steps) = variant(name);
        t.case_applies(c, &steps)
    }

    #[test]
    fn what_a_reliance_takes_away_on_6_12() {
        let on = target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"]);
        let off = target((6, 12), &[]);
        // The rdma profile's attachment does not exist: nothing is left.
        let e = applies(&on, "hot_unplug_with_a_non_revocable_importer").unwrap_err();
        assert!(
            e.contains("`attach.core.null-callback` holds since Linux 7.1"),
            "{e}"
        );
        // A static importer of an exporter with `pin`: pinned and mapped at attach, so its
        // mapping rules cannot be judged, its teardown rules can.
        let e = applies(&on, "static_import_pins_and_waits").unwrap_err();
        assert!(e.contains("`map.static.pin-on-map`"), "{e}");
        assert!(applies(&on, "orderly_teardown[static]").is_ok());
        // ... and neither is its own use of the unlocked helpers; the core's pin around its
        // mapping, which 6.12 takes at attach, is.
        assert!(applies(&on, "static_importer_uses_unlocked_helpers").is_ok());
        let e = applies(&on, "pins_reach_the_exporter_locked[static]").unwrap_err();
        assert!(e.contains("`lock.core.pin-ops-locked`"), "{e}");
        assert!(applies(&on, "pins_reach_the_exporter_locked[iommufd]").is_ok());
        // The gpu exporter's revoke (hot unplug) relies on nothing 6.12 lacks.
        assert!(applies(&on, "map_after_revoke_fails[gpu]").is_ok());
        assert!(applies(&off, "map_after_revoke_fails[gpu]").is_ok());
        // The vfio profile has no `pin`: the cached mapping does not touch pinning rules.
        assert!(applies(&on, "pin_without_a_pin_op").is_ok());
        let e = applies(&on, "map_after_revoke_fails[vfio]").unwrap_err();
        assert!(e.contains("`revoke.exporter.reject-map`"), "{e}");
        // A move while the dynamic importer's mapping is held needs the option.
        assert!(applies(&on, "repeated_moves").is_ok());
        let e = applies(&off, "repeated_moves").unwrap_err();
        assert!(e.contains("step 3 moves the buffer"), "{e}");
        assert!(applies(&off, "invalidation_between_unmap_and_detach[dynamic]").is_ok());
        // A vfio revoke with a dynamic attachment is decided on the trace.
        let (_, _, steps) = variant("revoke_around_reset[iommufd]");
        assert!(
            relied_on(&steps)
                .iter()
                .any(|r| r.rule == "map.core.no-cache" && r.affects == Affects::StopsIn(4))
        );
        assert!(applies(&on, "revoke_around_reset[iommufd]").is_ok());
    }

    /// The reference trace of a case, cut as 6.12 cuts it: the vfio revoke's wait for unmaps
    /// in `step` never returns.
    fn hung_in_unmap_wait(steps: &[Step], step: usize) -> Trace {
        let mut t = reference_impl::run_reference(steps).expect("the model runs it");
        let at = t
            .events
            .iter()
            .position(|e| e.step == step && e.call.name() == "wait_for_unmap")
            .expect("a wait for unmaps");
        t.events.truncate(at + 1);
        t.events[at].ret = Some(reference_impl::Ret::Hang);
        t.hung_at = Some(step);
        t
    }

    #[test]
    fn a_stop_the_version_predicts_leaves_out_only_what_never_ran() {
        let on = target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"]);
        // The checks of steps after the revoke never ran: not applicable, with the reason.
        let (c, v, steps) = variant("revoke_around_reset[iommufd]");
        let t = hung_in_unmap_wait(&steps, 4);
        let e = on.exercised(c, v, &steps, &t).unwrap_err();
        assert!(
            e.contains("stops in step 4") && e.contains("`revoke.importer.stop-access`"),
            "{e}"
        );
        // Every check of this one looks at the revoke itself, or at the whole run: judged.
        let (c, v, steps) = variant("revoke_waits_for_queued_work");
        let t = hung_in_unmap_wait(&steps, 3);
        assert!(on.exercised(c, v, &steps, &t).is_ok());
        let (c, v, steps) = variant("attach_links_after_exporter_accepts[static]");
        let t = hung_in_unmap_wait(&steps, 4);
        assert!(on.exercised(c, v, &steps, &t).is_ok());
        // A check that fails for another reason keeps the case judged (and failing): here the
        // exporter's BOOKKEEP wait is missing.
        let (c, v, steps) = variant("revoke_around_reset[iommufd]");
        let mut t = hung_in_unmap_wait(&steps, 4);
        t.events
            .retain(|e| !(e.step == 4 && e.call.name() == "dma_resv_wait_timeout"));
        assert!(on.exercised(c, v, &steps, &t).is_ok());
        // A trace that stops elsewhere than predicted is judged as it is.
        let (c, v, steps) = variant("revoke_blocks_on_a_stuck_fence");
        let t = reference_impl::run_reference(&steps).expect("the model runs it");
        assert!(on.exercised(c, v, &steps, &t).is_ok());
    }
}
