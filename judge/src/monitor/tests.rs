//! Every rule has a monitor (or is declared unobservable), and every monitor holds on the
//! reference drivers' traces of every case.

use super::*;
use crate::outcome::scenario_of;

/// A rule of the book without a monitor, or a monitor of no rule, fails.
#[test]
fn every_rule_has_a_monitor_or_a_reason() {
    let monitored: Vec<&str> = all().iter().map(|m| m.rule).collect();
    let unobservable: Vec<&str> = unobservable().iter().map(|u| u.rule).collect();
    let missing: Vec<&str> = crate::spec()
        .rules
        .iter()
        .map(|r| r.id)
        .filter(|id| !monitored.contains(id) && !unobservable.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without a monitor: {missing:?}");
    for id in monitored.iter().chain(&unobservable) {
        assert!(
            crate::spec().rule(id).is_some_and(|r| r.id == *id),
            "`{id}` is not a rule of the book"
        );
    }
    let mut all_ids: Vec<&str> = monitored.iter().chain(&unobservable).copied().collect();
    all_ids.sort_unstable();
    let n = all_ids.len();
    all_ids.dedup();
    assert_eq!(n, all_ids.len(), "a rule has two monitors");
}

/// The reference drivers conform: no monitor finds a violation in any case's trace.
#[test]
fn the_reference_drivers_violate_no_monitor() {
    let mut failures = Vec::new();
    for case in crate::spec().cases {
        for variant in case.variants {
            let s = scenario_of(case, variant.label).expect("a scenario");
            let trace = reference_impl::run_reference(&s.steps).expect("the reference runs");
            for (m, v) in violations(&s.steps, &trace) {
                failures.push(format!(
                    "{}: {} at #{}: {}",
                    case.variant_name(variant.label),
                    m.rule,
                    v.event,
                    v.observed
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

use reference_impl::{
    AccessOutcome, Actor, AttId, BufId, Call, Crash, DmaResvUsage, Errno, Event, Ret, SgtId, Step,
    Timeout, Trace,
};

/// One monitor's pair of examples: a case variant whose reference trace the monitor judges
/// held, and a change of that trace (one driver bug) it must judge violated at the event the
/// change returns. For a MAY rule the change takes the permission's use away: not applicable.
struct Example {
    rule: &'static str,
    case: &'static str,
    variant: &'static str,
    break_it: fn(&mut Trace) -> usize,
}

fn first(t: &Trace, p: impl Fn(&Event) -> bool) -> usize {
    t.events
        .iter()
        .position(p)
        .expect("the event the example changes")
}

fn last(t: &Trace, p: impl Fn(&Event) -> bool) -> usize {
    t.events
        .iter()
        .rposition(p)
        .expect("the event the example changes")
}

fn is(e: &Event, name: reference_impl::CallName) -> bool {
    e.call.call_name() == name
}

/// Removes event `i` and every call made from inside it.
fn remove(t: &mut Trace, i: usize) {
    let depth = t.events[i].depth;
    let step = t.events[i].step;
    let mut end = i + 1;
    while end < t.events.len() && t.events[end].step == step && t.events[end].depth > depth {
        end += 1;
    }
    t.events.drain(i..end);
}

/// A call made at `depth` (its step is set where it is inserted).
fn ev(depth: u32, from: Actor, to: Actor, call: Call, locked: bool, ret: Ret) -> Event {
    Event {
        step: 0,
        depth,
        from,
        to,
        call,
        locked,
        ret: Some(ret),
    }
}

/// Inserts `e` at `i`, in the step of the event before it.
fn insert(t: &mut Trace, i: usize, mut e: Event) -> usize {
    e.step = i.checked_sub(1).map_or(0, |p| t.events[p].step);
    t.events.insert(i, e);
    i
}

/// The driver crashes inside event `i`: the trace ends there.
/// The exporter of buf0 starts a move in step `step`: it invalidates right after taking the
/// lock. Returns the inserted event.
fn moves_in_step(t: &mut Trace, step: usize) -> usize {
    let i = first(t, |e| e.step == step && is(e, N::DmaResvLock));
    insert(
        t,
        i + 1,
        ev(
            0,
            EXP0,
            Actor::Core,
            Call::DmaBufInvalidateMappings { buf: BufId(0) },
            true,
            Ret::Void,
        ),
    )
}

fn crash_in(t: &mut Trace, i: usize) -> usize {
    t.events.truncate(i + 1);
    let step = t.events[i].step;
    let depth = t.events[i].depth;
    for e in t.events.iter_mut() {
        if e.step == step && e.depth <= depth {
            e.ret = None;
        }
    }
    // Only the calls still open at the crash did not return.
    let mut open = depth;
    for k in (0..=i).rev() {
        let e = &mut t.events[k];
        if e.step != step {
            break;
        }
        if e.depth == open {
            e.ret = None;
            open = open.saturating_sub(1);
            if e.depth == 0 {
                break;
            }
        } else {
            e.ret = e.ret.take().or(Some(Ret::Void));
        }
    }
    t.crashed = Some(Crash {
        step,
        message: "BUG: a crash planted by the example".into(),
        shim_process: false,
    });
    i
}

use reference_impl::CallName as N;

const IMP0: Actor = Actor::Importer(AttId(0));
const DEV0: Actor = Actor::Device(AttId(0));
const EXP0: Actor = Actor::Exporter(BufId(0));

const EXAMPLES: &[Example] = &[
    Example {
        rule: "map.importer.pin-without-callback",
        case: "importer_without_callback_pins_while_mapped",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufPin));
            remove(t, i);
            first(t, |e| is(e, N::DmaBufMapAttachment))
        },
    },
    Example {
        rule: "pin.exporter.ready",
        case: "pin_returns_with_the_memory_ready",
        variant: "",
        break_it: |t| {
            let p = first(t, |e| is(e, N::OpsPin));
            let w = last(t, |e| {
                matches!(
                    e.call,
                    Call::DmaResvWaitTimeout {
                        usage: DmaResvUsage::Kernel,
                        ..
                    }
                ) && e.from == EXP0
            });
            remove(t, w);
            p
        },
    },
    Example {
        rule: "invalidate.importer.no-map-in-callback",
        case: "move_invalidates_and_importer_remaps",
        variant: "",
        break_it: |t| {
            let k = first(t, |e| is(e, N::InvalidateMappings));
            let d = t.events[k].depth;
            insert(
                t,
                k + 1,
                ev(
                    d + 1,
                    IMP0,
                    Actor::Core,
                    Call::DmaBufMapAttachment { att: AttId(0) },
                    true,
                    Ret::Sgt(SgtId(9)),
                ),
            )
        },
    },
    Example {
        rule: "fence.importer.signal-independent",
        case: "fences_signal_under_the_exporters_lock",
        variant: "",
        break_it: |t| {
            let s = last(t, |e| is(e, N::DmaFenceSignal));
            let d = t.events[s].depth;
            insert(
                t,
                s,
                ev(
                    d,
                    DEV0,
                    Actor::Core,
                    Call::DmaResvLock { buf: BufId(0) },
                    true,
                    Ret::Hang,
                ),
            )
        },
    },
    Example {
        rule: "revoke.importer.private-path-sync",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::IommuUnmap));
            remove(t, i);
            first(t, |e| is(e, N::InvalidateMappings))
        },
    },
    Example {
        rule: "attach.dynamic.ops-attach-unlocked",
        case: "attach_links_after_exporter_accepts",
        variant: "rdma",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsAttach));
            t.events[i].locked = true;
            i
        },
    },
    Example {
        rule: "attach.core.error-passthrough",
        case: "attach_links_after_exporter_accepts",
        variant: "rdma",
        break_it: |t| {
            let i = first(t, |e| {
                is(e, N::OpsAttach) && matches!(e.ret, Some(Ret::Err(_)))
            }) - 1;
            t.events[i].ret = Some(Ret::Err(Errno::EINVAL));
            i
        },
    },
    Example {
        rule: "attach.dynamic.link-after-ops-attach",
        case: "attach_links_after_exporter_accepts",
        variant: "rdma",
        break_it: |t| {
            let i = first(t, |e| {
                is(e, N::OpsAttach) && matches!(e.ret, Some(Ret::Err(_)))
            });
            let d = t.events[i].depth;
            insert(
                t,
                i + 1,
                ev(
                    d,
                    Actor::Core,
                    Actor::Core,
                    Call::DmaResvLock { buf: BufId(0) },
                    false,
                    Ret::Void,
                ),
            )
        },
    },
    Example {
        rule: "attach.importer.initialised",
        case: "invalidation_during_attach",
        variant: "dynamic",
        break_it: |t| {
            let i = first(t, |e| is(e, N::InvalidateMappings));
            crash_in(t, i)
        },
    },
    Example {
        rule: "attach.core.null-callback",
        case: "null_callback_is_accepted",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| {
                matches!(
                    e.call,
                    Call::DmaBufDynamicAttach {
                        invalidate_mappings: false,
                        ..
                    }
                )
            });
            t.events[i].ret = Some(Ret::Err(Errno::EINVAL));
            i
        },
    },
    Example {
        rule: "attach.revocable.definition",
        case: "vfio_attach_negotiates_revocability",
        variant: "rdma",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufAttachRevocable));
            t.events[i].ret = Some(Ret::Bool(true));
            i
        },
    },
    Example {
        rule: "attach.revocable.check-in-attach",
        case: "vfio_attach_negotiates_revocability",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufAttachRevocable));
            remove(t, i);
            i - 1
        },
    },
    Example {
        rule: "attach.peer2peer.refuse",
        case: "vfio_refuses_static_importers",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsAttach));
            t.events[i].ret = Some(Ret::Int(0));
            i
        },
    },
    Example {
        rule: "cpu.revoked.enodev",
        case: "cpu_access_after_unplug_fails",
        variant: "",
        break_it: |t| {
            let i = last(t, |e| is(e, N::OpsVmap));
            t.events[i].ret = Some(Ret::Int(0));
            i
        },
    },
    Example {
        rule: "cpu.exporter.vmap-keeps-placement",
        case: "held_vmap_keeps_the_buffer_in_place",
        variant: "",
        // The eviction under the held vmap moves the buffer: it invalidates first.
        break_it: |t| moves_in_step(t, 4),
    },
    Example {
        rule: "cpu.vmap.lock-held",
        case: "cpu_access_locking",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsVmap));
            t.events[i].locked = false;
            i
        },
    },
    Example {
        rule: "cpu.mmap.unlocked",
        case: "cpu_access_locking",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsMmap));
            t.events[i].locked = true;
            i
        },
    },
    Example {
        rule: "cpu.no-op.einval",
        case: "vfio_has_no_cpu_mapping",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufVmap));
            t.events[i].ret = Some(Ret::Int(0));
            i
        },
    },
    Example {
        rule: "invalidate.core.lock-held",
        case: "move_invalidates_and_importer_remaps",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::InvalidateMappings));
            t.events[i].locked = false;
            i
        },
    },
    Example {
        rule: "invalidate.core.skip-without-callback",
        case: "null_callback_is_accepted",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufInvalidateMappings));
            let d = t.events[i].depth + 1;
            insert(
                t,
                i + 1,
                ev(
                    d,
                    Actor::Core,
                    Actor::Importer(AttId(1)),
                    Call::InvalidateMappings { att: AttId(1) },
                    true,
                    Ret::Void,
                ),
            )
        },
    },
    Example {
        rule: "invalidate.core.pinned-too",
        case: "unplug_reaches_pinned_importers",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::InvalidateMappings));
            remove(t, i);
            first(t, |e| is(e, N::DmaBufInvalidateMappings))
        },
    },
    Example {
        rule: "map.core.no-cache",
        case: "move_invalidates_and_importer_remaps",
        variant: "",
        break_it: |t| {
            let i = last(t, |e| is(e, N::OpsMapDmaBuf));
            remove(t, i);
            i - 1
        },
    },
    Example {
        rule: "invalidate.importer.no-relock",
        case: "move_invalidates_and_importer_remaps",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::InvalidateMappings));
            let d = t.events[i].depth + 1;
            insert(
                t,
                i + 1,
                ev(
                    d,
                    IMP0,
                    Actor::Core,
                    Call::DmaResvLock { buf: BufId(0) },
                    true,
                    Ret::Hang,
                ),
            )
        },
    },
    Example {
        rule: "invalidate.importer.remap-before-access",
        case: "move_invalidates_and_importer_remaps",
        variant: "",
        break_it: |t| {
            let old = t.events[first(t, |e| is(e, N::DmaWrite))].call.clone();
            let i = last(t, |e| is(e, N::DmaWrite));
            t.events[i].call = old;
            i
        },
    },
    Example {
        rule: "invalidate.importer.wait-kernel",
        case: "move_invalidates_and_importer_remaps",
        variant: "",
        break_it: |t| {
            let i = last(t, |e| is(e, N::DmaWrite));
            t.events[i].ret = Some(Ret::Access(AccessOutcome::NotReady));
            i
        },
    },
    Example {
        rule: "invalidate.importer.fence-inflight",
        case: "inflight_work_finishes_before_reuse",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaResvAddFence) && e.from == IMP0);
            remove(t, i);
            first(t, |e| is(e, N::DeviceSubmit))
        },
    },
    Example {
        rule: "invalidate.importer.repeated",
        case: "repeated_moves",
        variant: "",
        break_it: |t| {
            let reads: Vec<usize> = t
                .events
                .iter()
                .enumerate()
                .filter(|(_, e)| is(e, N::DmaRead))
                .map(|(i, _)| i)
                .collect();
            let (second, third) = (reads[1], reads[2]);
            t.events[third].call = t.events[second].call.clone();
            third
        },
    },
    Example {
        rule: "fence.importer.implicit-usage",
        case: "inflight_work_finishes_before_reuse",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaResvAddFence) && e.from == IMP0);
            if let Call::DmaResvAddFence { usage, .. } = &mut t.events[i].call {
                *usage = DmaResvUsage::Read;
            }
            i
        },
    },
    Example {
        rule: "invalidate.importer.cache-failed-map",
        case: "map_after_revoke_fails",
        variant: "vfio",
        break_it: |t| {
            // The importer tries again at once: the permission is not used.
            let i = last(t, |e| e.step == 4) + 1;
            insert(
                t,
                i,
                ev(
                    0,
                    IMP0,
                    Actor::Core,
                    Call::DmaBufMapAttachment { att: AttId(0) },
                    true,
                    Ret::Err(Errno::ENODEV),
                ),
            );
            t.events[i].step = 5;
            usize::MAX
        },
    },
    Example {
        rule: "fence.bookkeep-covers-all",
        case: "bookkeep_wait_covers_every_usage",
        variant: "",
        break_it: |t| {
            let w = first(t, |e| {
                matches!(
                    e.call,
                    Call::DmaResvWaitTimeout {
                        usage: DmaResvUsage::Bookkeep,
                        ..
                    }
                )
            });
            let s = first(t, |e| is(e, N::DmaFenceSignal));
            t.events.remove(s);
            w
        },
    },
    Example {
        rule: "invalidate.exporter.wait-before-reuse",
        case: "inflight_work_finishes_before_reuse",
        variant: "",
        // The exporter reuses the old memory in the move itself, while the importer's queued
        // job (its fence added before the invalidation) has not run: instead of the
        // pipelined copy freeing it once the job and the copy have signalled.
        break_it: |t| {
            let r = first(t, |e| is(e, N::ReclaimMemory));
            remove(t, r);
            let unlock = first(t, |e| {
                e.from == EXP0 && e.step == 3 && is(e, N::DmaResvUnlock)
            });
            insert(
                t,
                unlock,
                ev(
                    0,
                    EXP0,
                    Actor::Memory(BufId(0)),
                    Call::ReclaimMemory { buf: BufId(0) },
                    true,
                    Ret::Void,
                ),
            )
        },
    },
    Example {
        rule: "invalidate.exporter.pinned-stays",
        case: "pinned_buffer_is_not_moved",
        variant: "",
        break_it: |t| moves_in_step(t, 3),
    },
    Example {
        rule: "legacy.exporter.rare-revoke-risk",
        case: "hot_unplug_with_a_non_revocable_importer",
        variant: "",
        break_it: |t| {
            // The importer is revocable after all: nothing was risked.
            let i = first(t, |e| is(e, N::DmaBufDynamicAttach));
            if let Call::DmaBufDynamicAttach {
                invalidate_mappings,
                ..
            } = &mut t.events[i].call
            {
                *invalidate_mappings = true;
            }
            usize::MAX
        },
    },
    Example {
        rule: "lock.core.pin-ops-locked",
        case: "pins_reach_the_exporter_locked",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsPin));
            t.events[i].locked = false;
            i
        },
    },
    Example {
        rule: "lock.core.release-unlocked",
        case: "fences_locked_release_unlocked",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsRelease));
            t.events[i].locked = true;
            i
        },
    },
    Example {
        rule: "lock.importer.add-fence-locked",
        case: "fences_locked_release_unlocked",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaResvAddFence) && e.from == IMP0);
            t.events[i].locked = false;
            i
        },
    },
    Example {
        rule: "lock.importer.unlocked-helpers",
        case: "static_importer_uses_unlocked_helpers",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufMapAttachmentUnlocked));
            t.events[i].locked = true;
            i
        },
    },
    Example {
        rule: "lock.no-deadlock",
        case: "every_call_returns",
        variant: "",
        break_it: |t| {
            // The importer's map step returns holding the lock: the revoke's lock never
            // returns. The violation is the lock the step kept.
            let map = first(t, |e| is(e, N::DmaBufMapAttachment));
            let kept = (0..map)
                .rev()
                .find(|&i| is(&t.events[i], N::DmaResvLock) && t.events[i].from == IMP0)
                .expect("the importer locks to map");
            let unlock = t.events[map..]
                .iter()
                .position(|e| is(e, N::DmaResvUnlock) && e.from == IMP0)
                .map(|k| map + k)
                .expect("the importer unlocks");
            remove(t, unlock);
            let lock = first(t, |e| is(e, N::DmaResvLock) && e.from == EXP0);
            t.events.truncate(lock + 1);
            t.events[lock].ret = Some(Ret::Hang);
            t.hung_at = Some(t.events[lock].step);
            kept
        },
    },
    Example {
        rule: "map.lock.held",
        case: "static_import_pins_and_waits",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsMapDmaBuf));
            t.events[i].locked = false;
            i
        },
    },
    Example {
        rule: "pin.lock.held",
        case: "pinning_importer_holds_the_lock",
        variant: "vfio",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufPin));
            t.events[i].locked = false;
            i
        },
    },
    Example {
        rule: "pin.core.no-op-without-op",
        case: "pin_without_a_pin_op",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufPin));
            t.events[i].ret = Some(Ret::Err(Errno::EINVAL));
            i
        },
    },
    Example {
        rule: "pin.importer.unpin-on-error",
        case: "failed_map_releases_its_pin",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| {
                is(e, N::DmaBufUnpin) && matches!(e.from, Actor::Importer(_))
            });
            t.events.remove(i);
            first(t, |e| {
                is(e, N::DmaBufMapAttachment) && matches!(e.from, Actor::Importer(_))
            })
        },
    },
    Example {
        rule: "pin.importer.unpin-on-error",
        case: "failed_private_map_releases_its_pin",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| {
                is(e, N::DmaBufUnpin) && matches!(e.from, Actor::Importer(_))
            });
            remove(t, i);
            first(t, |e| is(e, N::VfioPciDmaBufIommufdMap))
        },
    },
    Example {
        rule: "map.static.pin-on-map",
        case: "static_import_pins_and_waits",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsPin));
            remove(t, i);
            first(t, |e| is(e, N::OpsMapDmaBuf))
        },
    },
    Example {
        rule: "map.static.kernel-wait",
        case: "static_import_pins_and_waits",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| {
                e.from == Actor::Core
                    && matches!(
                        e.call,
                        Call::DmaResvWaitTimeout {
                            usage: DmaResvUsage::Kernel,
                            ..
                        }
                    )
            });
            remove(t, i);
            first(t, |e| is(e, N::DmaBufMapAttachment))
        },
    },
    Example {
        rule: "map.static.unpin-on-error",
        case: "failed_map_releases_its_pin",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsUnpin));
            t.events.remove(i);
            first(t, |e| {
                is(e, N::DmaBufMapAttachment) && e.from == Actor::Core
            })
        },
    },
    Example {
        rule: "map.dynamic.no-pin-no-wait",
        case: "dynamic_map_is_not_pinned_by_the_core",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufMapAttachment));
            let d = t.events[i].depth + 1;
            let wait = Call::DmaResvWaitTimeout {
                buf: BufId(0),
                usage: DmaResvUsage::Kernel,
                intr: true,
                timeout: Timeout::Max,
            };
            insert(
                t,
                i + 1,
                ev(d, Actor::Core, Actor::Core, wait, true, Ret::Int(1)),
            )
        },
    },
    Example {
        rule: "revoke.restore.notify",
        case: "restore_after_revoke",
        variant: "",
        break_it: |t| {
            let step = 7;
            let i = first(t, |e| e.step == step && is(e, N::DmaBufInvalidateMappings));
            remove(t, i);
            last(t, |e| e.step == step)
        },
    },
    Example {
        rule: "revoke.restore.count-ready",
        case: "restore_races_an_attach",
        variant: "",
        break_it: |t| {
            // The importer's map takes its reference on a count of 0.
            let i = last(t, |e| is(e, N::OpsMapDmaBuf));
            let mut warn = t.events[i].clone();
            warn.call = Call::Warn {
                what: "refcount_t: addition on 0; use-after-free".to_string(),
            };
            warn.ret = Some(Ret::Void);
            warn.from = t.events[i].to;
            warn.to = Actor::Core;
            warn.depth += 1;
            t.events.insert(i + 1, warn);
            i + 1
        },
    },
    Example {
        rule: "revoke.importer.deferred-unmap-scope",
        case: "worker_races_a_restore",
        variant: "",
        break_it: |t| {
            // After the submission mapped sgt2, the worker runs on and unmaps it.
            let end = t.events.len();
            let worker = Call::Worker { att: AttId(0) };
            let unmap = Call::DmaBufUnmapAttachment {
                att: AttId(0),
                sgt: SgtId(2),
            };
            let lock = Call::DmaResvLock { buf: BufId(0) };
            let unlock = Call::DmaResvUnlock { buf: BufId(0) };
            insert(
                t,
                end,
                ev(1, Actor::Harness, IMP0, worker, false, Ret::Void),
            );
            insert(t, end + 1, ev(2, IMP0, Actor::Core, lock, false, Ret::Void));
            insert(t, end + 2, ev(2, IMP0, Actor::Core, unmap, true, Ret::Void));
            insert(
                t,
                end + 3,
                ev(2, IMP0, Actor::Core, unlock, true, Ret::Void),
            );
            end + 2
        },
    },
    Example {
        rule: "revoke.restore.dynamic-remaps",
        case: "restore_after_revoke",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| e.step == 8 && is(e, N::DmaBufMapAttachment));
            remove(t, i);
            last(t, |e| e.step <= 8)
        },
    },
    Example {
        rule: "revoke.pinned.permanent",
        case: "restore_after_revoke",
        variant: "",
        break_it: |t| {
            // The pinned importer maps again after the restore: the permission is not used.
            let i = last(t, |e| e.step <= 9) + 1;
            insert(
                t,
                i,
                ev(
                    0,
                    Actor::Importer(AttId(1)),
                    Actor::Core,
                    Call::DmaBufMapAttachment { att: AttId(1) },
                    true,
                    Ret::Sgt(SgtId(9)),
                ),
            );
            t.events[i].step = 9;
            usize::MAX
        },
    },
    Example {
        rule: "revoke.exporter.mark-under-lock",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufInvalidateMappings));
            t.events[i].locked = false;
            i
        },
    },
    Example {
        rule: "revoke.exporter.wait-bookkeep",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| e.from == EXP0 && is(e, N::DmaResvWaitTimeout));
            remove(t, i);
            first(t, |e| {
                e.from == EXP0 && e.step == t.events[i].step && is(e, N::DmaResvUnlock)
            })
        },
    },
    Example {
        rule: "revoke.exporter.wait-unmap",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::WaitForUnmap));
            let step = t.events[i].step;
            remove(t, i);
            last(t, |e| e.step == step)
        },
    },
    Example {
        rule: "revoke.exporter.reuse-after-waits",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::WaitForUnmap));
            t.events[i].ret = None;
            t.events[i].ret = Some(Ret::Hang);
            first(t, |e| is(e, N::ReclaimMemory))
        },
    },
    Example {
        rule: "revoke.exporter.unbounded-wait",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| e.from == EXP0 && is(e, N::DmaResvWaitTimeout));
            t.events[i].ret = Some(Ret::Int(0));
            first(t, |e| is(e, N::ReclaimMemory))
        },
    },
    Example {
        rule: "lock.importer.own-lock-inside-resv",
        case: "iommufd_takes_its_mutex_inside_the_reservation_lock",
        variant: "",
        break_it: |t| {
            let lock = first(t, |e| e.from == IMP0 && is(e, N::DmaResvLock));
            let what = format!(
                "{}: taking the reservation lock while holding pages->mutex (the order is vdev->memory_lock, the reservation lock, pages->mutex)",
                reference_impl::LOCKDEP_WARNING
            );
            let depth = t.events[lock].depth + 1;
            insert(
                t,
                lock + 1,
                ev(
                    depth,
                    IMP0,
                    Actor::Core,
                    Call::Warn { what },
                    false,
                    Ret::Void,
                ),
            )
        },
    },
    Example {
        rule: "revoke.exporter.wait-result",
        case: "a_signal_does_not_cut_a_revoke_short",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| e.from == EXP0 && is(e, N::DmaResvWaitTimeout));
            t.events[i].ret = Some(Ret::Err(Errno::ERESTARTSYS));
            first(t, |e| is(e, N::WaitForUnmap))
        },
    },
    Example {
        rule: "revoke.exporter.reject-map",
        case: "map_after_revoke_fails",
        variant: "vfio",
        break_it: |t| {
            let i = last(t, |e| is(e, N::OpsMapDmaBuf));
            t.events[i].ret = Some(Ret::Err(Errno::EINVAL));
            i
        },
    },
    Example {
        rule: "revoke.exporter.reject-attach",
        case: "attach_after_revoke_fails",
        variant: "",
        break_it: |t| {
            let i = last(t, |e| is(e, N::OpsAttach));
            t.events[i].ret = Some(Ret::Int(0));
            i
        },
    },
    Example {
        rule: "revoke.core.no-revoked-state",
        case: "map_after_revoke_fails",
        variant: "vfio",
        break_it: |t| {
            let i = last(t, |e| is(e, N::DmaBufMapAttachment));
            t.events[i].ret = Some(Ret::Err(Errno::EINVAL));
            i
        },
    },
    Example {
        rule: "revoke.exporter.cleanup-once",
        case: "cleanup_after_revoke",
        variant: "",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufPut));
            let step = t.events[i].step;
            insert(
                t,
                i,
                ev(
                    0,
                    EXP0,
                    Actor::Core,
                    Call::WaitForUnmap { buf: BufId(0) },
                    false,
                    Ret::Void,
                ),
            );
            t.events[i].step = step;
            i
        },
    },
    Example {
        rule: "revoke.importer.stop-access",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::WaitForUnmap)) + 1;
            let access = Call::DmaAccess {
                att: AttId(0),
                sgt: Some(SgtId(1)),
                write: false,
                job: None,
            };
            insert(
                t,
                i,
                ev(
                    0,
                    IMP0,
                    DEV0,
                    access,
                    false,
                    Ret::Access(AccessOutcome::Unmapped),
                ),
            );
            t.events[i].step += 1;
            i
        },
    },
    Example {
        rule: "revoke.importer.unmap-bounded",
        case: "revoke_around_reset",
        variant: "dynamic",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufUnmapAttachment));
            remove(t, i);
            first(t, |e| is(e, N::WaitForUnmap))
        },
    },
    Example {
        rule: "revoke.importer.no-write-after-invalidate",
        case: "revoke_around_reset",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::WaitForUnmap)) + 1;
            let access = Call::DmaAccess {
                att: AttId(0),
                sgt: Some(SgtId(1)),
                write: true,
                job: None,
            };
            insert(
                t,
                i,
                ev(
                    0,
                    IMP0,
                    DEV0,
                    access,
                    false,
                    Ret::Access(AccessOutcome::Unmapped),
                ),
            );
            t.events[i].step += 1;
            i
        },
    },
    Example {
        rule: "teardown.importer.release-before-detach",
        case: "orderly_teardown",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufDetach));
            if let Call::DmaBufDetach { pins, .. } = &mut t.events[i].call {
                *pins = 1;
            }
            i
        },
    },
    Example {
        rule: "teardown.importer.state-until-detach",
        case: "invalidation_between_unmap_and_detach",
        variant: "dynamic",
        break_it: |t| {
            let i = first(t, |e| is(e, N::InvalidateMappings));
            crash_in(t, i)
        },
    },
    Example {
        rule: "teardown.core.detach-unlinks",
        case: "orderly_teardown",
        variant: "iommufd",
        break_it: |t| {
            let i = last(t, |e| is(e, N::DmaBufInvalidateMappings));
            let d = t.events[i].depth + 1;
            insert(
                t,
                i + 1,
                ev(
                    d,
                    Actor::Core,
                    IMP0,
                    Call::InvalidateMappings { att: AttId(0) },
                    true,
                    Ret::Void,
                ),
            )
        },
    },
    Example {
        rule: "teardown.core.detach-no-cleanup",
        case: "orderly_teardown",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufDetach));
            let d = t.events[i].depth + 1;
            insert(
                t,
                i + 1,
                ev(
                    d,
                    Actor::Core,
                    EXP0,
                    Call::OpsUnpin { att: AttId(0) },
                    false,
                    Ret::Void,
                ),
            )
        },
    },
    Example {
        rule: "teardown.release.once",
        case: "orderly_teardown",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::OpsRelease));
            let copy = t.events[i].clone();
            t.events.insert(i + 1, copy);
            i + 1
        },
    },
    Example {
        rule: "teardown.release.nothing-left",
        case: "orderly_teardown",
        variant: "iommufd",
        break_it: |t| {
            let i = first(t, |e| is(e, N::DmaBufPut));
            if let Call::DmaBufPut { attachments, .. } = &mut t.events[i].call {
                *attachments = 1;
            }
            i
        },
    },
];

/// The reference importers unmap inside their callback. A rule about importers that unmap
/// from a work item is shown on the reference trace with the revoke's unmap moved into a
/// worker that runs while the exporter waits for unmaps, as `gpu-importer-deferred-unmap`
/// does.
fn prepare(rule: &str, t: &mut Trace) {
    if rule != "revoke.importer.deferred-unmap-scope" {
        return;
    }
    let unmap = first(t, |e| is(e, N::DmaBufUnmapAttachment) && e.from == IMP0);
    let step = t.events[unmap].step;
    remove(t, unmap);
    let wait = first(t, |e| e.step == step && is(e, N::WaitForUnmap));
    let calls = [
        (
            2,
            Actor::Harness,
            IMP0,
            Call::Worker { att: AttId(0) },
            false,
        ),
        (
            3,
            IMP0,
            Actor::Core,
            Call::DmaResvLock { buf: BufId(0) },
            false,
        ),
        (
            3,
            IMP0,
            Actor::Core,
            Call::DmaBufUnmapAttachment {
                att: AttId(0),
                sgt: SgtId(1),
            },
            true,
        ),
        (
            3,
            IMP0,
            Actor::Core,
            Call::DmaResvUnlock { buf: BufId(0) },
            true,
        ),
    ];
    for (n, (depth, from, to, call, locked)) in calls.into_iter().enumerate() {
        insert(
            t,
            wait + 1 + n,
            ev(depth, from, to, call, locked, Ret::Void),
        );
    }
}

/// Every monitor has its pair of examples: the reference trace holds, the changed one is
/// violated at the event the change made (a MAY rule's monitor: the permission is used, and
/// after the change it is not).
#[test]
fn every_monitor_holds_on_its_example_and_catches_its_bug() {
    let mut failures = Vec::new();
    for m in all() {
        let Some(ex) = EXAMPLES.iter().find(|e| e.rule == m.rule) else {
            failures.push(format!("{}: no example", m.rule));
            continue;
        };
        let case = crate::spec().case(ex.case).expect("the example's case");
        let steps: Vec<Step> = scenario_of(case, ex.variant)
            .expect("the example's variant")
            .steps;
        let mut trace = reference_impl::run_reference(&steps).expect("the reference runs");
        prepare(m.rule, &mut trace);
        let held = (m.judge)(&Observed::new(&steps, &trace));
        if held != Verdict::Held {
            failures.push(format!(
                "{}: on {}[{}] it says {held:?}",
                m.rule, ex.case, ex.variant
            ));
            continue;
        }
        let at = (ex.break_it)(&mut trace);
        let got = (m.judge)(&Observed::new(&steps, &trace));
        let may = crate::spec()
            .rule(m.rule)
            .is_some_and(|r| r.strength == crate::Strength::May);
        match got {
            Verdict::Violated(v) if !may && v.event == at => {}
            Verdict::NotApplicable if may => {}
            other => failures.push(format!(
                "{}: the changed trace gives {other:?}, expected a violation at #{at}\n{}",
                m.rule,
                trace.render(&steps.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The verdict oracle of mutation testing (`book/src/mutation.md`): every case variant, run on
/// the reference drivers, passes by its checks and by every monitor. A mutant of the model
/// that no case's verdict notices survives this test.
#[test]
fn verdicts_of_the_reference_on_every_case() {
    let spec = crate::spec();
    let mut failed = Vec::new();
    for (case, variant) in spec.variants() {
        let outcome = crate::outcome::run_case(&spec, case, variant, &mut |steps| {
            reference_impl::run_reference(steps)
        });
        let expected_hang = case.name == "revoke_blocks_on_a_stuck_fence";
        let stopped_early = outcome
            .trace
            .as_ref()
            .map_or(true, |t| t.stopped_at().is_some() && !expected_hang);
        if !outcome.passed() || stopped_early {
            failed.push(case.variant_name(variant));
        }
    }
    assert!(failed.is_empty(), "the reference fails {failed:?}");
}

/// `revoke.importer.unmap-bounded` when the exporter's wait for unmaps never returns because
/// of another importer (a mapping nobody gives back; the trace is the reference's, cut at a
/// wait made to hang): an importer whose worker gives its own mapping back inside that wait
/// unmapped in bounded time and is not blamed for the hang; one whose worker leaves the
/// mapping is. (Generated scenarios found the first on `gpu-importer-deferred-unmap`, blamed
/// at the wait as if it had returned.)
#[test]
fn unmap_bounded_counts_a_worker_inside_a_wait_that_never_returns() {
    use reference_impl::ExporterKind;
    let steps = vec![
        Step::Export {
            buf: BufId(0),
            exporter: ExporterKind::Vfio,
        },
        Step::Attach {
            att: AttId(0),
            buf: BufId(0),
            importer: reference_impl::ImporterKind::Dynamic,
        },
        Step::Map { att: AttId(0) },
        Step::Revoke { buf: BufId(0) },
    ];
    let mut reference = reference_impl::run_reference(&steps).expect("the reference runs");
    // The wait never returns: the trace stops there, and the calls around it stay open.
    let wait = last(&reference, |e| is(e, N::WaitForUnmap));
    reference.events.truncate(wait + 1);
    reference.events[wait].ret = Some(Ret::Hang);
    let mut depth = reference.events[wait].depth;
    for e in reference.events[..wait].iter_mut().rev() {
        if e.step == 3 && e.depth < depth {
            e.ret = None;
            depth = e.depth;
        }
    }
    reference.hung_at = Some(3);
    let judge = |t: &Trace| {
        let m = all()
            .into_iter()
            .find(|m| m.rule == "revoke.importer.unmap-bounded")
            .expect("the monitor");
        (m.judge)(&Observed::new(&steps, t))
    };
    // The deferred importer: its callback leaves sgt1 mapped, a worker unmaps it inside the
    // exporter's wait.
    let deferred = |unmaps: bool| {
        let mut t = reference.clone();
        let unmap = first(&t, |e| {
            is(e, N::DmaBufUnmapAttachment) && e.from == IMP0 && e.step == 3
        });
        remove(&mut t, unmap);
        let wait = last(&t, |e| is(e, N::WaitForUnmap));
        let worker = Call::Worker { att: AttId(0) };
        let mut events = vec![
            ev(2, Actor::Harness, IMP0, worker, false, Ret::Void),
            ev(
                3,
                IMP0,
                Actor::Core,
                Call::DmaResvLock { buf: BufId(0) },
                false,
                Ret::Void,
            ),
        ];
        if unmaps {
            let call = Call::DmaBufUnmapAttachment {
                att: AttId(0),
                sgt: SgtId(1),
            };
            events.push(ev(3, IMP0, Actor::Core, call, true, Ret::Void));
        }
        let unlock = Call::DmaResvUnlock { buf: BufId(0) };
        events.push(ev(3, IMP0, Actor::Core, unlock, true, Ret::Void));
        for (n, e) in events.into_iter().enumerate() {
            insert(&mut t, wait + 1 + n, e);
        }
        t
    };
    assert_eq!(judge(&reference), Verdict::Held);
    assert_eq!(judge(&deferred(true)), Verdict::Held);
    let kept = deferred(false);
    match judge(&kept) {
        Verdict::Violated(v) => {
            assert_eq!(v.event, last(&kept, |e| is(e, N::WaitForUnmap)), "{v:?}");
            assert!(v.observed.contains("still holds sgt1"), "{v:?}");
        }
        other => panic!("a mapping never given back is held: {other:?}"),
    }
}

/// A write on another thread that lands after a revoke's `dma_buf_invalidate_mappings()`
/// began but before the core called the writer's callback is not after the invalidation (its
/// importer has not been told); the same write after the callback is.
#[test]
fn no_write_after_invalidate_starts_at_the_callback() {
    let (case, variant) = ("revoke_around_reset", "iommufd");
    let c = crate::spec()
        .cases
        .iter()
        .find(|c| c.name == case)
        .expect("the case");
    let steps = scenario_of(c, variant).expect("a scenario").steps;
    let reference = reference_impl::run_reference(&steps).expect("the reference runs");
    let judge = |t: &Trace| {
        let m = all()
            .into_iter()
            .find(|m| m.rule == "revoke.importer.no-write-after-invalidate")
            .expect("the monitor");
        (m.judge)(&Observed::new(&steps, t))
    };
    let write_at = |at: usize| {
        let mut t = reference.clone();
        let access = Call::DmaAccess {
            att: AttId(0),
            sgt: Some(SgtId(1)),
            write: true,
            job: None,
        };
        let i = insert(
            &mut t,
            at,
            ev(
                0,
                IMP0,
                DEV0,
                access,
                false,
                Ret::Access(AccessOutcome::AfterInvalidate),
            ),
        );
        (t, i)
    };
    let invalidation = first(&reference, |e| is(e, N::DmaBufInvalidateMappings));
    let callback = first(&reference, |e| is(e, N::InvalidateMappings));
    assert!(invalidation < callback);
    let (before, _) = write_at(callback);
    assert_eq!(judge(&before), Verdict::Held, "before the callback");
    assert!(
        crate::check::no_write_after_invalidate()
            .eval(&before)
            .is_ok(),
        "the case's check agrees"
    );
    let (after, i) = write_at(callback + 2);
    assert!(matches!(after.events[i - 1].call, Call::IommuUnmap { .. }));
    match judge(&after) {
        Verdict::Violated(v) => assert_eq!(v.event, i, "{v:?}"),
        other => panic!("a write after the callback is violated: {other:?}"),
    }
    assert!(
        crate::check::no_write_after_invalidate()
            .eval(&after)
            .is_err()
    );
}

/// The model agrees: iommufd's device writing on its own thread at the revoke's callback
/// entry, before the core called `iopt_revoke_notify()`, finds a valid mapping, and no
/// monitor objects; the callback then removes it.
#[test]
fn a_write_at_the_callback_entry_is_before_the_invalidation() {
    let file = reference_impl::ScenarioFile::from_json(
        r#"{
          "format": 1,
          "steps": [
            {"op": "export", "buf": 0, "exporter": "vfio"},
            {"op": "attach", "att": 0, "buf": 0, "importer": "iommufd"},
            {"op": "map", "att": 0},
            {"op": "revoke", "buf": 0},
            {"op": "access", "att": 0, "write": true, "thread": "importer"}
          ],
          "schedule": [
            {"step": 3, "point": "callback_entry", "nth": 1, "run": "importer"}
          ]
        }"#,
    )
    .expect("a scenario file");
    let run =
        reference_impl::run_scheduled(std::rc::Rc::new(reference_impl::Roles::reference()), &file);
    let trace = run.trace.expect("the reference runs it");
    let write = first(&trace, |e| {
        matches!(e.call, Call::DmaAccess { write: true, .. })
    });
    let callback = first(&trace, |e| is(e, N::InvalidateMappings));
    assert!(write < callback, "the write ran at the callback's entry");
    assert_eq!(
        trace.events[write].ret,
        Some(Ret::Access(AccessOutcome::Ok))
    );
    let steps = file.plain_steps();
    let found: Vec<String> = violations(&steps, &trace)
        .into_iter()
        .map(|(m, v)| format!("{}: {}", m.rule, v.observed))
        .collect();
    assert!(found.is_empty(), "{found:?}");
}

/// The verdict of the monitor of `rule` on `trace`.
fn verdict(rule: &str, steps: &[Step], trace: &Trace) -> Verdict {
    let m = all()
        .into_iter()
        .find(|m| m.rule == rule)
        .expect("a monitor of the rule");
    (m.judge)(&Observed::new(steps, trace))
}

/// A non-revocable importer (RDMA) attaches to a revoked VFIO buffer. Both refusals are
/// right: 7.2's `vfio_pci_dma_buf_attach()` tests the revoke first (-ENODEV, the reference),
/// an exporter that asks `dma_buf_attach_revocable()` first gives -EOPNOTSUPP (an outside
/// driver trial flagged that as a false alarm of `revoke.exporter.reject-attach`); any other
/// errno, or accepting, is still a violation.
#[test]
fn either_refusal_of_a_non_revocable_attachment_to_a_revoked_buffer_holds() {
    use reference_impl::{ExporterKind, ImporterKind};
    let steps = vec![
        Step::Export {
            buf: BufId(0),
            exporter: ExporterKind::Vfio,
        },
        Step::Attach {
            att: AttId(0),
            buf: BufId(0),
            importer: ImporterKind::Iommufd,
        },
        Step::Map { att: AttId(0) },
        Step::Revoke { buf: BufId(0) },
        Step::Attach {
            att: AttId(1),
            buf: BufId(0),
            importer: ImporterKind::Rdma,
        },
    ];
    let reference = reference_impl::run_reference(&steps).expect("the reference runs");
    let attach = last(&reference, |e| is(e, N::OpsAttach));
    assert_eq!(reference.events[attach].ret, Some(Ret::Err(Errno::ENODEV)));
    for rule in [
        "revoke.exporter.reject-attach",
        "attach.revocable.check-in-attach",
    ] {
        assert!(
            !matches!(verdict(rule, &steps, &reference), Verdict::Violated(_)),
            "{rule} on the reference"
        );
    }
    // The other order: ask first, refuse as not revocable.
    let mut other = reference.clone();
    other.events[attach].ret = Some(Ret::Err(Errno::EOPNOTSUPP));
    let depth = other.events[attach].depth + 1;
    insert(
        &mut other,
        attach + 1,
        ev(
            depth,
            Actor::Exporter(BufId(0)),
            Actor::Core,
            Call::DmaBufAttachRevocable { att: AttId(1) },
            false,
            Ret::Bool(false),
        ),
    );
    for rule in [
        "revoke.exporter.reject-attach",
        "attach.revocable.check-in-attach",
    ] {
        assert_eq!(
            verdict(rule, &steps, &other),
            Verdict::Held,
            "{rule}, other order"
        );
    }
    // Asked, then refused with the revoke's errno: also right.
    let mut asked_enodev = other.clone();
    asked_enodev.events[attach].ret = Some(Ret::Err(Errno::ENODEV));
    assert_eq!(
        verdict("attach.revocable.check-in-attach", &steps, &asked_enodev),
        Verdict::Held
    );
    // A wrong errno is still caught by both.
    let mut wrong = other.clone();
    wrong.events[attach].ret = Some(Ret::Err(Errno::EINVAL));
    for rule in [
        "revoke.exporter.reject-attach",
        "attach.revocable.check-in-attach",
    ] {
        assert!(
            matches!(verdict(rule, &steps, &wrong), Verdict::Violated(v) if v.event == attach),
            "{rule}, -EINVAL"
        );
    }
}

/// An exporter that revokes only on a rare event (a GPU's hot unplug, no `revokes-pinned`)
/// is not bound by `revoke.exporter.reject-attach`: amdgpu's and xe's attach ops accept after
/// an unplug, and an outside driver trial's GPU exporter with such an op was flagged. A VFIO
/// exporter that accepts while revoked still is.
#[test]
fn reject_attach_binds_exporters_that_revoke_as_part_of_normal_operation() {
    use reference_impl::{ExporterKind, ImporterKind};
    for (exporter, bound) in [(ExporterKind::Gpu, false), (ExporterKind::Vfio, true)] {
        let steps = vec![
            Step::Export {
                buf: BufId(0),
                exporter,
            },
            Step::Revoke { buf: BufId(0) },
            Step::Attach {
                att: AttId(0),
                buf: BufId(0),
                importer: ImporterKind::Dynamic,
            },
        ];
        let mut t = reference_impl::run_reference(&steps).expect("the reference runs");
        // The attach op accepts (the reference GPU exporter has no attach op: add one).
        let attach = match t.events.iter().position(|e| is(e, N::OpsAttach)) {
            Some(i) => i,
            None => {
                let outer = last(&t, |e| is(e, N::DmaBufDynamicAttach));
                let depth = t.events[outer].depth + 1;
                insert(
                    &mut t,
                    outer + 1,
                    ev(
                        depth,
                        Actor::Core,
                        Actor::Exporter(BufId(0)),
                        Call::OpsAttach { att: AttId(0) },
                        false,
                        Ret::Int(0),
                    ),
                )
            }
        };
        t.events[attach].ret = Some(Ret::Int(0));
        let v = verdict("revoke.exporter.reject-attach", &steps, &t);
        assert_eq!(
            matches!(v, Verdict::Violated(ref x) if x.event == attach),
            bound,
            "{exporter:?}: {v:?}"
        );
    }
}
