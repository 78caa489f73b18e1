//! The monitors of the chapter "Invalidation of dynamic attachments" (`invalidation.md`).

use std::collections::BTreeSet;

use reference_impl::{
    AccessOutcome, Actor, AttId, Call, CallName, DmaResvUsage, Ret, Role, SgtId, Step,
};

use super::judgement::{ret_of, shows};
use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "invalidate.core.lock-held",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_invalidate_mappings()` and `invalidate_mappings` callback",
        expects: "each is called with the reservation lock held",
        judge: lock_held,
    },
    Monitor {
        rule: "invalidate.core.skip-without-callback",
        source: file!(),
        role: Role::Core,
        applies: "every `invalidate_mappings` callback",
        expects: "it is called only for dynamic attachments whose callback is set",
        judge: skip_without_callback,
    },
    Monitor {
        rule: "invalidate.core.pinned-too",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_invalidate_mappings()` that returned",
        expects: "every linked attachment with the callback, pinned or not, receives it",
        judge: pinned_too,
    },
    Monitor {
        rule: "map.core.no-cache",
        source: file!(),
        role: Role::Core,
        applies: "every map that returned a mapping",
        expects: "the exporter's `map_dma_buf` was called for it and gave that mapping",
        judge: no_cache,
    },
    Monitor {
        rule: "invalidate.importer.no-relock",
        source: file!(),
        role: Role::Importer,
        applies: "every `invalidate_mappings` callback",
        expects: "nothing inside the callback takes the reservation lock again",
        judge: no_relock,
    },
    Monitor {
        rule: "invalidate.importer.remap-before-access",
        source: file!(),
        role: Role::Importer,
        applies: "importers with the callback, after a callback",
        expects: "the device uses (or queues work on) only a mapping obtained after the callback",
        judge: remap_before_access,
    },
    Monitor {
        rule: "invalidate.importer.wait-kernel",
        source: file!(),
        role: Role::Importer,
        applies: "device accesses of dynamic importers",
        expects: "no access finds a KERNEL fence (the exporter's copy or clear) pending",
        judge: wait_kernel,
    },
    Monitor {
        rule: "invalidate.importer.fence-inflight",
        source: file!(),
        role: Role::Importer,
        applies: "device work a dynamic importer still has queued when its callback runs",
        expects: "work still queued when the importer's callback returns has its fence in the reservation object by then (added at submit or from the callback)",
        judge: fence_inflight,
    },
    Monitor {
        rule: "invalidate.importer.repeated",
        source: file!(),
        role: Role::Importer,
        applies: "importers with the callback, from their second callback on",
        expects: "after each later callback too, the device uses only a new mapping, and the callback runs to its end",
        judge: repeated,
    },
    Monitor {
        rule: "fence.importer.implicit-usage",
        source: file!(),
        role: Role::Importer,
        applies: "fences of queued work added by importers that take part in implicit sync (the `dynamic` profile, or any importer that fences with WRITE, READ or KERNEL)",
        expects: "work that writes is fenced as WRITE, work that only reads as READ",
        judge: implicit_usage,
    },
    Monitor {
        rule: "invalidate.importer.cache-failed-map",
        source: file!(),
        role: Role::Importer,
        applies: "a dynamic importer whose map failed (a permission: held when used)",
        expects: "it does not try again before its next callback",
        judge: cache_failed_map,
    },
    Monitor {
        rule: "fence.bookkeep-covers-all",
        source: file!(),
        role: Role::Core,
        applies: "every BOOKKEEP wait that returned success",
        expects: "every fence added before it, whatever its usage, has signalled",
        judge: bookkeep_covers_all,
    },
    Monitor {
        rule: "invalidate.exporter.wait-before-reuse",
        source: file!(),
        role: Role::Exporter,
        applies: "memory the exporter reuses in a move",
        expects: "every fence the buffer held at the invalidation has signalled before the reuse (a CPU wait or a pipelined copy); no access finds the memory reused",
        judge: wait_before_reuse,
    },
    Monitor {
        rule: "invalidate.exporter.pinned-stays",
        source: file!(),
        role: Role::Exporter,
        applies: "moves (evictions) of a buffer an importer has pinned",
        expects: "the exporter neither invalidates nor reuses the memory",
        judge: pinned_stays,
    },
    Monitor {
        rule: "invalidate.importer.no-map-in-callback",
        source: file!(),
        role: Role::Importer,
        applies: "every `invalidate_mappings` callback",
        expects: "the importer maps nothing (through the core or a private interconnect) from inside it",
        judge: no_map_in_callback,
    },
    Monitor {
        rule: "fence.importer.signal-independent",
        source: file!(),
        role: Role::Importer,
        applies: "importers' device work whose fence signals",
        expects: "the signalling path takes no reservation lock",
        judge: signal_independent,
    },
];

fn lock_held(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events().filter(|(_, e)| {
        matches!(
            e.call.call_name(),
            CallName::DmaBufInvalidateMappings | CallName::InvalidateMappings
        )
    }) {
        j.expect(e.locked, i, e.from, || {
            format!("{} without the lock", shows(e))
        });
    }
    j.verdict()
}

fn skip_without_callback(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufInvalidateMappings) {
        let Call::DmaBufInvalidateMappings { buf } = e.call else {
            continue;
        };
        if o.atts()
            .any(|(a, info)| info.buf == buf && !info.callback && linked_at(o, a, i))
        {
            j.applies();
        }
    }
    for (i, e) in o.calls(CallName::InvalidateMappings) {
        let Call::InvalidateMappings { att } = e.call else {
            continue;
        };
        let Some(info) = o.att(att) else { continue };
        j.expect(info.dynamic && info.callback, i, Actor::Core, || {
            format!(
                "{} for a {} attachment",
                shows(e),
                if info.dynamic {
                    "dynamic attachment with a NULL callback"
                } else {
                    "static"
                }
            )
        });
    }
    j.verdict()
}

/// Whether `att` is linked into its buffer's list at event `i`.
pub(super) fn linked_at(o: &Observed<'_>, att: AttId, i: usize) -> bool {
    let Some(info) = o.att(att) else { return false };
    if !info.accepted || info.event >= i {
        return false;
    }
    let refused = o.children(info.event).any(|(_, c)| {
        matches!(c.call, Call::OpsAttach { .. }) && matches!(c.ret, Some(Ret::Err(_)))
    });
    if refused {
        return false;
    }
    let link = o
        .children(info.event)
        .find(|(_, c)| matches!(c.call, Call::DmaResvLock { .. }))
        .map_or(o.end_of(info.event), |(k, _)| k);
    let detached = o
        .events()
        .take(i)
        .any(|(_, e)| matches!(e.call, Call::DmaBufDetach { att: a, .. } if a == att));
    link < i && !detached
}

fn pinned_too(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufInvalidateMappings) {
        let Call::DmaBufInvalidateMappings { buf } = e.call else {
            continue;
        };
        if !o.returned(i) {
            continue;
        }
        let told: BTreeSet<AttId> = o
            .children(i)
            .filter_map(|(_, c)| match c.call {
                Call::InvalidateMappings { att } => Some(att),
                _ => None,
            })
            .collect();
        for (att, info) in o.atts().filter(|(_, a)| a.buf == buf && a.callback) {
            if !linked_at(o, att, i) {
                continue;
            }
            let pins = o.pins_before(att, i);
            j.expect(told.contains(&att), i, Actor::Core, || {
                format!(
                    "{} did not call the callback of the linked {att}{}",
                    shows(e),
                    if pins > 0 { " (pinned)" } else { "" }
                )
            });
            let _ = info;
        }
    }
    j.verdict()
}

fn no_cache(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufMapAttachment) {
        let Some(Ret::Sgt(sgt)) = e.ret else { continue };
        let made = o.inside(i).any(|(_, c)| {
            matches!(c.call, Call::OpsMapDmaBuf { .. }) && c.ret == Some(Ret::Sgt(sgt))
        });
        j.expect(made, i, Actor::Core, || {
            format!(
                "{} without the exporter's `map_dma_buf` making {sgt}",
                shows(e)
            )
        });
    }
    j.verdict()
}

fn no_relock(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::InvalidateMappings) {
        let Call::InvalidateMappings { att } = e.call else {
            continue;
        };
        j.applies();
        let buf = o.att(att).map(|a| a.buf);
        if let Some((k, l)) = o
            .inside(i)
            .find(|(_, c)| matches!(c.call, Call::DmaResvLock { buf: b } if Some(b) == buf || buf.is_none()))
        {
            j.violated(
                k,
                Actor::Importer(att),
                format!(
                    "in its `invalidate_mappings` (event #{i}), importer.{att} takes the lock again: {}{}",
                    shows(l),
                    if l.ret == Some(Ret::Hang) { ": a deadlock" } else { "" }
                ),
            );
        }
    }
    j.verdict()
}

/// Walks the accesses and queued work of every importer with the callback, after its
/// callbacks: `(event, attachment, the callback's ordinal, mapping used)` for each use of a
/// mapping not obtained since the last callback.
fn stale_uses(o: &Observed<'_>) -> (bool, Vec<(usize, AttId, usize, SgtId)>) {
    let mut out = Vec::new();
    let mut any = false;
    for (att, info) in o.atts().filter(|(_, a)| a.callback) {
        let mut callbacks = 0usize;
        let mut fresh: BTreeSet<SgtId> = BTreeSet::new();
        for (i, e) in o.events() {
            match (&e.call, &e.ret) {
                (Call::InvalidateMappings { att: a }, _) if *a == att => {
                    callbacks += 1;
                    fresh.clear();
                }
                (
                    Call::DmaBufMapAttachment { att: a }
                    | Call::DmaBufMapAttachmentUnlocked { att: a }
                    | Call::VfioPciDmaBufIommufdMap { att: a },
                    Some(Ret::Sgt(s)),
                ) if *a == att => {
                    fresh.insert(*s);
                }
                (
                    Call::DmaAccess {
                        att: a,
                        sgt: Some(s),
                        job: None,
                        ..
                    },
                    _,
                )
                | (Call::DeviceSubmit { att: a, sgt: s, .. }, _)
                    if *a == att && callbacks > 0 =>
                {
                    any = true;
                    // Work the importer queued inside its own callback runs on what it fenced.
                    if !fresh.contains(s) && o.enclosing(i, CallName::InvalidateMappings).is_none()
                    {
                        out.push((i, att, callbacks, *s));
                    }
                }
                _ => {}
            }
        }
        let _ = info;
    }
    (any, out)
}

fn remap_before_access(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    let (any, stale) = stale_uses(o);
    if any {
        j.applies();
    }
    for (i, att, n, sgt) in stale {
        j.violated(
            i,
            Actor::Importer(att),
            format!(
                "{}: {sgt} was mapped before callback {n} to importer.{att}, and no new mapping was obtained since",
                shows(o.event(i))
            ),
        );
    }
    j.verdict()
}

fn repeated(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    let seconds: Vec<AttId> = o
        .atts()
        .filter(|(a, _)| {
            o.calls(CallName::InvalidateMappings)
                .filter(|(_, e)| matches!(e.call, Call::InvalidateMappings { att } if att == *a))
                .count()
                >= 2
        })
        .map(|(a, _)| a)
        .collect();
    if !seconds.is_empty() {
        j.applies();
    }
    let (_, stale) = stale_uses(o);
    for (i, att, n, sgt) in stale.into_iter().filter(|s| s.2 >= 2) {
        j.violated(
            i,
            Actor::Importer(att),
            format!(
                "{}: after invalidation {n}, importer.{att} still uses {sgt}",
                shows(o.event(i))
            ),
        );
    }
    if let Some((k, att)) = super::attach::crashed_in_callback(o) {
        let nth = o
            .calls(CallName::InvalidateMappings)
            .filter(|(x, e)| {
                *x <= k && matches!(e.call, Call::InvalidateMappings { att: a } if a == att)
            })
            .count();
        if nth >= 2 {
            let why = o
                .trace
                .crashed
                .as_ref()
                .map(|c| c.message.clone())
                .unwrap_or_default();
            j.violated(
                k,
                Actor::Importer(att),
                format!("importer.{att} crashed in its callback number {nth}: {why}"),
            );
        }
    }
    j.verdict()
}

fn wait_kernel(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for a in o.accesses() {
        let Some(info) = o.att(a.att) else { continue };
        if !info.dynamic || a.outcome == AccessOutcome::NoMapping {
            continue;
        }
        j.expect(
            a.outcome != AccessOutcome::NotReady,
            a.event,
            Actor::Importer(a.att),
            || {
                format!(
                    "{}: the device reached the buffer before the KERNEL fences signalled",
                    shows(o.event(a.event))
                )
            },
        );
    }
    j.verdict()
}

fn fence_inflight(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (k, cb) in o.calls(CallName::InvalidateMappings) {
        let Call::InvalidateMappings { att } = cb.call else {
            continue;
        };
        let Some(info) = o.att(att) else { continue };
        if !info.dynamic || !o.returned(k) {
            continue;
        }
        let end = o.end_of(k);
        for (i, e) in o.events().take(k) {
            let Call::DeviceSubmit {
                att: a, job, fence, ..
            } = e.call
            else {
                continue;
            };
            let done = o
                .events()
                .take(k)
                .any(|(_, d)| matches!(d.call, Call::DmaAccess { job: Some(x), .. } if x == job));
            if a != att || done {
                continue;
            }
            // Published at submit or from inside the callback: either way before the
            // exporter's wait, which comes after the invalidation.
            let added = o.events().take(end + 1).any(
                |(_, f)| matches!(f.call, Call::DmaResvAddFence { fence: x, .. } if x == fence),
            );
            j.expect(added, i, Actor::Importer(att), || {
                format!(
                    "{}: still queued when importer.{att}'s callback (event #{k}) returned, and {fence} is not in the reservation object",
                    shows(e)
                )
            });
        }
    }
    j.verdict()
}

fn implicit_usage(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaResvAddFence) {
        let Call::DmaResvAddFence { fence, usage, .. } = e.call else {
            continue;
        };
        let Actor::Importer(att) = e.from else {
            continue;
        };
        let Some(write) = o.events().find_map(|(_, s)| match s.call {
            Call::DeviceSubmit {
                fence: f, write, ..
            } if f == fence => Some(write),
            _ => None,
        }) else {
            continue;
        };
        // BOOKKEEP is explicit synchronisation: an importer may take no part in implicit
        // sync, except one playing the `dynamic` profile, which the book defines as fencing
        // its jobs as implicit synchronisation does.
        if usage == DmaResvUsage::Bookkeep
            && o.importer_kind(att) != Some(reference_impl::ImporterKind::Dynamic)
        {
            continue;
        }
        let want = if write {
            DmaResvUsage::Write
        } else {
            DmaResvUsage::Read
        };
        j.expect(usage == want, i, Actor::Importer(att), || {
            format!(
                "{}: work that {} is fenced as {usage}, not {want}",
                shows(e),
                if write { "writes" } else { "only reads" }
            )
        });
    }
    j.verdict()
}

fn cache_failed_map(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufMapAttachment) {
        let Call::DmaBufMapAttachment { att } = e.call else {
            continue;
        };
        if !matches!(e.ret, Some(Ret::Err(_))) || !o.att(att).is_some_and(|a| a.callback) {
            continue;
        }
        // A later step of this importer's, before its next callback, with no new try.
        let next_callback = o
            .events()
            .skip(i + 1)
            .find(|(_, c)| matches!(c.call, Call::InvalidateMappings { att: a } if a == att))
            .map_or(usize::MAX, |(k, _)| k);
        let later_step = o.steps.iter().enumerate().skip(e.step + 1).find(|(_, s)| {
            matches!(s, Step::Access { att: a, .. } | Step::Map { att: a } | Step::Submit { att: a, .. } if *a == att)
        });
        if let Some((s, _)) = later_step {
            let tried = o.events().any(|(k, c)| {
                c.step == s
                    && k < next_callback
                    && matches!(c.call, Call::DmaBufMapAttachment { att: a } if a == att)
            });
            let before_callback = o
                .events()
                .filter(|(_, c)| c.step == s)
                .all(|(k, _)| k < next_callback);
            if !tried && before_callback && o.step_completed(s) {
                j.applies();
            }
        }
    }
    j.verdict()
}

fn bookkeep_covers_all(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaResvWaitTimeout) {
        let Call::DmaResvWaitTimeout {
            buf,
            usage: DmaResvUsage::Bookkeep,
            ..
        } = e.call
        else {
            continue;
        };
        let Some(Ret::Int(n)) = e.ret else { continue };
        if n <= 0 {
            continue;
        }
        let end = o.returned_by(i);
        for (k, fence, usage) in o.fences_before(buf, i) {
            j.expect(o.signalled_before(fence, end), i, Actor::Core, || {
                format!(
                    "{} returned while {fence} ({usage}, added at event #{k}) had not signalled",
                    shows(e)
                )
            });
        }
    }
    j.verdict()
}

/// The exporter's `reclaim_memory` events during `step`s of kind `is_step`, with the
/// invalidation each follows from ([`crate::check::invalidation_of_reuse`]: a pipelined
/// copy's move, or the last invalidation before it).
fn reuses_after_invalidation<'o>(
    o: &'o Observed<'_>,
    is_step: impl Fn(&Step) -> bool + 'o,
) -> impl Iterator<Item = (usize, reference_impl::BufId, Option<usize>)> + 'o {
    o.calls(CallName::ReclaimMemory).filter_map(move |(i, e)| {
        let Call::ReclaimMemory { buf } = e.call else {
            return None;
        };
        if !o.step_of(i).is_some_and(&is_step) {
            return None;
        }
        Some((
            i,
            buf,
            crate::check::invalidation_of_reuse(&o.trace.events, i),
        ))
    })
}

/// A successful wait of `buf`'s fences of `usage` (or wider) between events `from` and `to`.
pub(super) fn waited_between(
    o: &Observed<'_>,
    buf: reference_impl::BufId,
    usage: DmaResvUsage,
    from: usize,
    to: usize,
) -> bool {
    o.events().skip(from).take(to.saturating_sub(from)).any(|(_, e)| {
        matches!(e.call, Call::DmaResvWaitTimeout { buf: b, usage: u, .. } if b == buf && u >= usage)
            && matches!(e.ret, Some(Ret::Int(n)) if n > 0)
    })
}

fn wait_before_reuse(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    let mut moved = BTreeSet::new();
    for (i, buf, inv) in reuses_after_invalidation(o, |s| {
        !matches!(s, Step::Revoke { .. } | Step::Reclaim { .. })
    }) {
        moved.insert(buf);
        let Some(inv) = inv else { continue };
        // The outcome, not the way: a CPU wait or a copy pipelined behind the fences (TTM).
        let pending = crate::check::unsignalled_at_reuse(&o.trace.events, buf, inv, i);
        j.expect(pending.is_none(), i, Actor::Exporter(buf), || {
            format!(
                "{}: {} (added before the invalidation, event #{inv}) had not signalled",
                shows(o.event(i)),
                pending.map(|f| f.to_string()).unwrap_or_default()
            )
        });
    }
    for a in o
        .accesses()
        .filter(|a| a.outcome == AccessOutcome::Reclaimed)
    {
        let Some(info) = o.att(a.att) else { continue };
        if !moved.contains(&info.buf) {
            continue;
        }
        j.violated(
            a.event,
            Actor::Exporter(info.buf),
            format!(
                "{}: the exporter reused memory the device still reaches",
                shows(o.event(a.event))
            ),
        );
    }
    j.verdict()
}

fn pinned_stays(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, step) in o.steps.iter().enumerate() {
        let Step::Move { buf } = *step else { continue };
        let Some((first, _)) = o.events().find(|(_, e)| e.step == s) else {
            continue;
        };
        let pinned: Vec<AttId> = o
            .atts()
            .filter(|(a, info)| {
                info.buf == buf && linked_at(o, *a, first) && o.pins_before(*a, first) > 0
            })
            .map(|(a, _)| a)
            .collect();
        let static_mapped: Vec<AttId> = o
            .atts()
            .filter(|(a, info)| {
                info.buf == buf && !info.dynamic && !o.mappings_before(*a, first).is_empty()
            })
            .map(|(a, _)| a)
            .collect();
        if pinned.is_empty() && static_mapped.is_empty() {
            continue;
        }
        j.applies();
        if let Some((i, e)) = o.events().find(|(_, e)| {
            e.step == s
                && e.from == Actor::Exporter(buf)
                && matches!(
                    e.call,
                    Call::DmaBufInvalidateMappings { .. } | Call::ReclaimMemory { .. }
                )
        }) {
            let who: Vec<String> = pinned
                .iter()
                .chain(&static_mapped)
                .map(|a| a.to_string())
                .collect();
            j.violated(
                i,
                Actor::Exporter(buf),
                format!("{} while {} pinned it", shows(e), who.join(", ")),
            );
        }
    }
    let _ = ret_of;
    j.verdict()
}

fn no_map_in_callback(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (k, cb) in o.calls(CallName::InvalidateMappings) {
        let Call::InvalidateMappings { att } = cb.call else {
            continue;
        };
        j.applies();
        for (i, e) in o.inside(k) {
            let mapped = match e.call {
                Call::DmaBufMapAttachment { att: a }
                | Call::DmaBufMapAttachmentUnlocked { att: a }
                | Call::VfioPciDmaBufIommufdMap { att: a } => a == att,
                _ => false,
            };
            if mapped {
                j.violated(
                    i,
                    Actor::Importer(att),
                    format!("{} from inside its callback (event #{k})", shows(e)),
                );
            }
        }
    }
    j.verdict()
}

fn signal_independent(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (_, e) in o.calls(CallName::DmaFenceSignal) {
        if matches!(e.from, Actor::Device(_)) {
            j.applies();
        }
    }
    for (i, e) in o.calls(CallName::DmaResvLock) {
        let Actor::Device(att) = e.from else { continue };
        j.violated(
            i,
            Actor::Importer(att),
            format!(
                "{}: the completion of importer.{att}'s device work takes a reservation lock before its fence signals{}",
                shows(e),
                if e.ret == Some(Ret::Hang) {
                    " (and never gets it: its waiter holds it)"
                } else {
                    ""
                }
            ),
        );
    }
    j.verdict()
}
