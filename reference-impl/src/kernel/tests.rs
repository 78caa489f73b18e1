//! Unit tests of the machine: crashes and panics, the trace, the scheduler.

use super::*;

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// A driver that panics has crashed (an oops): the step stops and the trace says so.
#[test]
fn a_driver_panic_is_an_oops_in_the_trace() {
    let k = Kernel::new();
    let buf = BufId(0);
    let done = k.harness().run_step(3, Actor::Harness, || {
        k.traced(buf, Actor::Exporter(buf), Call::OpsRelease { buf }, || {
            panic!("exporter bug")
        })
    });
    assert!(!done);
    let crash = k.harness().trace().crashed.expect("a crash");
    assert_eq!((crash.step, crash.message.as_str()), (3, "exporter bug"));
    assert!(!crash.shim_process);
    let events = k.harness().trace().events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ret, None, "the call never returned");
}

/// A panic of the harness, or of the model's own core called by a driver, is a bug of
/// the suite: it reaches the caller instead of passing for a driver's oops.
#[test]
fn a_model_panic_goes_on_unwinding() {
    let k = Kernel::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        k.harness()
            .run_step(0, Actor::Harness, || panic!("harness bug"))
    }));
    assert_eq!(message(r.expect_err("unwinds")), "harness bug");

    let k = Kernel::new();
    let buf = BufId(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        k.harness().run_step(0, Actor::Exporter(buf), || {
            k.core(buf, Call::DmaBufInvalidateMappings { buf }, || {
                panic!("core bug")
            })
        })
    }));
    assert_eq!(message(r.expect_err("unwinds")), "core bug");
    assert_eq!(k.harness().trace().crashed, None);
}

/// The scheduler sees each point once (the lock's acquire and release), and what it runs
/// there (here, after the release: another lock and unlock, as the exporter) reaches no
/// further point of it and is traced from its actor.
#[test]
fn the_scheduler_runs_at_its_points_and_not_inside_itself() {
    let k = Kernel::new();
    let buf = BufId(0);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    k.harness().set_scheduler(Some(Box::new(move |k, point| {
        log.borrow_mut().push(point);
        if !matches!(point, SchedPoint::Unlocked { .. }) {
            return;
        }
        k.harness().as_actor(Actor::Exporter(buf), || {
            k.dma_resv_lock(buf);
            k.dma_resv_unlock(buf);
        });
    })));
    assert!(k.harness().run_step(0, Actor::Harness, || {
        k.dma_resv_lock(buf);
        k.dma_resv_unlock(buf);
    }));
    assert_eq!(
        *seen.borrow(),
        [SchedPoint::Lock { buf }, SchedPoint::Unlocked { buf }]
    );
    let froms: Vec<String> = k
        .harness()
        .trace()
        .events
        .iter()
        .map(|e| format!("{} {}", e.from, e.call.name()))
        .collect();
    assert_eq!(
        froms,
        [
            "harness dma_resv_lock",
            "harness dma_resv_unlock",
            "exporter.buf0 dma_resv_lock",
            "exporter.buf0 dma_resv_unlock",
        ]
    );
    k.harness().set_scheduler(None);
    assert!(k.harness().run_step(1, Actor::Harness, || {
        k.dma_resv_lock(buf);
        k.dma_resv_unlock(buf);
    }));
    assert_eq!(seen.borrow().len(), 2, "no scheduler, no point");
}

/// The wait model: a poll takes no time, a fence that completes signals inside a wait, a
/// stuck fence times a bounded wait out and hangs an unbounded one, and a wait for a usage
/// leaves wider fences alone.
#[test]
fn waits_follow_the_fences() {
    use DmaResvUsage::{Bookkeep, Kernel as KernelUsage, Write};
    let k = Kernel::new();
    let buf = BufId(0);
    let (done, stuck) = (k.dma_fence_create(true), k.dma_fence_create(false));
    let mut waits = Vec::new();
    assert!(k.harness().run_step(0, Actor::Exporter(buf), || {
        k.dma_resv_lock(buf);
        k.dma_resv_add_fence(buf, done, KernelUsage);
        k.dma_resv_add_fence(buf, stuck, Bookkeep);
        waits.push(k.dma_resv_wait_timeout(buf, KernelUsage, false, Timeout::Jiffies(0)));
        waits.push(k.dma_resv_wait_timeout(buf, Write, false, Timeout::Max));
        waits.push(k.dma_resv_wait_timeout(buf, KernelUsage, false, Timeout::Jiffies(0)));
        waits.push(k.dma_resv_wait_timeout(buf, Bookkeep, false, Timeout::Jiffies(10)));
        k.dma_resv_unlock(buf);
    }));
    assert_eq!(waits, [0, i64::MAX, 1, 0]);
    let signals = k
        .harness()
        .trace()
        .events
        .iter()
        .filter(|e| e.call == Call::DmaFenceSignal { fence: done })
        .count();
    assert_eq!(
        signals, 1,
        "the fence signals once, inside the first real wait"
    );
    assert_eq!(k.harness().trace().hung_at, None);

    let done = k.harness().run_step(1, Actor::Exporter(buf), || {
        k.dma_resv_lock(buf);
        k.dma_resv_wait_timeout(buf, Bookkeep, false, Timeout::Max);
        unreachable!("an unbounded wait for a stuck fence never returns");
    });
    assert!(!done);
    let trace = k.harness().trace();
    assert_eq!(trace.hung_at, Some(1));
    assert_eq!(
        trace.events.last().and_then(|e| e.ret.clone()),
        Some(Ret::Hang)
    );
}

/// Lock misuse is visible in the trace: unlocking an unlocked object and adding a fence
/// without the lock each leave a warning; taking the lock twice never returns.
#[test]
fn lock_misuse_warns_or_hangs() {
    let k = Kernel::new();
    let buf = BufId(0);
    let fence = k.dma_fence_create(true);
    assert!(k.harness().run_step(0, Actor::Exporter(buf), || {
        k.dma_resv_unlock(buf);
        k.dma_resv_add_fence(buf, fence, DmaResvUsage::Write);
    }));
    let warnings = k
        .harness()
        .trace()
        .events
        .iter()
        .filter(|e| matches!(e.call, Call::Warn { .. }))
        .count();
    assert_eq!(warnings, 2);
    assert!(!k.harness().run_step(1, Actor::Exporter(buf), || {
        k.dma_resv_lock(buf);
        k.dma_resv_lock(buf);
    }));
    assert_eq!(k.harness().trace().hung_at, Some(1));
}

/// An attachment is created unlinked, linked into its buffer's list, and unlinked again.
#[test]
fn attachments_are_linked_and_unlinked() {
    let k = Kernel::new();
    let (buf, att) = (BufId(0), AttId(0));
    let info = k.new_attachment(buf, att, false);
    assert!(!info.dynamic && !info.peer2peer && !info.invalidate_mappings);
    assert!(k.attachments_of(buf).is_empty());
    k.link_attachment(att);
    assert_eq!(k.attachments_of(buf), [att]);
    assert_eq!(k.held_by(att), (0, 0));
    k.unlink_attachment(att);
    assert!(k.attachments_of(buf).is_empty());
    assert!(k.knows_att(att));
}

/// `complete` runs a pipelined move's copy only once every fence it follows has signalled,
/// and frees the old placement when it does, as a wait for the copy's fence would: behind a
/// clear that completes, the copy signals and `reclaim_memory` follows; behind a stuck one,
/// neither happens.
#[test]
fn complete_runs_a_pipelined_copy_after_its_fences_and_frees_the_old_placement() {
    use crate::{ExporterKind, Step, run_reference};
    let buf = BufId(0);
    let events_after_complete = |stuck: bool| {
        let steps = [
            Step::Export {
                buf,
                exporter: ExporterKind::Gpu,
            },
            Step::ExporterFence {
                buf,
                usage: DmaResvUsage::Write,
                stuck,
            },
            Step::Move { buf },
            Step::Complete,
        ];
        let t = run_reference(&steps).expect("runs");
        t.events
            .into_iter()
            .filter(|e| e.step == 3)
            .map(|e| e.call.name())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        events_after_complete(false),
        ["dma_fence_signal", "dma_fence_signal", "reclaim_memory"],
        "the clear, then the copy, then the old placement is freed"
    );
    assert!(
        events_after_complete(true).is_empty(),
        "behind a stuck clear the copy never runs"
    );
}
