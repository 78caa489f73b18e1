//! Root cause first: of everything a failed case variant reports, the first abnormal event
//! and the role responsible for it; every other failure is a consequence of it.
//!
//! The first violating event a monitor found wins (for a re-lock in a callback, the importer's
//! `dma_resv_lock`, not the exporter's waits that never ran). A trace that stops (a hang, a
//! crash) before any monitor saw a violation is blamed on the role that holds what the
//! stuck call waits for: the lock's holder for a `dma_resv_lock`, the owner of the fence that
//! never signalled for a wait, the importers still holding a mapping for a wait for unmaps
//! (as the hang contract, [`crate::hangs`], charges them), and the callee of the call a
//! driver crashed in.

use reference_impl::{Actor, Call, DmaResvUsage, Ret, Role, Trace};

use crate::monitor::Verdict;
use crate::outcome::CaseOutcome;
use crate::results::{Departure, RootCause};

/// The role an actor plays (a device is its importer's).
pub fn role_of(actor: Actor) -> Role {
    match actor {
        Actor::Core | Actor::Harness | Actor::Memory(_) => Role::Core,
        Actor::Exporter(_) => Role::Exporter,
        Actor::Importer(_) | Actor::Device(_) => Role::Importer,
    }
}

/// The root cause of a case variant's failures, if it failed.
pub fn of(outcome: &CaseOutcome) -> Option<RootCause> {
    let trace = outcome.trace.as_ref().ok()?;
    let mut violated: Vec<&str> = outcome.violated_rules().collect();
    if violated.is_empty() && trace.crashed.is_none() {
        return None;
    }
    violated.sort_unstable();
    violated.dedup();
    let stop = stop_event(trace);
    // The first violation a monitor found; at one event, the one whose role made the call.
    let first = outcome
        .monitors
        .iter()
        .filter_map(|m| match &m.verdict {
            Verdict::Violated(v) => Some((m.rule, v)),
            _ => None,
        })
        .min_by_key(|(_, v)| {
            let maker = trace.events.get(v.event).is_some_and(|e| e.from == v.actor);
            (v.event, !maker)
        });
    let mut cause = match (first, stop) {
        (Some((rule, v)), s) if s.is_none_or(|s| v.event <= s) => from_monitor(rule, v),
        // The trace stopped first: blamed on who holds what the stuck call waits for, under
        // the first rule the case reports.
        (_, Some(s)) => {
            // A hang the contract does not allow is charged as `hangs` says (the same role
            // a generated scenario or a replay names), under its rule if the case broke it.
            let (role, actor, observed, rule) =
                match crate::hangs::unexplained(&outcome.steps, trace) {
                    Some(u) if u.event == s => (
                        role_of(u.actor),
                        u.actor.to_string(),
                        u.observed,
                        violated.contains(&u.rule).then_some(u.rule),
                    ),
                    _ => {
                        let (role, actor, observed) = stopped(trace, s);
                        (role, actor, observed, None)
                    }
                };
            RootCause {
                rule: rule.or(violated.first().copied())?.to_string(),
                event: s,
                role,
                consequences: Vec::new(),
                actor: Some(actor),
                observed: Some(observed),
            }
        }
        (Some((rule, v)), None) => from_monitor(rule, v),
        // Only checks of the case failed, and nothing says at which event: no root cause
        // beyond the failures themselves.
        (None, None) => return None,
    };
    cause.consequences = violated
        .into_iter()
        .filter(|r| *r != cause.rule)
        .map(str::to_string)
        .collect();
    Some(cause)
}

/// The first event where `shim` departs from `reference` (same step, same call, same
/// return), or `None` if neither trace has an event the other lacks.
pub fn departure(reference: &Trace, shim: &Trace) -> Option<Departure> {
    let same = |i: usize| match (reference.events.get(i), shim.events.get(i)) {
        (Some(a), Some(b)) => a.step == b.step && a.line(i) == b.line(i),
        (None, None) => true,
        _ => false,
    };
    let n = reference.events.len().max(shim.events.len());
    let i = (0..n).find(|&i| !same(i))?;
    let (r, s) = (reference.events.get(i), shim.events.get(i));
    let by = s.or(r)?.from;
    Some(Departure {
        event: i,
        role: role_of(by),
        actor: by.to_string(),
        shim: s.map(|e| e.line(i)),
        reference: r.map(|e| e.line(i)),
    })
}

fn from_monitor(rule: &str, v: &crate::monitor::Violation) -> RootCause {
    RootCause {
        rule: rule.to_string(),
        event: v.event,
        role: role_of(v.actor),
        consequences: Vec::new(),
        actor: Some(v.actor.to_string()),
        observed: Some(v.observed.clone()),
    }
}

/// The event the trace stopped in: the innermost call that hung, or the last event of a crash.
fn stop_event(trace: &Trace) -> Option<usize> {
    if trace.hung_at.is_some() {
        return trace
            .events
            .iter()
            .position(|e| e.ret == Some(Ret::Hang))
            .or(trace.events.len().checked_sub(1));
    }
    trace.crashed.as_ref()?;
    trace.events.len().checked_sub(1)
}

/// A trace that stopped at event `s` with no earlier violation and no hang the contract
/// charges ([`crate::hangs`] says whose a re-lock or a wait for unmaps is): the role that
/// holds what the stuck call waits for, that role's instance, and what happened. A crash is
/// the callee's; an allowed wait for fences is the owner's of the fence that never signalled.
fn stopped(trace: &Trace, s: usize) -> (Role, String, String) {
    let e = &trace.events[s];
    let blame = |actor: Actor, observed: String| (role_of(actor), actor.to_string(), observed);
    if let Some(c) = &trace.crashed {
        let who = if e.ret.is_none() { e.to } else { e.from };
        let what = if c.shim_process {
            "the shim process failed"
        } else {
            "the driver crashed (oops)"
        };
        return blame(
            who,
            format!("{what} in `{}` (event #{s}): {}", e.call.name(), c.message),
        );
    }
    match e.call {
        Call::DmaResvWaitTimeout { buf, usage, .. } => {
            let signalled: Vec<_> = trace.events[..s]
                .iter()
                .filter_map(|x| match x.call {
                    Call::DmaFenceSignal { fence } => Some(fence),
                    _ => None,
                })
                .collect();
            let pending = trace.events[..s].iter().find(|x| {
                matches!(x.call, Call::DmaResvAddFence { buf: b, fence, usage: u }
                    if b == buf && u <= usage.max(DmaResvUsage::Kernel) && !signalled.contains(&fence))
            });
            match pending {
                Some(x) => blame(
                    x.from,
                    format!(
                        "the wait for {buf}'s {usage} fences (event #{s}) never returns: {} was added by {} and never signalled",
                        x.call.render(),
                        x.from
                    ),
                ),
                None => blame(
                    e.to,
                    format!("the wait for {buf}'s {usage} fences (event #{s}) never returns"),
                ),
            }
        }
        _ => blame(
            e.to,
            format!("`{}` (event #{s}) never returns", e.call.name()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::run_case;

    fn outcome_of(case: &str, variant: &'static str, change: fn(&mut Trace)) -> CaseOutcome {
        let case = crate::spec().case(case).expect("the case");
        run_case(&crate::spec(), case, variant, &mut |steps| {
            let mut t = reference_impl::run_reference(steps)?;
            change(&mut t);
            Ok(t)
        })
    }

    /// An importer that skips its pin fails only the case's checks (no monitor names an
    /// event): the first departure from the reference is its call where the reference pins,
    /// made by the importer. Identical traces have none; a trace that ends early departs where
    /// the reference goes on, named after the reference's caller.
    #[test]
    fn the_first_departure_names_the_importer_that_skipped_its_pin() {
        let outcome = outcome_of("pin_without_a_pin_op", "", |t| {
            let pin = t
                .events
                .iter()
                .position(|e| matches!(e.call, Call::DmaBufPin { .. }))
                .expect("a pin");
            t.events.remove(pin);
        });
        assert!(of(&outcome).is_none(), "only the case's checks fail");
        let shim = outcome.trace.as_ref().expect("a trace");
        let reference = reference_impl::run_reference(&outcome.steps).expect("runs");
        let d = departure(&reference, shim).expect("a departure");
        let pin = reference
            .events
            .iter()
            .position(|e| matches!(e.call, Call::DmaBufPin { .. }))
            .expect("the reference pins");
        assert_eq!(
            (d.event, d.role, d.actor.as_str()),
            (pin, Role::Importer, "importer.att0")
        );
        assert!(
            d.reference
                .as_deref()
                .is_some_and(|l| l.contains("dma_buf_pin(att0)")),
            "{d:?}"
        );
        assert!(
            d.shim
                .as_deref()
                .is_some_and(|l| !l.contains("dma_buf_pin")),
            "{d:?}"
        );
        assert!(departure(&reference, &reference).is_none());
        let mut short = reference.clone();
        short.events.truncate(pin);
        let d = departure(&reference, &short).expect("ends early");
        assert_eq!((d.event, d.shim.as_deref()), (pin, None));
        assert_eq!(d.role, Role::Importer);
    }

    /// An importer that takes the lock again in its callback deadlocks the revoke: the root
    /// cause is its re-lock, and what the revoke never got to do are consequences.
    #[test]
    fn a_relock_in_the_callback_is_the_root_of_the_hang() {
        let outcome = outcome_of("attach_after_revoke_fails", "", |t| {
            let cb = t
                .events
                .iter()
                .position(|e| matches!(e.call, Call::InvalidateMappings { .. }))
                .expect("a callback");
            let mut relock = t.events[cb].clone();
            relock.depth += 1;
            relock.from = relock.to;
            relock.to = Actor::Core;
            relock.call = Call::DmaResvLock {
                buf: reference_impl::BufId(0),
            };
            relock.ret = Some(Ret::Hang);
            t.events.truncate(cb + 1);
            t.events.push(relock);
            for e in &mut t.events[cb - 1..=cb] {
                e.ret = None;
            }
            t.hung_at = Some(t.events[cb].step);
        });
        let cause = of(&outcome).expect("a root cause");
        assert_eq!(cause.rule, "invalidate.importer.no-relock");
        assert_eq!(
            cause.event,
            outcome.trace.as_ref().unwrap().events.len() - 1
        );
        assert_eq!(cause.role, Role::Importer);
        assert_eq!(cause.actor.as_deref(), Some("importer.att0"));
        assert!(
            cause
                .consequences
                .contains(&"revoke.exporter.reject-attach".to_string()),
            "{cause:?}"
        );
    }

    /// A wait that never returns, with no monitor seeing a violation before it, is blamed on
    /// the role that added the fence that never signalled.
    #[test]
    fn a_stuck_wait_is_blamed_on_the_fence_owner() {
        let case = crate::spec()
            .case("revoke_blocks_on_a_stuck_fence")
            .expect("the case");
        let steps = crate::outcome::scenario_of(case, "")
            .expect("a scenario")
            .steps;
        let t = reference_impl::run_reference(&steps).expect("runs");
        let s = stop_event(&t).expect("it hangs");
        let (role, actor, observed) = stopped(&t, s);
        assert_eq!((role, actor.as_str()), (Role::Exporter, "exporter.buf0"));
        assert!(observed.contains("never signalled"), "{observed}");
    }

    /// A passing case has no root cause; a lock taken twice outside any callback is blamed
    /// on the holder of the lock, as the hang contract charges it.
    #[test]
    fn a_deadlock_is_blamed_on_the_lock_holder() {
        let passing = outcome_of("orderly_teardown", "dynamic", |_| {});
        assert_eq!(of(&passing), None);
        let relock = |t: &mut Trace| {
            let i = t
                .events
                .iter()
                .position(|e| {
                    matches!(e.call, Call::DmaResvLock { .. })
                        && e.from == Actor::Importer(reference_impl::AttId(0))
                })
                .expect("the importer locks");
            let mut again = t.events[i].clone();
            again.ret = Some(Ret::Hang);
            again.locked = true;
            t.events.truncate(i + 1);
            t.events.push(again);
            t.hung_at = Some(t.events[i].step);
        };
        let outcome = outcome_of("orderly_teardown", "dynamic", relock);
        let cause = of(&outcome).expect("a root cause");
        let last = outcome.trace.as_ref().expect("a trace").events.len() - 1;
        assert_eq!(
            (cause.rule.as_str(), cause.event, cause.role),
            ("lock.no-deadlock", last, Role::Importer)
        );
        assert_eq!(cause.actor.as_deref(), Some("importer.att0"));
    }
}
