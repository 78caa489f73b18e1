//! The monitors of the chapter "CPU access" (`cpu-access.md`).

use reference_impl::{Actor, Call, CallName, Errno, Event, Ret, Role};

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
        applies: "exporters without a `vmap` (or `mmap`) op (no capability `vmap`, `mmap`)",
        expects: "`dma_buf_vmap()` (or `dma_buf_mmap()`) fails with -EINVAL",
        judge: no_op_einval,
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
