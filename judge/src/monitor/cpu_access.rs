//! The monitors of the chapter "CPU access" (`cpu-access.md`).

use std::collections::BTreeMap;

use reference_impl::{Actor, BufId, Call, CallName, DmaResvUsage, Errno, Event, Ret, Role, Step};

use super::judgement::shows;
use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "cpu.revoked.enodev",
        source: file!(),
        role: Role::Exporter,
        applies: "`ops.vmap` and `ops.mmap` of a revoked buffer",
        expects: "they fail with -ENODEV",
        judge: revoked_enodev,
    },
    Monitor {
        rule: "cpu.vmap.lock-held",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_vmap`, `dma_buf_vunmap`, `ops.vmap`, `ops.vunmap`",
        expects: "each is called with the reservation lock held",
        judge: vmap_locked,
    },
    Monitor {
        rule: "cpu.mmap.unlocked",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_mmap` and `ops.mmap`",
        expects: "each is called without the reservation lock",
        judge: mmap_unlocked,
    },
    Monitor {
        rule: "cpu.no-op.einval",
        source: file!(),
        role: Role::Core,
        applies: "exporters without a `vmap` (or `mmap`) op (no capability `vmap`, `mmap`, and the core calls no such op)",
        expects: "`dma_buf_vmap()` (or `dma_buf_mmap()`) fails with -EINVAL",
        judge: no_op_einval,
    },
    Monitor {
        rule: "cpu.exporter.vmap-keeps-placement",
        source: file!(),
        role: Role::Exporter,
        applies: "moves, revokes, reuses of memory and pins of a buffer while a `dma_buf_vmap()` of it is held (from its success to the `dma_buf_vunmap()` that drops the last one)",
        expects: "the exporter neither starts a move (an invalidation outside a revoke, a pipelined copy's KERNEL fence) nor reuses the memory (`reclaim_memory`)",
        judge: vmap_keeps_placement,
    },
];

fn revoked_enodev(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events() {
        let buf = match e.call {
            Call::OpsVmap { buf } | Call::OpsMmap { buf } => buf,
            _ => continue,
        };
        if !o.revoked_at(buf, i) || e.ret.is_none() {
            continue;
        }
        j.expect(
            e.ret == Some(Ret::Err(Errno::ENODEV)),
            i,
            Actor::Exporter(buf),
            || format!("{} on a revoked buffer (expected -ENODEV)", shows(e)),
        );
    }
    j.verdict()
}

fn locked_as(o: &Observed<'_>, names: &[CallName], locked: bool) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o
        .events()
        .filter(|(_, e)| names.contains(&e.call.call_name()))
    {
        j.expect(e.locked == locked, i, caller(e), || {
            format!(
                "{} with the lock {}",
                shows(e),
                if e.locked { "held" } else { "not held" }
            )
        });
    }
    j.verdict()
}

/// Who is responsible for how a call is made: its caller.
pub(super) fn caller(e: &Event) -> Actor {
    e.from
}

fn vmap_locked(o: &Observed<'_>) -> Verdict {
    locked_as(
        o,
        &[
            CallName::DmaBufVmap,
            CallName::DmaBufVunmap,
            CallName::OpsVmap,
            CallName::OpsVunmap,
        ],
        true,
    )
}

fn mmap_unlocked(o: &Observed<'_>) -> Verdict {
    locked_as(o, &[CallName::DmaBufMmap, CallName::OpsMmap], false)
}

fn no_op_einval(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events() {
        let (buf, cap) = match e.call {
            Call::DmaBufVmap { buf } => (buf, "vmap"),
            Call::DmaBufMmap { buf } => (buf, "mmap"),
            _ => continue,
        };
        if o.exporter_kind(buf).is_none() || o.exporter_can(buf, cap) || e.ret.is_none() {
            continue;
        }
        // A driver of the profile that has the op after all (a VFIO exporter with `mmap`):
        // the core called it, and this rule is not about it.
        if o.children(i)
            .any(|(_, c)| matches!(c.call, Call::OpsVmap { .. } | Call::OpsMmap { .. }))
        {
            continue;
        }
        j.expect(
            e.ret == Some(Ret::Err(Errno::EINVAL)),
            i,
            Actor::Core,
            || {
                format!(
                    "{} for an exporter without `{cap}` (expected -EINVAL)",
                    shows(e)
                )
            },
        );
    }
    j.verdict()
}

/// What an exporter's event does to the backing store while a vmap is held, if anything:
/// `None` for everything that neither moves nor reuses it.
fn moves_or_reuses(o: &Observed<'_>, e: &Event, buf: BufId) -> Option<&'static str> {
    if e.from != Actor::Exporter(buf) {
        return None;
    }
    let step = o.steps.get(e.step);
    match e.call {
        Call::ReclaimMemory { buf: b } if b == buf => Some("reuses the memory"),
        // An invalidation starts a move, except in a revoke (which takes the device's
        // mappings, not the memory) and a restore.
        Call::DmaBufInvalidateMappings { buf: b }
            if b == buf && !matches!(step, Some(Step::Revoke { .. } | Step::Restore { .. })) =>
        {
            Some("starts a move")
        }
        // TTM's pipelined move fences its copy as KERNEL (an exporter's own clear, asked for
        // by the scenario, is not a move).
        Call::DmaResvAddFence {
            buf: b,
            usage: DmaResvUsage::Kernel,
            ..
        } if b == buf && !matches!(step, Some(Step::ExporterFence { .. })) => {
            Some("fences a move's copy")
        }
        _ => None,
    }
}

fn vmap_keeps_placement(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    let mut held: BTreeMap<BufId, u32> = BTreeMap::new();
    let mut counted = None;
    for (i, e) in o.events() {
        match e.call {
            Call::DmaBufVmap { buf } if e.ret == Some(Ret::Int(0)) => {
                *held.entry(buf).or_default() += 1;
                continue;
            }
            Call::DmaBufVunmap { buf } => {
                let n = held.entry(buf).or_default();
                *n = n.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        // The exporter the event concerns: its caller, its callee or its step's.
        let buf = match (e.from, e.to, o.steps.get(e.step).map(Step::actor)) {
            (Actor::Exporter(b), _, _)
            | (_, Actor::Exporter(b), _)
            | (_, _, Some(Actor::Exporter(b))) => b,
            _ => continue,
        };
        if held.get(&buf).copied().unwrap_or(0) == 0 {
            continue;
        }
        let exporter_step = matches!(
            o.steps.get(e.step),
            Some(Step::Move { .. } | Step::Revoke { .. } | Step::Reclaim { .. })
        );
        if (exporter_step || matches!(e.call, Call::OpsPin { .. })) && counted != Some(e.step) {
            counted = Some(e.step);
            j.applies();
        }
        if let Some(what) = moves_or_reuses(o, e, buf) {
            j.violated(
                i,
                Actor::Exporter(buf),
                format!(
                    "{}: the exporter {what} while a vmap of {buf} is held ({} held)",
                    shows(e),
                    held[&buf]
                ),
            );
        }
    }
    j.verdict()
}
