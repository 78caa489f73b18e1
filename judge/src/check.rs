//! Checks over a trace. Every check runs on the host over plain trace data, so a trace from
//! another backend (a shim in another process, the Linux kernel) gets the same scrutiny.
//!
//! Calls are named by [`CallName`]s, spelt in a case as the kernel spells them (see
//! [`crate::calls`]): `dma_buf_map_attachment`, `ops::map_dma_buf`,
//! `importer_ops::invalidate_mappings`, `dma_resv_wait_timeout`, `dma_write`...

use reference_impl::{
    AccessOutcome, Call, CallName, DmaResvUsage, Event, Ret, StepRef, Timeout, Trace,
};

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

/// During `step`, the unbounded `dma_resv_wait_timeout` never returns.
pub fn wait_hangs(step: StepRef) -> Check {
    Check::at(
        step,
        format!(
            "step {}: an unbounded `dma_resv_wait_timeout` never returns",
            step.0
        ),
        move |t| match in_step(t, step).find(|(_, e)| {
            matches!(
                e.call,
                Call::DmaResvWaitTimeout {
                    timeout: Timeout::Max,
                    ..
                }
            )
        }) {
            Some((_, e)) if e.ret == Some(Ret::Hang) => Ok(()),
            Some((i, e)) => Err(format!("event #{i}: the wait returned {}", show(&e.ret))),
            None => Err(format!("no unbounded wait in step {}", step.0)),
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

/// No device *write* in the trace goes through a mapping the importer was told to invalidate.
pub fn no_write_after_invalidate() -> Check {
    Check::new(
        "no device write goes through an invalidated mapping",
        |t| match accesses(t).find(|(_, _, w, o)| {
            *w && matches!(o, AccessOutcome::AfterInvalidate | AccessOutcome::Unmapped)
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
}
