//! The hang contract on traces that hang as it allows and as it does not.

use reference_impl::{AttId, BufId, DmaResvUsage, ExporterKind, ImporterKind};

use super::*;

fn reference(steps: &[Step]) -> Trace {
    reference_impl::run_reference(steps).expect("the reference runs")
}

fn case_steps(case: &str, variant: &str) -> Vec<Step> {
    let case = crate::spec().case(case).expect("the case");
    crate::outcome::scenario_of(case, variant)
        .expect("a scenario")
        .steps
}

/// Stops `t` at event `i`, which never returns; the calls around it never return either.
fn hang_at(t: &mut Trace, i: usize) {
    t.events.truncate(i + 1);
    let depth = t.events[i].depth;
    let step = t.events[i].step;
    let mut d = depth;
    for e in t.events[..i].iter_mut().rev() {
        if e.step == step && e.depth < d {
            e.ret = None;
            d = e.depth;
        }
    }
    t.events[i].ret = Some(Ret::Hang);
    t.hung_at = Some(step);
}

/// VFIO's revoke waits without bound for a fence the scenario made never to signal
/// (`vfio_pci_dma_buf_move()`): allowed, and nothing is reported.
#[test]
fn a_revoke_waiting_for_a_stuck_fence_is_allowed() {
    let steps = case_steps("revoke_blocks_on_a_stuck_fence", "");
    let t = reference(&steps);
    let Some(Hang::Allowed { event, why }) = judge(&steps, &t) else {
        panic!("{:?}", judge(&steps, &t));
    };
    assert!(
        matches!(
            t.events[event].call,
            Call::DmaResvWaitTimeout {
                usage: DmaResvUsage::Bookkeep,
                ..
            }
        ),
        "{why}"
    );
    assert!(why.contains("made never to signal"), "{why}");
    assert_eq!(first_violation(&steps, &t), None);
}

/// The core's wait for a static importer's map (`dma_buf_map_attachment()`, KERNEL fences,
/// without bound) and a move's wait behind a stuck fence are allowed too: as generated
/// scenarios make them.
#[test]
fn the_cores_map_wait_behind_a_stuck_fence_is_allowed() {
    let (buf, att) = (BufId(0), AttId(0));
    let steps = vec![
        Step::Export {
            buf,
            exporter: ExporterKind::Gpu,
        },
        Step::ExporterFence {
            buf,
            usage: DmaResvUsage::Kernel,
            stuck: true,
        },
        Step::Attach {
            att,
            buf,
            importer: ImporterKind::Static,
        },
        Step::Map { att },
    ];
    let t = reference(&steps);
    assert!(t.hung_at.is_some(), "the map waits for ever");
    assert!(
        matches!(judge(&steps, &t), Some(Hang::Allowed { .. })),
        "{:?}",
        judge(&steps, &t)
    );
    // The same trace, had the scenario not said the fence never signals: the fence is the
    // exporter's, and its owner is charged.
    let mut plain = steps.clone();
    plain[1] = Step::ExporterFence {
        buf,
        usage: DmaResvUsage::Kernel,
        stuck: false,
    };
    let u = unexplained(&plain, &t).expect("unexplained");
    assert_eq!((u.rule, u.actor), (NO_DEADLOCK, Actor::Exporter(buf)));
    assert!(u.observed.contains("never signals"), "{}", u.observed);
}

/// An importer that keeps its mapping after the revoke's callback hangs VFIO's wait for
/// unmaps: charged to that importer, under `revoke.importer.unmap-bounded`.
#[test]
fn an_unmap_that_never_comes_is_the_importers() {
    let steps = case_steps("revoke_around_reset", "dynamic");
    let mut t = reference(&steps);
    let unmap = t
        .events
        .iter()
        .position(|e| matches!(e.call, Call::DmaBufUnmapAttachment { .. }))
        .expect("the callback unmaps");
    // The callback returns without unmapping (its unmap and the exporter's op go).
    t.events.drain(unmap..unmap + 2);
    let wait = t
        .events
        .iter()
        .position(|e| matches!(e.call, Call::WaitForUnmap { .. }))
        .expect("the wait for unmaps");
    hang_at(&mut t, wait);
    let u = unexplained(&steps, &t).expect("unexplained");
    assert_eq!(u.rule, "revoke.importer.unmap-bounded");
    assert_eq!((u.event, u.actor), (wait, Actor::Importer(AttId(0))));
    assert!(u.observed.contains("keeps sgt1"), "{}", u.observed);
    let line = first_violation(&steps, &t).expect("reported");
    assert!(
        line.starts_with("revoke.importer.unmap-bounded: (hang) event #"),
        "{line}"
    );
    // With the mapping given back, the same stuck wait is the exporter's own.
    let mut given_back = t.clone();
    given_back.events.retain(|e| {
        !matches!(
            e.call,
            Call::DmaBufMapAttachment { .. } | Call::OpsMapDmaBuf { .. }
        )
    });
    let wait = given_back.events.len() - 1;
    let u = unexplained(&steps, &given_back).expect("unexplained");
    assert_eq!(
        (u.rule, u.event, u.actor),
        (
            "revoke.exporter.wait-unmap",
            wait,
            Actor::Exporter(BufId(0))
        )
    );
}

/// A re-lock inside the callback is the importer's, under `invalidate.importer.no-relock`;
/// a lock an importer kept from an earlier step is that importer's, under the rule of hangs
/// no other rule covers.
#[test]
fn a_relock_is_charged_to_the_lock_holder() {
    let steps = case_steps("revoke_around_reset", "dynamic");
    let t = reference(&steps);
    let cb = t
        .events
        .iter()
        .position(|e| matches!(e.call, Call::InvalidateMappings { .. }))
        .expect("a callback");
    let mut relock = t.clone();
    let mut again = relock.events[cb + 1].clone();
    again.call = Call::DmaResvLock { buf: BufId(0) };
    relock.events.insert(cb + 1, again);
    hang_at(&mut relock, cb + 1);
    let u = unexplained(&steps, &relock).expect("unexplained");
    assert_eq!(
        (u.rule, u.event, u.actor),
        (
            "invalidate.importer.no-relock",
            cb + 1,
            Actor::Importer(AttId(0))
        )
    );
    // The importer's map step never unlocks; the revoke's lock then never returns.
    let mut kept = t.clone();
    let unlock = kept
        .events
        .iter()
        .position(|e| {
            matches!(e.call, Call::DmaResvUnlock { .. }) && e.from == Actor::Importer(AttId(0))
        })
        .expect("the importer unlocks");
    kept.events.remove(unlock);
    let lock = kept
        .events
        .iter()
        .position(|e| {
            matches!(e.call, Call::DmaResvLock { .. }) && e.from == Actor::Importer(AttId(0))
        })
        .expect("the importer locks");
    let next = kept
        .events
        .iter()
        .enumerate()
        .skip(lock + 1)
        .find(|(_, e)| matches!(e.call, Call::DmaResvLock { .. }))
        .map(|(i, _)| i)
        .expect("a later lock");
    hang_at(&mut kept, next);
    let u = unexplained(&steps, &kept).expect("unexplained");
    assert_eq!((u.rule, u.actor), (NO_DEADLOCK, Actor::Importer(AttId(0))));
    assert!(u.observed.contains("never dropped it"), "{}", u.observed);
}

/// A trace that does not hang has no hang to judge, whatever else it shows.
#[test]
fn a_trace_that_returns_has_no_hang() {
    let steps = case_steps("revoke_around_reset", "dynamic");
    let t = reference(&steps);
    assert_eq!(judge(&steps, &t), None);
}

/// Generated scenarios report a hang the contract does not allow, shrunk to a file that names
/// the rule and the role (a VFIO cleanup that takes its `memory_lock` twice), and pass the
/// reference, whose every hang in them is allowed.
#[test]
fn generated_scenarios_report_an_unexplained_hang() {
    use crate::generate::{Profiles, generate};
    let shim = shims::registry::all()
        .into_iter()
        .find(|r| r.name == "broken-vfio-cleanup-relocks-memory-lock")
        .and_then(|r| match r.runs {
            shims::registry::Runs::InProcess { shim, .. } => Some(shim),
            shims::registry::Runs::Process { .. } => None,
        })
        .expect("registered in process");
    let roles = shim.roles();
    let profiles = Profiles::for_shim(&shim);
    let run = |roles: &reference_impl::Roles| {
        generate(
            &profiles,
            500,
            1,
            &mut |steps| {
                if shim.applies_to(steps).is_err() {
                    return Ok(None);
                }
                reference_impl::run_with(roles, steps).map(Some)
            },
            &|_| {},
        )
    };
    let f = run(&roles).failing.expect("caught");
    assert!(f.message.starts_with("lock.no-deadlock: "), "{}", f.message);
    assert!(f.message.contains("by exporter.buf0"), "{}", f.message);
    assert!(
        f.file
            .steps
            .last()
            .is_some_and(|s| matches!(s.step, Step::Put { .. })),
        "{:?}",
        f.file.steps
    );
    assert!(run(&reference_impl::Roles::reference()).failing.is_none());
}

/// A shim process that stops answering is not a hang of the contract: its trace records the
/// process's failure, which the hang judgement leaves alone and the harness's pseudo-rule
/// reports as the process's, not as a driver's crash or a rule of the contract.
#[test]
fn a_shim_process_timeout_is_no_driver_verdict() {
    let steps = case_steps("revoke_around_reset", "dynamic");
    let mut t = reference(&steps);
    let revoke = t
        .events
        .iter()
        .position(|e| matches!(e.call, Call::DmaBufInvalidateMappings { .. }))
        .expect("the revoke");
    t.events.truncate(revoke);
    let step = t.events[revoke - 1].step;
    t.crashed = Some(reference_impl::Crash {
        step,
        message: "no answer to `revoke` within 0.5 s (--timeout); the shim process was killed"
            .into(),
        shim_process: true,
    });
    assert_eq!(judge(&steps, &t), None);
    let checks = crate::invariants::judge(&t);
    let failed: Vec<_> = checks.iter().filter(|c| c.result.is_err()).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].rule, crate::invariants::CRASH);
    let said = failed[0].result.as_ref().unwrap_err();
    assert!(
        said.starts_with("the shim process failed") && said.contains("not a verdict on the driver"),
        "{said}"
    );
}
