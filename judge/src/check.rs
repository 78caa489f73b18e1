//! Checks over a trace. Every check runs on the host over plain trace data, so a trace from
//! another backend (a shim in another process, the Linux kernel) gets the same scrutiny.
//!
//! Calls are named by [`CallName`]s, spelt in a case as the kernel spells them (see
//! [`crate::calls`]): `dma_buf_map_attachment`, `ops::map_dma_buf`,
//! `importer_ops::invalidate_mappings`, `dma_resv_wait_timeout`, `dma_write`...

use reference_impl::{AccessOutcome, Call, CallName, DmaResvUsage, Event, Ret, StepRef, Trace};

type Eval = Box<dyn Fn(&Trace) -> Result<(), String>>;

/// A property of a trace, with a one-line description a reviewer can read.
pub struct Check {
    /// What the check expects, in words.
    pub describe: String,
    /// The step it looks at, if it looks at one: a trace that stopped before it does not
    /// exercise the check.
    pub step: Option<StepRef>,
    eval: Eval,
}

/// Why a check did not pass, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The scenario stopped (a hang or a crash) in `stopped_at`, before `step`, the step
    /// the check looks at: the check was not exercised, it saw no violation.
    NotExercised {
        /// The step the check looks at.
        step: usize,
        /// The step the scenario stopped in.
        stopped_at: usize,
    },
    /// The trace shows something else than the check expects: what it shows.
    Violated(String),
}

/// A check and the rule it enforces.
pub struct RuleCheck {
    /// The rule ID.
    pub rule: &'static str,
    /// The check.
    pub check: Check,
}

impl Check {
    /// A check from a description and a predicate that explains a failure.
    pub fn new(
        describe: impl Into<String>,
        eval: impl Fn(&Trace) -> Result<(), String> + 'static,
    ) -> Check {
        Check {
            describe: describe.into(),
            step: None,
            eval: Box::new(eval),
        }
    }

    /// A check of what happens in `step`.
    pub fn at(
        step: StepRef,
        describe: impl Into<String>,
        eval: impl Fn(&Trace) -> Result<(), String> + 'static,
    ) -> Check {
        Check {
            step: Some(step),
            ..Check::new(describe, eval)
        }
    }

    /// Evaluates the check: `Err` says what happened instead.
    pub fn eval(&self, trace: &Trace) -> Result<(), String> {
        (self.eval)(trace)
    }

    /// Evaluates the check, telling a check the trace did not exercise (it stopped before
    /// the check's step) from one it violates, without reading the message.
    pub fn judge(&self, trace: &Trace) -> Result<(), Failure> {
        if let (Some(step), Some(stopped_at)) = (self.step, trace.stopped_at())
            && stopped_at < step.0
        {
            return Err(Failure::NotExercised {
                step: step.0,
                stopped_at,
            });
        }
        self.eval(trace).map_err(Failure::Violated)
    }
}

fn is(ev: &Event, name: CallName) -> bool {
    ev.call.call_name() == name
}

/// The invalidation a reuse of `buf`'s memory (the `reclaim_memory` at event `reuse`) follows
/// from: for a pipelined move (TTM), the reuse comes right after the signal of the copy's
/// fence, and belongs to the move that added that fence, whose invalidation is the last one
/// before the fence was added; otherwise, the last invalidation before the reuse.
pub(crate) fn invalidation_of_reuse(events: &[Event], reuse: usize) -> Option<usize> {
    let Call::ReclaimMemory { buf } = events.get(reuse)?.call else {
        return None;
    };
    let copy = reuse
        .checked_sub(1)
        .and_then(|p| match events[p].call {
            Call::DmaFenceSignal { fence } => events[..p].iter().position(|e| {
                matches!(e.call, Call::DmaResvAddFence { buf: b, fence: f, usage: DmaResvUsage::Kernel } if b == buf && f == fence)
            }),
            _ => None,
        });
    events[..copy.unwrap_or(reuse)]
        .iter()
        .rposition(|e| matches!(e.call, Call::DmaBufInvalidateMappings { buf: b } if b == buf))
}

/// The first fence added to `buf`'s reservation object before event `inv` that has not
/// signalled before event `reuse`.
pub(crate) fn unsignalled_at_reuse(
    events: &[Event],
    buf: reference_impl::BufId,
    inv: usize,
    reuse: usize,
) -> Option<reference_impl::FenceId> {
    events[..inv]
        .iter()
        .filter_map(|e| match e.call {
            Call::DmaResvAddFence { buf: b, fence, .. } if b == buf => Some(fence),
            _ => None,
        })
        .find(|f| {
            !events[..reuse]
                .iter()
                .any(|e| matches!(e.call, Call::DmaFenceSignal { fence } if fence == *f))
        })
}

fn in_step(trace: &Trace, step: StepRef) -> impl Iterator<Item = (usize, &Event)> {
    trace
        .events
        .iter()
        .enumerate()
        .filter(move |(_, e)| e.step == step.0)
}

fn show(ret: &Option<Ret>) -> String {
    match ret {
        Some(Ret::Void) => "nothing (void)".into(),
        Some(r) => r.to_string(),
        None => "nothing: it never returned".into(),
    }
}

/// Indices of the calls enclosing event `i`, innermost first.
fn ancestors(trace: &Trace, i: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut depth = trace.events[i].depth;
    for j in (0..i).rev() {
        // Another thread's step may have run inside this one: its calls enclose nothing here.
        if trace.events[j].step != trace.events[i].step {
            continue;
        }
        if depth == 0 {
            break;
        }
        if trace.events[j].depth < depth {
            out.push(j);
            depth = trace.events[j].depth;
        }
    }
    out
}

const NEVER_RAN: &str = " never ran: the scenario stopped in step ";

/// Index of the first event of `step` or of a later step (the trace's length if none).
fn step_begins(trace: &Trace, step: StepRef) -> usize {
    trace
        .events
        .iter()
        .position(|e| e.step >= step.0)
        .unwrap_or(trace.events.len())
}

fn step_ran(trace: &Trace, step: StepRef) -> Result<(), String> {
    match trace.stopped_at() {
        Some(h) if h < step.0 => Err(format!("step {}{NEVER_RAN}{h}", step.0)),
        _ => Ok(()),
    }
}

/// Whether a check's failure says only that the step it looks at never ran (the scenario
/// stopped earlier): the check was not exercised, it did not see a violation. This reads the
/// message; [`Check::judge`] says the same as data ([`Failure::NotExercised`]).
pub fn never_ran(failure: &str) -> bool {
    failure.starts_with("step ") && failure.contains(NEVER_RAN)
}

/// What [`no_hang`] expects: a failure of a check so described says only that the trace hangs.
pub const NO_HANG: &str = "every call returns (no deadlock, no endless wait)";

/// The first call `name` made during `step` returns `expected`.
pub fn returns(step: StepRef, name: CallName, expected: Ret) -> Check {
    Check::at(
        step,
        format!("step {}: `{name}` returns {expected}", step.0),
        move |t| {
            step_ran(t, step)?;
            match in_step(t, step).find(|(_, e)| is(e, name)) {
                None => Err(format!("`{name}` was never called in step {}", step.0)),
                Some((_, e)) if e.ret.as_ref() == Some(&expected) => Ok(()),
                Some((i, e)) => Err(format!("event #{i}: `{name}` returned {}", show(&e.ret))),
            }
        },
    )
}

/// `name` is called during `step`.
pub fn called(step: StepRef, name: CallName) -> Check {
    Check::at(
        step,
        format!("step {}: `{name}` is called", step.0),
        move |t| {
            step_ran(t, step)?;
            in_step(t, step)
                .any(|(_, e)| is(e, name))
                .then_some(())
                .ok_or_else(|| format!("`{name}` was never called in step {}", step.0))
        },
    )
}

/// `name` is not called during `step`.
pub fn not_called(step: StepRef, name: CallName) -> Check {
    Check::at(
        step,
        format!("step {}: `{name}` is not called", step.0),
        move |t| {
            step_ran(t, step)?;
            match in_step(t, step).find(|(_, e)| is(e, name)) {
                Some((i, _)) => Err(format!("event #{i}: `{name}` was called")),
                None => Ok(()),
            }
        },
    )
}

/// Every call `name` in the whole trace is made with (or without) the reservation lock.
pub fn always_locked(name: CallName, locked: bool) -> Check {
    let held = if locked { "held" } else { "not held" };
    Check::new(
        format!("every `{name}` is called with the reservation lock {held}"),
        move |t| {
            let mut seen = false;
            for (i, e) in t.events.iter().enumerate().filter(|(_, e)| is(e, name)) {
                seen = true;
                if e.locked != locked {
                    return Err(format!(
                        "event #{i}: `{name}` was called with the lock {}",
                        if e.locked { "held" } else { "not held" }
                    ));
                }
            }
            seen.then_some(())
                .ok_or_else(|| format!("`{name}` was never called"))
        },
    )
}

/// Once `first` has been called, no `dma_buf_map_attachment` (or its `_unlocked` form)
/// returns a mapping: a map that runs after a revoke's invalidation started, on whatever
/// thread, fails.
pub fn no_map_after(first: CallName) -> Check {
    Check::new(
        format!("no map returns a mapping once `{first}` has been called"),
        move |t| {
            let Some(start) = t.events.iter().position(|e| is(e, first)) else {
                return Ok(());
            };
            match t.events.iter().enumerate().skip(start).find(|(_, e)| {
                (is(e, CallName::DmaBufMapAttachment)
                    || is(e, CallName::DmaBufMapAttachmentUnlocked))
                    && matches!(e.ret, Some(Ret::Sgt(_)))
            }) {
                Some((i, e)) => Err(format!(
                    "event #{i} (step {}): {} by {} returned {} after event #{start}",
                    e.step,
                    e.call.render(),
                    e.from,
                    show(&e.ret)
                )),
                None => Ok(()),
            }
        },
    )
}

/// Every call `name` in the whole trace, if any, is made with (or without) the reservation
/// lock: [`always_locked`] for a trace that may not make the call at all (a generated or
/// replayed scenario).
pub fn locked_whenever(name: CallName, locked: bool) -> Check {
    let held = if locked { "held" } else { "not held" };
    Check::new(
        format!("any `{name}` is called with the reservation lock {held}"),
        move |t| match t
            .events
            .iter()
            .enumerate()
            .find(|(_, e)| is(e, name) && e.locked != locked)
        {
            Some((i, e)) => Err(format!(
                "event #{i}: `{name}` was called by {} with the lock {}",
                e.from,
                if e.locked { "held" } else { "not held" }
            )),
            None => Ok(()),
        },
    )
}

/// During `step`, every `inner` is called from inside an `outer` (at any depth), and there is
/// at least one `inner`.
pub fn inside(step: StepRef, inner: CallName, outer: CallName) -> Check {
    Check::at(
        step,
        format!("step {}: `{inner}` is called from inside `{outer}`", step.0),
        move |t| {
            step_ran(t, step)?;
            let mut seen = false;
            for (i, _) in in_step(t, step).filter(|(_, e)| is(e, inner)) {
                seen = true;
                if !ancestors(t, i).iter().any(|&j| is(&t.events[j], outer)) {
                    return Err(format!(
                        "event #{i}: `{inner}` was called outside `{outer}`"
                    ));
                }
            }
            seen.then_some(())
                .ok_or_else(|| format!("`{inner}` was never called in step {}", step.0))
        },
    )
}

/// Anywhere in the trace, no `inner` is called from inside an `outer`.
pub fn never_inside(inner: CallName, outer: CallName) -> Check {
    Check::new(
        format!("`{inner}` is never called from inside `{outer}`"),
        move |t| {
            for (i, _) in t.events.iter().enumerate().filter(|(_, e)| is(e, inner)) {
                if let Some(&j) = ancestors(t, i).iter().find(|&&j| is(&t.events[j], outer)) {
                    return Err(format!(
                        "event #{i}: `{inner}` was called inside `{outer}` (event #{j})"
                    ));
                }
            }
            Ok(())
        },
    )
}

/// During `step`, the calls `names` happen in this order (each after the previous one).
pub fn in_order(step: StepRef, names: &'static [CallName]) -> Check {
    Check::at(
        step,
        format!(
            "step {}: {} happen in this order",
            step.0,
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        move |t| {
            step_ran(t, step)?;
            let mut from = 0;
            for &name in names {
                match t
                    .events
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, e)| e.step == step.0 && is(e, name))
                {
                    Some((i, _)) => from = i + 1,
                    None => {
                        return Err(format!(
                            "no `{name}` in step {} after event #{}",
                            step.0,
                            from.saturating_sub(1)
                        ));
                    }
                }
            }
            Ok(())
        },
    )
}

/// During `step`, every `pin` call that returned 0 is followed by an `unpin` call in the same
/// step: a failed map leaves no pin behind. Vacuous when nothing was pinned (an exporter that
/// refused the attachment left nothing to pin).
pub fn pins_undone(step: StepRef, pin: CallName, unpin: CallName) -> Check {
    Check::at(
        step,
        format!(
            "step {}: every `{pin}` that succeeded is followed by `{unpin}`",
            step.0
        ),
        move |t| {
            step_ran(t, step)?;
            let of_step = || {
                t.events
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.step == step.0)
            };
            for (i, _) in of_step().filter(|(_, e)| is(e, pin) && e.ret == Some(Ret::Int(0))) {
                if !of_step().any(|(j, e)| j > i && is(e, unpin)) {
                    return Err(format!(
                        "`{pin}` at event #{i} succeeded and no `{unpin}` follows in step {}",
                        step.0
                    ));
                }
            }
            Ok(())
        },
    )
}

/// During `step`, a `dma_resv_wait_timeout` for at least `usage` with an unbounded timeout
/// returns a positive value.
pub fn waits_for(step: StepRef, usage: DmaResvUsage) -> Check {
    Check::at(
        step,
        format!(
            "step {}: `dma_resv_wait_timeout` for {usage} (or wider) returns > 0",
            step.0
        ),
        move |t| {
            step_ran(t, step)?;
            let waits: Vec<(usize, &Event)> = in_step(t, step)
            .filter(|(_, e)| matches!(e.call, Call::DmaResvWaitTimeout { usage: u, .. } if u >= usage))
            .collect();
            match waits
                .iter()
                .find(|(_, e)| matches!(e.ret, Some(Ret::Int(n)) if n > 0))
            {
                Some(_) => Ok(()),
                None => match waits.first() {
                    None => Err(format!("no wait for {usage} fences in step {}", step.0)),
                    Some((i, e)) => Err(format!("event #{i}: the wait returned {}", show(&e.ret))),
                },
            }
        },
    )
}

/// During `step`, a `dma_resv_wait_timeout` never returns: an unbounded one, or the last of
/// a loop of bounded ones that keep timing out (the model takes such a loop for one wait that
/// never ends).
pub fn wait_hangs(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "step {}: a `dma_resv_wait_timeout` never returns (unbounded, or a loop of bounded waits)",
            step.0
        ),
        move |t| {
            let waits: Vec<(usize, &Event)> = in_step(t, step)
                .filter(|(_, e)| matches!(e.call, Call::DmaResvWaitTimeout { .. }))
                .collect();
            if waits.iter().any(|(_, e)| e.ret == Some(Ret::Hang)) {
                return Ok(());
            }
            match waits.last() {
                Some((i, e)) => Err(format!("event #{i}: the wait returned {}", show(&e.ret))),
                None => Err(format!("no wait in step {}", step.0)),
            }
        },
    )
}

/// No lockdep warning in the trace: no thread took a lock of the documented order
/// (`vdev->memory_lock`, the reservation lock, `pages->mutex`) while holding a later one.
pub fn no_lock_inversion() -> Check {
    Check::new("lockdep reports no inversion of the lock order", |t| {
        match t.events.iter().enumerate().find(|(_, e)| {
            matches!(&e.call, Call::Warn { what } if what.starts_with(reference_impl::LOCKDEP_WARNING))
        }) {
            Some((i, e)) => Err(format!("event #{i}: {}", e.call.render())),
            None => Ok(()),
        }
    })
}

/// During `step`, the exporter goes on to its wait for unmaps only after its last wait for
/// fences returned a positive value: not after one that timed out (0) or was interrupted
/// (`-ERESTARTSYS`). A wait that never returns is fine (the step never goes on).
pub fn fences_waited_out(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "step {}: the wait for unmaps follows a wait for the fences that returned > 0",
            step.0
        ),
        move |t| {
            let mut failed: Option<(usize, &Event)> = None;
            for (i, e) in in_step(t, step) {
                match (&e.call, &e.ret) {
                    (Call::DmaResvWaitTimeout { .. }, Some(Ret::Int(n))) if *n > 0 => failed = None,
                    (Call::DmaResvWaitTimeout { .. }, Some(Ret::Int(_) | Ret::Err(_))) => {
                        failed = Some((i, e))
                    }
                    (Call::WaitForUnmap { .. }, _) => {
                        if let Some((w, wait)) = failed {
                            return Err(format!(
                                "event #{i}: the wait for unmaps after event #{w}'s wait returned {}",
                                show(&wait.ret)
                            ));
                        }
                    }
                    _ => {}
                }
            }
            Ok(())
        },
    )
}

/// During `step`, every mapping made with `dma_buf_map_attachment` (or its `_unlocked`
/// variant) before the step and not yet unmapped is unmapped (the importer calls
/// `dma_buf_unmap_attachment`) before the step's `until` call returns: ahead of it, or from
/// inside it (a worker the waiting exporter lets run). Vacuous when no such mapping is held.
pub fn unmapped_before(step: StepRef, until: CallName) -> Check {
    Check::at(
        step,
        format!(
            "step {}: every mapping held when the step begins is unmapped before `{until}` returns",
            step.0
        ),
        move |t| {
            let held = held_when_step_begins(t, step)?;
            if held.is_empty() {
                return Ok(());
            }
            let Some((u, ue)) = in_step(t, step).find(|(_, e)| is(e, until)) else {
                return Err(format!("`{until}` was never called in step {}", step.0));
            };
            // The importer's part is the unmap call; whether the exporter's wait then returns
            // is the exporter's and the core's business (on 6.12 the core's mapping cache
            // swallows the unmap, and the wait never returns).
            let never = if ue.ret == Some(Ret::Hang) {
                " (it never returned)"
            } else {
                ""
            };
            let unmapped_by = |sgt| {
                in_step(t, step)
                    .any(|(i, e)| unmaps(e) == Some(sgt) && (i < u || ancestors(t, i).contains(&u)))
            };
            match held.iter().find(|s| !unmapped_by(**s)) {
                None => Ok(()),
                Some(sgt) => Err(format!(
                    "{sgt} was not unmapped before event #{u} (`{until}`) returned{never}"
                )),
            }
        },
    )
}

/// Every mapping made with `dma_buf_map_attachment` (or its `_unlocked` variant) before
/// `step` and not yet unmapped when it begins is unmapped by the end of the trace: the bounded
/// time an importer has when the exporter does not wait for unmaps (a GPU's hot unplug).
/// Vacuous when no such mapping is held.
pub fn unmapped_by_end(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "every mapping held when step {} begins is unmapped before the scenario ends",
            step.0
        ),
        move |t| {
            let held = held_when_step_begins(t, step)?;
            let still = held_mappings(&t.events);
            match held.iter().find(|s| still.contains(s)) {
                None => Ok(()),
                Some(sgt) => Err(format!(
                    "{sgt} is still mapped when the scenario ends ({} events)",
                    t.events.len()
                )),
            }
        },
    )
}

fn unmaps(e: &Event) -> Option<reference_impl::SgtId> {
    match e.call {
        Call::DmaBufUnmapAttachment { sgt, .. }
        | Call::DmaBufUnmapAttachmentUnlocked { sgt, .. } => Some(sgt),
        _ => None,
    }
}

/// The mappings made through the core and not unmapped when `step` begins (an error if the
/// step never ran).
fn held_when_step_begins(t: &Trace, step: StepRef) -> Result<Vec<reference_impl::SgtId>, String> {
    step_ran(t, step)?;
    Ok(held_mappings(&t.events[..step_begins(t, step)]))
}

/// The mappings made through the core in `events` and not unmapped there.
fn held_mappings(events: &[Event]) -> Vec<reference_impl::SgtId> {
    let mut held = Vec::new();
    for e in events {
        match (&e.call, &e.ret) {
            (
                Call::DmaBufMapAttachment { .. } | Call::DmaBufMapAttachmentUnlocked { .. },
                Some(Ret::Sgt(sgt)),
            ) => {
                if !held.contains(sgt) {
                    held.push(*sgt);
                }
            }
            _ => {
                if let Some(sgt) = unmaps(e) {
                    held.retain(|s| *s != sgt);
                }
            }
        }
    }
    held
}

/// During `step`, every attachment that holds a mapping of a private interconnect
/// (`vfio_pci_dma_buf_iommufd_map` succeeded, no `iommu_unmap` since) has it removed with
/// `iommu_unmap` inside its own `importer_ops.invalidate_mappings`. Vacuous when none does.
pub fn private_path_closed_in_callback(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "step {}: every private-interconnect mapping is removed (`iommu_unmap`) inside the importer's `importer_ops.invalidate_mappings`",
            step.0
        ),
        move |t| {
            step_ran(t, step)?;
            let mut held: Vec<reference_impl::AttId> = Vec::new();
            for e in t.events.iter().take_while(|e| e.step < step.0) {
                match (&e.call, &e.ret) {
                    (Call::VfioPciDmaBufIommufdMap { att }, Some(Ret::Sgt(_))) => held.push(*att),
                    (Call::IommuUnmap { att }, _) => held.retain(|a| a != att),
                    _ => {}
                }
            }
            for att in held {
                let closed = in_step(t, step).any(|(i, e)| {
                    matches!(e.call, Call::IommuUnmap { att: a } if a == att)
                        && ancestors(t, i).iter().any(|&j| {
                            matches!(t.events[j].call, Call::InvalidateMappings { att: a } if a == att)
                        })
                });
                if !closed {
                    let later =
                        t.events.iter().enumerate().find(
                            |(_, e)| matches!(e.call, Call::IommuUnmap { att: a } if a == att),
                        );
                    return Err(match later {
                        Some((i, _)) => format!(
                            "{att}'s IOMMU mapping was removed only at event #{i}, outside its callback"
                        ),
                        None => format!("{att}'s IOMMU mapping was never removed"),
                    });
                }
            }
            Ok(())
        },
    )
}

/// No `invalidate_mappings` callback takes the reservation lock of the buffer it is called for
/// (another buffer's lock, as amdgpu takes its VM root's, is not this rule's business).
pub fn callback_never_relocks() -> Check {
    Check::new(
        "no `importer_ops.invalidate_mappings` takes the lock of its own buffer",
        |t| {
            let buf_of = |att| {
                t.events.iter().find_map(|e| match e.call {
                    Call::DmaBufDynamicAttach { buf, att: a, .. } if a == att => Some(buf),
                    _ => None,
                })
            };
            for (i, e) in t.events.iter().enumerate() {
                let Call::DmaResvLock { buf } = e.call else {
                    continue;
                };
                let own = ancestors(t, i).into_iter().find(|&j| {
                    matches!(t.events[j].call, Call::InvalidateMappings { att } if buf_of(att) == Some(buf))
                });
                if let Some(j) = own {
                    return Err(format!(
                        "event #{i}: {} inside {} (event #{j})",
                        e.call.render(),
                        t.events[j].call.render()
                    ));
                }
            }
            Ok(())
        },
    )
}

/// From `step` on, every `reclaim_memory` of a buffer comes after an invalidation of it and
/// after every fence added to its reservation object before that invalidation has
/// signalled: the exporter may wait on the CPU in the move, or pipeline the reuse behind the
/// fences (TTM), which then happens inside whoever waits for the copy's KERNEL fence. There
/// is at least one reclaim from `step` on.
pub fn reclaim_after_fences(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "from step {} on: `reclaim_memory` comes after the invalidation, once every fence added before it has signalled",
            step.0
        ),
        move |t| {
            step_ran(t, step)?;
            let mut seen = false;
            for (r, e) in t
                .events
                .iter()
                .enumerate()
                .filter(|(_, e)| e.step >= step.0)
            {
                let Call::ReclaimMemory { buf } = e.call else {
                    continue;
                };
                seen = true;
                let Some(inv) = invalidation_of_reuse(&t.events, r) else {
                    return Err(format!(
                        "event #{r}: {} before any invalidation of {buf}",
                        e.call.render()
                    ));
                };
                if let Some(f) = unsignalled_at_reuse(&t.events, buf, inv, r) {
                    return Err(format!(
                        "event #{r}: {} while {f} had not signalled",
                        e.call.render()
                    ));
                }
            }
            seen.then_some(())
                .ok_or_else(|| format!("`reclaim_memory` was never called from step {} on", step.0))
        },
    )
}

/// In `step`, unless the exporter's op `op` was called, the entry point `entry` returns
/// `-EINVAL`: the core's answer when the op is NULL. An exporter that has the op is not
/// what the check is about.
pub fn einval_unless_op(step: StepRef, entry: CallName, op: CallName) -> Check {
    Check::at(
        step,
        format!(
            "step {}: without a call of `{op}`, `{entry}` returns -EINVAL",
            step.0
        ),
        move |t| {
            step_ran(t, step)?;
            if in_step(t, step).any(|(_, e)| is(e, op)) {
                return Ok(());
            }
            match in_step(t, step).find(|(_, e)| is(e, entry)) {
                None => Err(format!("`{entry}` was never called in step {}", step.0)),
                Some((_, e)) if e.ret == Some(Ret::Err(reference_impl::Errno::EINVAL)) => Ok(()),
                Some((i, e)) => Err(format!("event #{i}: `{entry}` returned {}", show(&e.ret))),
            }
        },
    )
}

/// Every call `name` in the trace, if there is any, is made with the reservation lock held.
/// A trace without the call passes: the rule binds the call, not its presence.
pub fn locked_whenever_called(name: CallName) -> Check {
    Check::new(
        format!("every `{name}`, if any, is called with the reservation lock held"),
        move |t| match t
            .events
            .iter()
            .enumerate()
            .find(|(_, e)| is(e, name) && !e.locked)
        {
            Some((i, _)) => Err(format!(
                "event #{i}: `{name}` was called with the lock not held"
            )),
            None => Ok(()),
        },
    )
}

/// Device work queued before `step` and still running when it begins finishes inside a
/// `dma_resv_wait_timeout` of `step` or a later step (the exporter's CPU wait, or the wait
/// for a pipelined copy that runs after it): its fence was in the reservation object when
/// it was waited for. Vacuous when no work is outstanding.
pub fn queued_work_inside_wait(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "step {}: device work outstanding when the step begins finishes inside a `dma_resv_wait_timeout` (of it or a later step)",
            step.0
        ),
        move |t| {
            step_ran(t, step)?;
            let begin = step_begins(t, step);
            let done_before = |job| {
                t.events[..begin]
                    .iter()
                    .any(|e| matches!(e.call, Call::DmaAccess { job: Some(j), .. } if j == job))
            };
            let outstanding = t.events[..begin].iter().filter_map(|e| match e.call {
                Call::DeviceSubmit { job, .. } if !done_before(job) => Some(job),
                _ => None,
            });
            for job in outstanding {
                let finished = t.events.iter().enumerate().find(
                    |(_, e)| matches!(e.call, Call::DmaAccess { job: Some(j), .. } if j == job),
                );
                match finished {
                    Some((i, e))
                        if e.step >= step.0
                            && ancestors(t, i)
                                .iter()
                                .any(|&a| is(&t.events[a], CallName::DmaResvWaitTimeout)) => {}
                    Some((i, e)) => {
                        return Err(format!(
                            "event #{i}: {job} ran in step {} outside the exporter's wait",
                            e.step
                        ));
                    }
                    None => return Err(format!("{job} was never waited for in step {}", step.0)),
                }
            }
            Ok(())
        },
    )
}

/// Every fence of queued device work that is added to a reservation object has usage
/// `DMA_RESV_USAGE_WRITE` if the work writes and `DMA_RESV_USAGE_READ` if it only reads,
/// wherever the importer adds it.
pub fn job_fences_by_access() -> Check {
    Check::new(
        "the fence of writing work is added as WRITE, of reading work as READ",
        |t| {
            for (i, e) in t.events.iter().enumerate() {
                let Call::DmaResvAddFence { fence, usage, .. } = e.call else {
                    continue;
                };
                let write = t.events.iter().find_map(|s| match s.call {
                    Call::DeviceSubmit {
                        fence: f, write, ..
                    } if f == fence => Some(write),
                    _ => None,
                });
                let want = match write {
                    None => continue,
                    Some(true) => DmaResvUsage::Write,
                    Some(false) => DmaResvUsage::Read,
                };
                if usage != want {
                    return Err(format!("event #{i}: {} uses {usage}", e.call.render()));
                }
            }
            Ok(())
        },
    )
}

/// No call in the trace hangs.
pub fn no_hang() -> Check {
    Check::new(NO_HANG, |t| match t.hung_at {
        None => Ok(()),
        Some(s) => {
            let i = t
                .events
                .iter()
                .position(|e| e.ret == Some(Ret::Hang))
                .unwrap_or(0);
            Err(format!(
                "event #{i} in step {s}: `{}` never returns",
                t.events[i].call.name()
            ))
        }
    })
}

fn accesses(t: &Trace) -> impl Iterator<Item = (usize, &Event, bool, AccessOutcome)> {
    t.events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match (&e.call, &e.ret) {
            (Call::DmaAccess { write, .. }, Some(Ret::Access(o))) => Some((i, e, *write, *o)),
            _ => None,
        })
}

/// No device access in the trace finds `outcome`.
pub fn no_access(outcome: AccessOutcome) -> Check {
    let what = Ret::Access(outcome).to_string();
    Check::new(
        format!("no device access finds {what}"),
        move |t| match accesses(t).find(|(_, _, _, o)| *o == outcome) {
            Some((i, e, _, _)) => Err(format!(
                "event #{i}: {} by {} found {what}",
                e.call.render(),
                e.from
            )),
            None => Ok(()),
        },
    )
}

/// No device *write* in the trace goes through a mapping the importer was told to invalidate:
/// an `AFTER_INVALIDATE` write counts only once the callback reached the writer's attachment
/// (a write on another thread before the core called it is before the invalidation).
pub fn no_write_after_invalidate() -> Check {
    Check::new(
        "no device write goes through an invalidated mapping",
        |t| match accesses(t).find(|(i, e, w, o)| {
            *w && match o {
                AccessOutcome::Unmapped => true,
                AccessOutcome::AfterInvalidate => told_before(t, e, *i),
                _ => false,
            }
        }) {
            Some((i, e, _, o)) => Err(format!(
                "event #{i}: {} by {} found {}",
                e.call.render(),
                e.from,
                Ret::Access(o)
            )),
            None => Ok(()),
        },
    )
}

/// Whether the importer behind access `e` (event `i`) had its `invalidate_mappings` called
/// before it.
fn told_before(t: &Trace, e: &Event, i: usize) -> bool {
    let Call::DmaAccess { att, .. } = e.call else {
        return false;
    };
    t.events[..i]
        .iter()
        .any(|c| matches!(c.call, Call::InvalidateMappings { att: a } if a == att))
}

/// The device accesses made during `step` all find `outcome` (and there is at least one).
pub fn access_is(step: StepRef, outcome: AccessOutcome) -> Check {
    let what = Ret::Access(outcome).to_string();
    Check::at(
        step,
        format!("step {}: the device access finds {what}", step.0),
        move |t| {
            step_ran(t, step)?;
            let mut seen = false;
            for (i, e, _, o) in accesses(t).filter(|(_, e, _, _)| e.step == step.0) {
                seen = true;
                if o != outcome {
                    return Err(format!(
                        "event #{i}: {} found {}",
                        e.call.render(),
                        Ret::Access(o)
                    ));
                }
            }
            seen.then_some(())
                .ok_or_else(|| format!("no device access in step {}", step.0))
        },
    )
}

/// No device access happens during `step`.
pub fn no_access_in(step: StepRef) -> Check {
    Check::at(
        step,
        format!("step {}: the device does not access the buffer", step.0),
        move |t| {
            step_ran(t, step)?;
            match accesses(t)
                .find(|(_, e, _, o)| e.step == step.0 && *o != AccessOutcome::NoMapping)
            {
                Some((i, e, _, o)) => Err(format!(
                    "event #{i}: {} found {}",
                    e.call.render(),
                    Ret::Access(o)
                )),
                None => Ok(()),
            }
        },
    )
}

/// The `dma_buf_detach` of `step` finds the importer holding no pin and no mapping.
pub fn detached_clean(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "step {}: `dma_buf_detach` is called with no pin and no mapping left",
            step.0
        ),
        move |t| {
            step_ran(t, step)?;
            match in_step(t, step).find(|(_, e)| matches!(e.call, Call::DmaBufDetach { .. })) {
                Some((
                    _,
                    Event {
                        call:
                            Call::DmaBufDetach {
                                pins: 0,
                                mappings: 0,
                                ..
                            },
                        ..
                    },
                )) => Ok(()),
                Some((i, e)) => Err(format!("event #{i}: {}", e.call.render())),
                None => Err(format!(
                    "`dma_buf_detach` was never called in step {}",
                    step.0
                )),
            }
        },
    )
}

/// The core prints no warning anywhere in the trace.
pub fn no_warning() -> Check {
    Check::new("the core prints no warning (WARN_ON, lockdep)", |t| match t
        .events
        .iter()
        .enumerate()
        .find(|(_, e)| matches!(e.call, Call::Warn { .. }))
    {
        Some((i, e)) => Err(format!("event #{i}: {}", e.call.render())),
        None => Ok(()),
    })
}

/// `name` is called during `step` a given number of times.
pub fn called_times(step: StepRef, name: CallName, times: usize) -> Check {
    Check::at(
        step,
        format!("step {}: `{name}` is called {times} time(s)", step.0),
        move |t| {
            step_ran(t, step)?;
            let n = in_step(t, step).filter(|(_, e)| is(e, name)).count();
            (n == times)
                .then_some(())
                .ok_or_else(|| format!("`{name}` was called {n} time(s)"))
        },
    )
}

/// No driver crashes (panics: in the kernel, an oops) anywhere in the scenario.
pub fn no_crash() -> Check {
    Check::new("no driver crashes (oops)", |t| match &t.crashed {
        None => Ok(()),
        // A shim process that died, broke the protocol or did not answer in time (which may
        // be a driver waiting for ever, or only a slow process): said as such, never as a
        // driver's crash or hang under a rule of the contract.
        Some(c) if c.shim_process => Err(format!(
            "the shim process failed in step {} (not a verdict on the driver: a process that dies, breaks the protocol or does not answer within --timeout): {}",
            c.step, c.message
        )),
        Some(c) => Err(format!(
            "a driver crashed in step {}: {}",
            c.step, c.message
        )),
    })
}

/// During `step`, every fence added to the reservation object has usage `usage` (and one is).
pub fn adds_fences_as(step: StepRef, usage: DmaResvUsage) -> Check {
    Check::at(
        step,
        format!("step {}: fences are added with usage {usage}", step.0),
        move |t| {
            step_ran(t, step)?;
            let mut seen = false;
            for (i, e) in in_step(t, step) {
                if let Call::DmaResvAddFence { usage: u, .. } = e.call {
                    seen = true;
                    if u != usage {
                        return Err(format!("event #{i}: {} uses {u}", e.call.render()));
                    }
                }
            }
            seen.then_some(())
                .ok_or_else(|| format!("no fence was added in step {}", step.0))
        },
    )
}

/// Every mapping an importer's work item unmaps (a `dma_buf_unmap_attachment()` made inside
/// a `worker` call of the same attachment) was reached, after it was made, by an
/// `invalidate_mappings` callback of that attachment.
pub fn worker_unmaps_only_invalidated() -> Check {
    Check::new(
        "a worker unmaps only mappings an invalidation reached after they were made",
        |t| {
            let ev = &t.events;
            for (i, e) in ev.iter().enumerate() {
                let (Call::DmaBufUnmapAttachment { att, sgt }
                | Call::DmaBufUnmapAttachmentUnlocked { att, sgt }) = e.call
                else {
                    continue;
                };
                // The calls enclosing event i: walk back to each shallower event.
                let mut depth = e.depth;
                let mut from_worker = false;
                for p in ev[..i].iter().rev() {
                    if p.depth < depth {
                        depth = p.depth;
                        if matches!(p.call, Call::Worker { att: a } if a == att) {
                            from_worker = true;
                            break;
                        }
                    }
                }
                if !from_worker {
                    continue;
                }
                let Some(made) = ev[..i].iter().rposition(|m| {
                    matches!(m.call, Call::DmaBufMapAttachment { att: a }
                        | Call::DmaBufMapAttachmentUnlocked { att: a } if a == att)
                        && m.ret == Some(Ret::Sgt(sgt))
                }) else {
                    continue;
                };
                let reached = ev[made + 1..i]
                    .iter()
                    .any(|c| matches!(c.call, Call::InvalidateMappings { att: a } if a == att));
                if !reached {
                    return Err(format!(
                        "event #{i}: the worker of {att} unmaps {sgt}, mapped at event #{made} \
                         and reached by no invalidation since"
                    ));
                }
            }
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reference_impl::{Actor, AttId, Event};

    fn trace(stopped_at: Option<usize>) -> Trace {
        Trace {
            events: vec![Event {
                step: 0,
                depth: 0,
                from: Actor::Harness,
                to: Actor::Core,
                call: Call::DmaBufPin { att: AttId(0) },
                locked: false,
                ret: Some(Ret::Int(0)),
            }],
            hung_at: stopped_at,
            crashed: None,
        }
    }

    /// A check of a step after the one the scenario stopped in is not exercised, as data and
    /// in its message alike; a check of a step that ran passes or is violated.
    #[test]
    fn a_step_that_never_ran_is_not_a_violation() {
        let pinned = called(StepRef(0), crate::calls::dma_buf_pin);
        let later = called(StepRef(2), crate::calls::dma_buf_pin);
        let stopped = trace(Some(1));
        assert_eq!(pinned.judge(&stopped), Ok(()));
        assert_eq!(
            later.judge(&stopped),
            Err(Failure::NotExercised {
                step: 2,
                stopped_at: 1
            })
        );
        assert!(never_ran(&later.eval(&stopped).expect_err("not run")));
        let unpinned = not_called(StepRef(0), crate::calls::dma_buf_pin);
        assert!(matches!(
            unpinned.judge(&trace(None)),
            Err(Failure::Violated(m)) if m == "event #0: `dma_buf_pin` was called"
        ));
        assert_eq!(no_hang().step, None);
    }

    fn event(step: usize, call: Call, ret: Option<Ret>) -> Event {
        Event {
            step,
            depth: 0,
            from: Actor::Importer(AttId(0)),
            to: Actor::Core,
            call,
            locked: true,
            ret,
        }
    }

    /// A mapping held when the step begins must be given back by the end of the trace,
    /// from inside the step or after it; one still held at the end violates the check.
    #[test]
    fn a_mapping_held_to_the_end_is_not_unmapped_by_end() {
        let (att, sgt) = (AttId(0), reference_impl::SgtId(1));
        let map = event(0, Call::DmaBufMapAttachment { att }, Some(Ret::Sgt(sgt)));
        let unmap = event(2, Call::DmaBufUnmapAttachment { att, sgt }, None);
        let mut t = Trace {
            events: vec![
                map.clone(),
                event(1, Call::DmaBufPin { att }, Some(Ret::Int(0))),
            ],
            hung_at: None,
            crashed: None,
        };
        let check = unmapped_by_end(StepRef(1));
        assert!(matches!(
            check.judge(&t),
            Err(Failure::Violated(m)) if m.contains("sgt1 is still mapped")
        ));
        t.events.push(unmap);
        assert_eq!(check.judge(&t), Ok(()));
        t.events.remove(0);
        assert_eq!(check.judge(&t), Ok(()), "nothing held: vacuous");
    }
}
