//! The monitors of the chapter "Locking" (`locking.md`).

use reference_impl::{Actor, Call, CallName, LOCKDEP_WARNING, LockClass, Role};

use super::judgement::shows;
use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "lock.core.pin-ops-locked",
        source: file!(),
        role: Role::Core,
        applies: "every `ops.pin` and `ops.unpin`",
        expects: "each is called with the reservation lock held",
        judge: pin_ops_locked,
    },
    Monitor {
        rule: "lock.core.release-unlocked",
        source: file!(),
        role: Role::Core,
        applies: "every `ops.release`",
        expects: "it is called without the reservation lock",
        judge: release_unlocked,
    },
    Monitor {
        rule: "lock.importer.add-fence-locked",
        source: file!(),
        role: Role::Importer,
        applies: "every fence an importer adds",
        expects: "`dma_resv_add_fence()` is called with the reservation lock held",
        judge: add_fence_locked,
    },
    Monitor {
        rule: "lock.importer.own-lock-inside-resv",
        source: file!(),
        role: Role::Importer,
        applies: "every reservation lock an importer takes",
        expects: "lockdep reports no reservation lock taken while `pages->mutex` is held",
        judge: own_lock_inside_resv,
    },
    Monitor {
        rule: "lock.importer.unlocked-helpers",
        source: file!(),
        role: Role::Importer,
        applies: "every map and unmap an importer makes",
        expects: "without the lock it uses the `_unlocked` variants; the `_unlocked` variants are never called with the lock held",
        judge: unlocked_helpers,
    },
    Monitor {
        rule: "lock.no-deadlock",
        source: file!(),
        role: Role::Core,
        applies: "every trace that takes a lock or waits, whichever role does (the core, an exporter, an importer)",
        expects: "every call returns, except a wait for a fence the scenario made never to signal; a hang no more specific rule covers is charged to the role holding the lock or owning the fence that never came",
        judge: no_deadlock,
    },
];

fn each_locked(o: &Observed<'_>, names: &[CallName], locked: bool, from_importer: bool) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o
        .events()
        .filter(|(_, e)| names.contains(&e.call.call_name()))
    {
        if from_importer && !matches!(e.from, Actor::Importer(_)) {
            continue;
        }
        j.expect(e.locked == locked, i, e.from, || {
            format!(
                "{} with the lock {}",
                shows(e),
                if e.locked { "held" } else { "not held" }
            )
        });
    }
    j.verdict()
}

fn pin_ops_locked(o: &Observed<'_>) -> Verdict {
    each_locked(o, &[CallName::OpsPin, CallName::OpsUnpin], true, false)
}

fn release_unlocked(o: &Observed<'_>) -> Verdict {
    each_locked(o, &[CallName::OpsRelease], false, false)
}

fn add_fence_locked(o: &Observed<'_>) -> Verdict {
    each_locked(o, &[CallName::DmaResvAddFence], true, true)
}

fn unlocked_helpers(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events() {
        if !matches!(e.from, Actor::Importer(_)) {
            continue;
        }
        let want = match e.call.call_name() {
            CallName::DmaBufMapAttachment | CallName::DmaBufUnmapAttachment => true,
            CallName::DmaBufMapAttachmentUnlocked | CallName::DmaBufUnmapAttachmentUnlocked => {
                false
            }
            _ => continue,
        };
        j.expect(e.locked == want, i, e.from, || {
            if want {
                format!(
                    "{} without the lock: the `_unlocked` variant takes it",
                    shows(e)
                )
            } else {
                format!("{} with the lock held: it takes the lock again", shows(e))
            }
        });
    }
    j.verdict()
}

fn own_lock_inside_resv(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    let inverted = format!(
        "taking {} while holding {}",
        LockClass::Reservation,
        LockClass::PagesMutex
    );
    for (i, e) in o.calls(CallName::DmaResvLock) {
        if !matches!(e.from, Actor::Importer(_)) {
            continue;
        }
        j.applies();
        for (w, warn) in o.inside(i) {
            if let Call::Warn { what } = &warn.call
                && what.starts_with(LOCKDEP_WARNING)
                && what.contains(&inverted)
            {
                j.violated(w, e.from, format!("{}: {what}", shows(e)));
            }
        }
    }
    j.verdict()
}

/// A hang the contract charges to no more specific rule ([`crate::hangs`]), and a step that
/// returns holding a reservation lock it took (lockdep's "lock held when returning to user
/// space!"), which makes the next lock of that buffer a hang; a trace whose every call
/// returned and whose steps dropped what they took holds wherever it took a lock or waited.
fn no_deadlock(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    match crate::hangs::unexplained(o.steps, o.trace) {
        Some(u) if u.rule == crate::hangs::NO_DEADLOCK => j.violated(u.event, u.actor, u.observed),
        _ => {}
    }
    // Per step and buffer, the locks it took and has not dropped (the last one's event).
    let mut held: std::collections::BTreeMap<(usize, reference_impl::BufId), Vec<usize>> =
        Default::default();
    for (i, e) in o.events() {
        match e.call {
            Call::DmaResvLock { buf }
            | Call::DmaResvWaitTimeout { buf, .. }
            | Call::WaitForUnmap { buf } => {
                j.applies();
                if matches!(e.call, Call::DmaResvLock { .. }) && o.returned(i) {
                    held.entry((e.step, buf)).or_default().push(i);
                }
            }
            Call::DmaResvUnlock { buf } => {
                held.entry((e.step, buf)).or_default().pop();
            }
            _ => {}
        }
    }
    for ((step, buf), locks) in held {
        let Some(&i) = locks.last() else { continue };
        if !o.step_completed(step) {
            continue;
        }
        let e = o.event(i);
        let by = match e.from {
            Actor::Device(a) => Actor::Importer(a),
            a => a,
        };
        j.violated(
            i,
            by,
            format!(
                "{} (event #{i}) and step {step} returns without dropping it (lockdep: \"lock held when returning to user space!\"): the next lock of {buf} never returns",
                shows(e)
            ),
        );
    }
    j.verdict()
}
