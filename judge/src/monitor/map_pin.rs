//! The monitors of the chapter "Mapping and pinning" (`map-pin.md`).

use reference_impl::{Actor, Call, CallName, DmaResvUsage, Event, Ret, Role};

use super::judgement::shows;
use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "map.lock.held",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_map_attachment`, `dma_buf_unmap_attachment`, `ops.map_dma_buf`, `ops.unmap_dma_buf`",
        expects: "each is called with the reservation lock held",
        judge: map_locked,
    },
    Monitor {
        rule: "pin.lock.held",
        source: file!(),
        role: Role::Importer,
        applies: "every `dma_buf_pin` and `dma_buf_unpin`",
        expects: "each is called with the reservation lock held, on a dynamic attachment",
        judge: pin_locked,
    },
    Monitor {
        rule: "pin.core.no-op-without-op",
        source: file!(),
        role: Role::Core,
        applies: "`dma_buf_pin()` on exporters without a `pin` op (no capability `pin`)",
        expects: "it returns 0 without calling the exporter",
        judge: pin_no_op,
    },
    Monitor {
        rule: "pin.importer.unpin-on-error",
        source: file!(),
        role: Role::Importer,
        applies: "an importer whose map (`dma_buf_map_attachment` or a private interconnect's) fails after its pin succeeded, in the same step",
        expects: "it unpins before the step ends",
        judge: unpin_on_error,
    },
    Monitor {
        rule: "map.static.pin-on-map",
        source: file!(),
        role: Role::Core,
        applies: "maps and unmaps of static attachments, on exporters with `pin`",
        expects: "`ops.pin` before `ops.map_dma_buf`; `ops.unpin` after `ops.unmap_dma_buf`",
        judge: static_pin_on_map,
    },
    Monitor {
        rule: "map.static.kernel-wait",
        source: file!(),
        role: Role::Core,
        applies: "successful maps of static attachments, and their devices' accesses",
        expects: "a KERNEL wait returned after `map_dma_buf` and before the map returned; no access finds a KERNEL fence pending",
        judge: static_kernel_wait,
    },
    Monitor {
        rule: "map.static.unpin-on-error",
        source: file!(),
        role: Role::Core,
        applies: "a static map whose `map_dma_buf` failed after the core pinned",
        expects: "the core unpins before returning the error",
        judge: static_unpin_on_error,
    },
    Monitor {
        rule: "map.dynamic.no-pin-no-wait",
        source: file!(),
        role: Role::Core,
        applies: "maps of dynamic attachments",
        expects: "the core neither pins nor waits for fences inside the map",
        judge: dynamic_no_pin_no_wait,
    },
    Monitor {
        rule: "map.importer.pin-without-callback",
        source: file!(),
        role: Role::Importer,
        applies: "dynamic attachments whose importer has no `invalidate_mappings`, when they map or unpin",
        expects: "every map comes while the importer holds a pin, and no unpin leaves a mapping without one",
        judge: pin_without_callback,
    },
    Monitor {
        rule: "pin.exporter.ready",
        source: file!(),
        role: Role::Exporter,
        applies: "every `ops.pin` that succeeded",
        expects: "a KERNEL fence the exporter added inside its pin (a move or clear) has signalled when the pin returns",
        judge: pin_ready,
    },
];

fn is_map(c: &Call) -> bool {
    matches!(
        c,
        Call::DmaBufMapAttachment { .. } | Call::DmaBufMapAttachmentUnlocked { .. }
    )
}

fn is_unmap(c: &Call) -> bool {
    matches!(
        c,
        Call::DmaBufUnmapAttachment { .. } | Call::DmaBufUnmapAttachmentUnlocked { .. }
    )
}

fn map_locked(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events().filter(|(_, e)| {
        matches!(
            e.call.call_name(),
            CallName::DmaBufMapAttachment
                | CallName::DmaBufUnmapAttachment
                | CallName::OpsMapDmaBuf
                | CallName::OpsUnmapDmaBuf
        )
    }) {
        j.expect(e.locked, i, e.from, || {
            format!("{} without the lock", shows(e))
        });
    }
    j.verdict()
}

fn pin_locked(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events().filter(|(_, e)| {
        matches!(
            e.call.call_name(),
            CallName::DmaBufPin | CallName::DmaBufUnpin
        )
    }) {
        j.expect(e.locked, i, e.from, || {
            format!("{} without the lock", shows(e))
        });
        let att = match e.call {
            Call::DmaBufPin { att } | Call::DmaBufUnpin { att } => att,
            _ => continue,
        };
        if let Some(info) = o.att(att) {
            j.expect(info.dynamic, i, e.from, || {
                format!("{} on a static attachment", shows(e))
            });
        }
    }
    j.verdict()
}

fn exporter_has_pin(o: &Observed<'_>, att: reference_impl::AttId) -> Option<bool> {
    let buf = o.att(att)?.buf;
    o.exporter_kind(buf)?;
    Some(o.exporter_can(buf, "pin"))
}

fn pin_no_op(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufPin) {
        let Call::DmaBufPin { att } = e.call else {
            continue;
        };
        if exporter_has_pin(o, att) != Some(false) || e.ret.is_none() {
            continue;
        }
        if let Some((k, c)) = o
            .inside(i)
            .find(|(_, c)| matches!(c.call, Call::OpsPin { .. }))
        {
            j.violated(
                k,
                Actor::Core,
                format!("{} for an exporter without a `pin` op", shows(c)),
            );
        }
        j.expect(e.ret == Some(Ret::Int(0)), i, Actor::Core, || {
            format!(
                "{} for an exporter without a `pin` op (expected 0)",
                shows(e)
            )
        });
    }
    j.verdict()
}

/// Every map an importer can make, in trace order, with its attachment: the core's
/// (`dma_buf_map_attachment()`) or a private interconnect's (`vfio_pci_dma_buf_iommufd_map()`).
fn maps_of<'o>(o: &'o Observed<'_>) -> Vec<(usize, &'o Event, reference_impl::AttId)> {
    let mut maps: Vec<_> = o
        .calls(CallName::DmaBufMapAttachment)
        .chain(o.calls(CallName::VfioPciDmaBufIommufdMap))
        .filter_map(|(i, e)| match e.call {
            Call::DmaBufMapAttachment { att } | Call::VfioPciDmaBufIommufdMap { att } => {
                Some((i, e, att))
            }
            _ => None,
        })
        .collect();
    maps.sort_by_key(|(i, _, _)| *i);
    maps
}

fn unpin_on_error(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e, att) in maps_of(o) {
        if !matches!(e.from, Actor::Importer(_)) || !matches!(e.ret, Some(Ret::Err(_))) {
            continue;
        }
        let pinned_here = o.events().take(i).any(|(_, p)| {
            p.step == e.step
                && matches!(p.call, Call::DmaBufPin { att: a } if a == att)
                && p.ret == Some(Ret::Int(0))
        });
        if !pinned_here || !o.step_completed(e.step) {
            continue;
        }
        let unpinned = o.events().skip(i + 1).any(|(_, u)| {
            u.step == e.step && matches!(u.call, Call::DmaBufUnpin { att: a } if a == att)
        });
        j.expect(unpinned, i, Actor::Importer(att), || {
            format!(
                "{} after its pin succeeded, and importer.{att} kept the pin",
                shows(e)
            )
        });
    }
    j.verdict()
}

/// The maps and unmaps of static attachments made by the core for the importer (the locked
/// call inside an `_unlocked` one, or the call itself).
fn static_calls<'o>(
    o: &'o Observed<'_>,
    pick: fn(&Call) -> bool,
) -> impl Iterator<Item = (usize, &'o Event, reference_impl::AttId)> + 'o {
    o.events().filter_map(move |(i, e)| {
        if !pick(&e.call) {
            return None;
        }
        let att = super::observed::att_of(&e.call)?;
        let info = o.att(att)?;
        if info.dynamic {
            return None;
        }
        // Judge the innermost map call only.
        if o.inside(i).any(|(_, c)| pick(&c.call)) {
            return None;
        }
        Some((i, e, att))
    })
}

fn static_pin_on_map(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e, att) in static_calls(o, is_map) {
        if exporter_has_pin(o, att) != Some(true) {
            continue;
        }
        let pin = o
            .children(i)
            .find(|(_, c)| matches!(c.call, Call::OpsPin { .. }))
            .map(|(k, _)| k);
        let Some(map) = o
            .children(i)
            .find(|(_, c)| matches!(c.call, Call::OpsMapDmaBuf { .. }))
            .map(|(k, _)| k)
        else {
            continue;
        };
        j.expect(pin.is_some_and(|p| p < map), map, Actor::Core, || {
            format!(
                "{}: `ops.map_dma_buf` (event #{map}) without `ops.pin` before it",
                shows(e)
            )
        });
    }
    for (i, e, att) in static_calls(o, is_unmap) {
        if exporter_has_pin(o, att) != Some(true) || !o.returned(i) {
            continue;
        }
        let Some(unmap) = o
            .children(i)
            .find(|(_, c)| matches!(c.call, Call::OpsUnmapDmaBuf { .. }))
            .map(|(k, _)| k)
        else {
            continue;
        };
        let unpin = o
            .children(i)
            .find(|(k, c)| *k > unmap && matches!(c.call, Call::OpsUnpin { .. }));
        j.expect(unpin.is_some(), i, Actor::Core, || {
            format!(
                "{}: no `ops.unpin` after `ops.unmap_dma_buf` (event #{unmap})",
                shows(e)
            )
        });
    }
    j.verdict()
}

fn static_kernel_wait(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e, _) in static_calls(o, is_map) {
        let Some(Ret::Sgt(_)) = e.ret else { continue };
        let Some(map) = o
            .children(i)
            .find(|(_, c)| matches!(c.call, Call::OpsMapDmaBuf { .. }))
            .map(|(k, _)| k)
        else {
            continue;
        };
        let waited = o.inside(i).any(|(k, c)| {
            k > map
                && matches!(c.call, Call::DmaResvWaitTimeout { usage, .. } if usage >= DmaResvUsage::Kernel)
                && matches!(c.ret, Some(Ret::Int(n)) if n > 0)
        });
        j.expect(waited, i, Actor::Core, || {
            format!(
                "{} without a KERNEL wait that returned after `ops.map_dma_buf`",
                shows(e)
            )
        });
    }
    for a in o.accesses() {
        if o.att(a.att).is_some_and(|info| !info.dynamic)
            && a.outcome == reference_impl::AccessOutcome::NotReady
        {
            j.violated(
                a.event,
                Actor::Core,
                format!(
                    "{}: the static mapping was handed out before the KERNEL fences signalled",
                    shows(o.event(a.event))
                ),
            );
        }
    }
    j.verdict()
}

fn static_unpin_on_error(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e, _) in static_calls(o, is_map) {
        if !matches!(e.ret, Some(Ret::Err(_))) {
            continue;
        }
        let pinned = o
            .children(i)
            .any(|(_, c)| matches!(c.call, Call::OpsPin { .. }) && c.ret == Some(Ret::Int(0)));
        if !pinned {
            continue;
        }
        let unpinned = o
            .children(i)
            .any(|(_, c)| matches!(c.call, Call::OpsUnpin { .. }));
        j.expect(unpinned, i, Actor::Core, || {
            format!(
                "{} after `ops.pin` succeeded, and the pin was kept",
                shows(e)
            )
        });
    }
    j.verdict()
}

fn dynamic_no_pin_no_wait(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e, att) in maps_of(o) {
        if !o.att(att).is_some_and(|a| a.dynamic) {
            continue;
        }
        j.applies();
        if let Some((k, c)) = o.inside(i).find(|(_, c)| {
            c.from == Actor::Core
                && matches!(
                    c.call,
                    Call::OpsPin { .. } | Call::DmaResvWaitTimeout { .. }
                )
        }) {
            j.violated(k, Actor::Core, format!("{} inside {}", shows(c), shows(e)));
        }
    }
    j.verdict()
}

fn pin_without_callback(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events() {
        let (att, mapping) = match e.call {
            Call::DmaBufMapAttachment { att } | Call::DmaBufMapAttachmentUnlocked { att } => {
                (att, true)
            }
            Call::DmaBufUnpin { att } => (att, false),
            _ => continue,
        };
        let Some(info) = o.att(att) else { continue };
        if !info.dynamic || info.callback || !super::observed::is_importer(e.from) {
            continue;
        }
        if mapping {
            j.expect(o.pins_before(att, i) > 0, i, Actor::Importer(att), || {
                format!(
                    "{}: importer.{att} has no invalidate_mappings and maps without holding a pin",
                    shows(e)
                )
            });
        } else {
            let left = o.mappings_before(att, i);
            j.expect(
                left.is_empty() || o.pins_before(att, i) > 1,
                i,
                Actor::Importer(att),
                || {
                    format!(
                        "{}: importer.{att} still holds {} and has no invalidate_mappings",
                        shows(e),
                        left.iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            );
        }
    }
    j.verdict()
}

fn pin_ready(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (p, e) in o.calls(CallName::OpsPin) {
        if e.ret != Some(Ret::Int(0)) {
            continue;
        }
        let Call::OpsPin { att } = e.call else {
            continue;
        };
        let Some(info) = o.att(att) else { continue };
        j.applies();
        let end = o.end_of(p);
        for (_, add) in o.inside(p) {
            let Call::DmaResvAddFence {
                fence,
                usage: DmaResvUsage::Kernel,
                ..
            } = add.call
            else {
                continue;
            };
            j.expect(
                o.signalled_before(fence, end + 1),
                p,
                Actor::Exporter(info.buf),
                || {
                    format!(
                        "{}: returned while its own {fence} (KERNEL: a move or clear for the pin) had not signalled",
                        shows(e)
                    )
                },
            );
        }
    }
    j.verdict()
}
