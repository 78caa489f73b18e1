//! The rules a scenario relies on without checking them, and what a kernel without them takes
//! away from a case's verdict.

use std::collections::BTreeMap;

use reference_impl::{ExporterKind, ImporterKind, Step};

use judge::results::{ShimResults, Status, Summary, Verdict};

use super::*;

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
            | Step::VmapHold { .. }
            | Step::Vunmap { .. }
            | Step::Mmap { .. }
            | Step::Reclaim { .. }
            | Step::ExporterFence { .. }
            | Step::Complete
            | Step::Signal { .. } => {}
        }
    }
    out
}

/// Leaves out of each case's verdict the checks of rules that do not hold on the kernel, and
/// recomputes the statuses and counts.
pub fn drop_unheld_checks(results: &mut ShimResults, target: &Target) {
    for c in &mut results.cases {
        if c.status == Status::NotApplicable {
            continue;
        }
        c.failures.retain(|f| {
            judge::spec()
                .rule(&f.rule)
                .is_none_or(|r| target.rule_holds(r).is_ok())
        });
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
        let Some(rule) = judge::spec().rule(&r.rule) else {
            continue;
        };
        match target.rule_holds(rule) {
            Err(reason) => {
                r.verdict = Verdict::NotApplicable;
                r.reason = Some(reason);
            }
            Ok(()) if r.verdict == Verdict::Violated => {
                r.reason = Some(
                    if JudgedOn::of(&r.rule).unwrap_or(JudgedOn::Drivers) == JudgedOn::Drivers {
                        "the bridge's own C test driver breaks it (a rule of exporters or \
                         importers: not a finding on the kernel)"
                            .to_string()
                    } else {
                        format!(
                            "finding: the book says this holds on Linux {} and the kernel breaks it",
                            target.version
                        )
                    },
                );
            }
            Ok(()) => {}
        }
    }
}
