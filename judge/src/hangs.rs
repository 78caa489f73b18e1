//! Which hangs a conforming set of drivers may show, and the verdict on every other one
//! (the book's chapter "Locking", section "Calls that never return").
//!
//! A scenario stops when a call never returns ([`Trace::hung_at`]). The one hang a conforming
//! driver set may show is a wait for fences of which one never signals because the scenario
//! made it so (`exporter_fence(.., stuck)`: a device that hung, whose fence nothing will
//! signal): every driver may wait for a fence without bound, and then waits for ever. Every
//! other hang is a violation, charged to the role that holds the lock the stuck call wants,
//! owns the fence that never came, or owns the mapping whose unmap never came, under the rule
//! that hang breaks. A shim process that stops answering is not a hang: its trace records a
//! crash of the process ([`reference_impl::Crash::shim_process`]), reported as such.

use reference_impl::{Actor, AttId, BufId, Call, DmaResvUsage, FenceId, Ret, Step, Trace};

use crate::monitor::Observed;

/// The rule of a hang no more specific rule covers.
pub const NO_DEADLOCK: &str = "lock.no-deadlock";

/// What [`first_violation`]'s line says after the rule: the hang judgement found it.
pub const HANG_MARK: &str = "(hang)";

/// What the contract expects of every trace, in words.
pub const EXPECTS: &str =
    "every call returns, except a wait for a fence the scenario made never to signal";

/// A hang that breaks a rule: the rule, the stuck call, the role instance responsible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexplained {
    /// The rule the hang breaks.
    pub rule: &'static str,
    /// The event that never returns.
    pub event: usize,
    /// The role instance responsible: the holder of the lock, the owner of the fence that
    /// never signalled, the importer that keeps its mapping.
    pub actor: Actor,
    /// What the trace shows, in words.
    pub observed: String,
}

/// The judgement of a trace that hung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hang {
    /// A hang the contract allows, and why.
    Allowed {
        /// The event that never returns.
        event: usize,
        /// Why it may.
        why: String,
    },
    /// A hang that breaks a rule.
    Unexplained(Unexplained),
}

/// Judges the hang of `trace` (made by `steps`), or `None` when it did not hang.
pub fn judge(steps: &[Step], trace: &Trace) -> Option<Hang> {
    let step = trace.hung_at?;
    let o = Observed::new(steps, trace);
    let Some(s) = trace.events.iter().position(|e| e.ret == Some(Ret::Hang)) else {
        // Stuck before any call the trace shows was open (a lock it does not show, such as
        // VFIO's `memory_lock`, taken by the step itself): the driver the step addresses.
        let who = steps.get(step).map_or(Actor::Harness, Step::actor);
        let event = trace.events.len().saturating_sub(1);
        return Some(Hang::Unexplained(Unexplained {
            rule: NO_DEADLOCK,
            event,
            actor: who,
            observed: format!(
                "step {step} never returns (after event #{event}, the last the trace shows), stuck outside every call the trace shows: {who} blocks on something only its own thread would release (a lock it holds already?)"
            ),
        }));
    };
    let e = o.event(s);
    let unexplained = |rule: &'static str, actor: Actor, observed: String| {
        Some(Hang::Unexplained(Unexplained {
            rule,
            event: s,
            actor,
            observed,
        }))
    };
    match e.call {
        Call::DmaResvWaitTimeout { buf, usage, .. } => {
            if let Some((fence, step)) = stuck_fence_waited(&o, s, buf, usage) {
                return Some(Hang::Allowed {
                    event: s,
                    why: format!(
                        "the wait for {buf}'s {usage} fences (event #{s}) waits for {fence}, which step {step} made never to signal"
                    ),
                });
            }
            let pending = o
                .fences_before(buf, s)
                .into_iter()
                .find(|&(_, f, u)| u <= usage && !o.signalled_before(f, s));
            match pending {
                Some((i, fence, _)) => {
                    let owner = o.event(i).from;
                    let (rule, actor) = match owner {
                        Actor::Importer(a) | Actor::Device(a) => {
                            ("fence.importer.signal-independent", Actor::Importer(a))
                        }
                        other => (NO_DEADLOCK, other),
                    };
                    unexplained(
                        rule,
                        actor,
                        format!(
                            "the wait for {buf}'s {usage} fences (event #{s}) never returns: {fence}, added by {owner} (event #{i}), never signals"
                        ),
                    )
                }
                None => unexplained(
                    NO_DEADLOCK,
                    e.from,
                    format!(
                        "the wait for {buf}'s {usage} fences (event #{s}) never returns, with no fence pending"
                    ),
                ),
            }
        }
        Call::DmaResvLock { buf } => relock(&o, s, buf),
        Call::WaitForUnmap { buf } => unmap_never_came(&o, s, buf),
        _ => {
            // A lock or a wait the trace does not show (VFIO's `memory_lock`, iommufd's
            // `pages->mutex`, a flush of a work item from inside it): the driver running
            // the call that stopped is stuck on itself.
            let who = e.to;
            unexplained(
                NO_DEADLOCK,
                who,
                format!(
                    "`{}` (event #{s}) never returns: {who} blocks on something only its own thread would release",
                    e.call.name()
                ),
            )
        }
    }
}

/// The fence the scenario made never to signal (`exporter_fence(.., stuck)`) that the wait at
/// `s` for `buf`'s fences of `usage` waits for, with its step: one of that usage pending, or
/// one pending before a fence of that usage that may follow it (a pipelined copy).
fn stuck_fence_waited(
    o: &Observed<'_>,
    s: usize,
    buf: BufId,
    usage: DmaResvUsage,
) -> Option<(FenceId, usize)> {
    let fences = o.fences_before(buf, s);
    fences.iter().find_map(|&(i, f, u)| {
        let step = o.event(i).step;
        let stuck = matches!(
            o.steps.get(step),
            Some(Step::ExporterFence { buf: b, stuck: true, .. }) if *b == buf
        );
        let waited = u <= usage
            || fences
                .iter()
                .any(|&(j, g, v)| j > i && v <= usage && !o.signalled_before(g, s));
        (stuck && waited && !o.signalled_before(f, s)).then_some((f, step))
    })
}

/// A `dma_resv_lock()` at `s` that never returns: the lock is held on this thread.
fn relock(o: &Observed<'_>, s: usize, buf: BufId) -> Option<Hang> {
    let e = o.event(s);
    let mut holder = None;
    for (i, x) in o.events().take(s) {
        match x.call {
            Call::DmaResvLock { buf: b } if b == buf && o.returned(i) => holder = Some((x.from, i)),
            Call::DmaResvUnlock { buf: b } if b == buf => holder = None,
            _ => {}
        }
    }
    let held = holder.map_or_else(
        || "the lock".to_string(),
        |(h, i)| format!("the lock {h} took (event #{i})"),
    );
    let found = |rule: &'static str, actor: Actor, why: String| {
        Some(Hang::Unexplained(Unexplained {
            rule,
            event: s,
            actor,
            observed: format!(
                "{} takes the reservation lock of {buf} (event #{s}) while {held} is still held: {why}",
                e.from
            ),
        }))
    };
    if let Actor::Device(att) = e.from {
        return found(
            "fence.importer.signal-independent",
            Actor::Importer(att),
            format!(
                "the completion of importer.{att}'s device work needs it before its fence signals"
            ),
        );
    }
    for a in o.ancestors(s) {
        match o.event(a).call {
            Call::InvalidateMappings { att } if e.from == Actor::Importer(att) => {
                return found(
                    "invalidate.importer.no-relock",
                    e.from,
                    format!("inside its `invalidate_mappings` (event #{a}), called with it held"),
                );
            }
            Call::DmaBufMapAttachmentUnlocked { att }
            | Call::DmaBufUnmapAttachmentUnlocked { att, .. }
                if o.event(a).locked =>
            {
                return found(
                    "lock.importer.unlocked-helpers",
                    Actor::Importer(att),
                    format!(
                        "importer.{att} called `{}` (event #{a}), which takes the lock itself, while holding it",
                        o.event(a).call.name()
                    ),
                );
            }
            _ => {}
        }
    }
    // Called with the lock held (an op the core calls under it), the caller's own code takes
    // it again; otherwise whoever took it last kept it.
    let inside_locked = o
        .ancestors(s)
        .find(|&a| o.event(a).locked && o.event(a).to == e.from);
    match (inside_locked, holder) {
        (Some(a), _) => found(
            NO_DEADLOCK,
            e.from,
            format!(
                "it was called with the lock held (`{}`, event #{a}) and takes it again",
                o.event(a).call.name()
            ),
        ),
        (None, Some((h, _))) => found(NO_DEADLOCK, h, format!("{h} never dropped it")),
        (None, None) => found(NO_DEADLOCK, e.from, "a deadlock".to_string()),
    }
}

/// The exporter's wait for the unmaps of `buf` at `s` never returns.
fn unmap_never_came(o: &Observed<'_>, s: usize, buf: BufId) -> Option<Hang> {
    let exporter = o.event(s).from;
    let held: Vec<(AttId, String)> = o
        .atts()
        .filter(|(_, info)| info.buf == buf)
        .filter_map(|(att, _)| {
            let m = o.mappings_before(att, s);
            (!m.is_empty()).then(|| {
                (
                    att,
                    m.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
        })
        .collect();
    let (rule, actor, observed) = match held.first() {
        Some((att, sgts)) if o.att(*att).is_some_and(|i| !i.accepted) => (
            NO_DEADLOCK,
            Actor::Importer(*att),
            format!(
                "the exporter's wait for the unmaps of {buf} (event #{s}) never returns: importer.{att} keeps {sgts}, mapped through an attachment the exporter refused, which no invalidation reaches"
            ),
        ),
        Some((att, sgts)) if o.att(*att).is_some_and(|i| i.callback) => (
            "revoke.importer.unmap-bounded",
            Actor::Importer(*att),
            format!(
                "the exporter's wait for the unmaps of {buf} (event #{s}) never returns: importer.{att} keeps {sgts}"
            ),
        ),
        Some((att, sgts)) => (
            "attach.revocable.check-in-attach",
            exporter,
            format!(
                "the exporter's wait for the unmaps of {buf} (event #{s}) never returns: importer.{att} keeps {sgts}, and it has no `invalidate_mappings` to be told (the exporter accepted an importer it cannot revoke)"
            ),
        ),
        None => {
            let teardown = matches!(o.step_of(s), Some(Step::Put { .. }));
            (
                if teardown {
                    "revoke.exporter.cleanup-once"
                } else {
                    "revoke.exporter.wait-unmap"
                },
                exporter,
                format!(
                    "the exporter's wait for the unmaps of {buf} (event #{s}) never returns, with no mapping of {buf} left to give back{}",
                    if teardown { " (in its teardown)" } else { "" }
                ),
            )
        }
    };
    Some(Hang::Unexplained(Unexplained {
        rule,
        event: s,
        actor,
        observed,
    }))
}

/// The unexplained hang of `trace`, if it has one.
pub fn unexplained(steps: &[Step], trace: &Trace) -> Option<Unexplained> {
    match judge(steps, trace)? {
        Hang::Unexplained(u) => Some(u),
        Hang::Allowed { .. } => None,
    }
}

/// The unexplained hang of `trace` as one line, `rule: (hang) event #N by ROLE: what`: what
/// an explorer of scenarios or interleavings reports.
pub fn first_violation(steps: &[Step], trace: &Trace) -> Option<String> {
    unexplained(steps, trace).map(|u| {
        format!(
            "{}: {HANG_MARK} event #{} by {}: {}",
            u.rule, u.event, u.actor, u.observed
        )
    })
}

#[cfg(test)]
mod tests;
