//! The monitors of the chapter "Attaching" (`attach.md`).

use reference_impl::{Actor, Call, CallName, Errno, Ret, Role};

use super::judgement::{ret_of, shows};
use super::{Judgement, Monitor, Observed, Unobservable, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "attach.dynamic.ops-attach-unlocked",
        source: file!(),
        role: Role::Core,
        applies: "every `ops.attach`",
        expects: "`ops.attach` is called without the reservation lock",
        judge: ops_attach_unlocked,
    },
    Monitor {
        rule: "attach.core.error-passthrough",
        source: file!(),
        role: Role::Core,
        applies: "every attach whose `ops.attach` failed",
        expects: "the attach call fails with the error `ops.attach` returned",
        judge: error_passthrough,
    },
    Monitor {
        rule: "attach.dynamic.link-after-ops-attach",
        source: file!(),
        role: Role::Core,
        applies: "every attach call",
        expects: "the attachment is linked (lock taken) only after `ops.attach` succeeded; a refused attachment is never linked nor invalidated",
        judge: link_after_ops_attach,
    },
    Monitor {
        rule: "attach.importer.initialised",
        source: file!(),
        role: Role::Importer,
        applies: "an invalidation that reaches an importer inside its own attach call",
        expects: "the importer's callback runs to its end (no crash)",
        judge: importer_initialised,
    },
    Monitor {
        rule: "attach.core.null-callback",
        source: file!(),
        role: Role::Core,
        applies: "dynamic attachments whose importer ops have a NULL `invalidate_mappings`",
        expects: "the attach is not refused by the core (`-EINVAL`), and the missing callback is never called",
        judge: null_callback,
    },
    Monitor {
        rule: "attach.revocable.definition",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_attach_revocable()`",
        expects: "it returns true exactly for attachments whose importer ops have `invalidate_mappings`",
        judge: revocable_definition,
    },
    Monitor {
        rule: "attach.revocable.check-in-attach",
        source: file!(),
        role: Role::Exporter,
        applies: "exporters that revoke pinned attachments (capability `revokes-pinned`)",
        expects: "`ops.attach` accepts only after `dma_buf_attach_revocable()` said true, and refuses with `-EOPNOTSUPP` when it said false (or with the revoke's `-ENODEV` while the buffer is revoked)",
        judge: revocable_check_in_attach,
    },
    Monitor {
        rule: "attach.peer2peer.refuse",
        source: file!(),
        role: Role::Exporter,
        applies: "exporters whose memory is reachable only peer-to-peer (capability `peer2peer-only`)",
        expects: "`ops.attach` refuses static attachments and dynamic ones without `allow_peer2peer` with `-EOPNOTSUPP`",
        judge: peer2peer_refuse,
    },
];

pub(super) const UNOBSERVABLE: &[Unobservable] = &[Unobservable {
    rule: "attach.core.peer2peer-from-importer",
    reason: "the trace records the importer's `allow_peer2peer` but not the attachment's \
             `peer2peer` flag as the exporter's `attach` op reads it; the case \
             `attach_links_after_exporter_accepts` shows it through the answer of a \
             peer-to-peer-only exporter",
}];

fn is_attach(c: &Call) -> bool {
    matches!(
        c,
        Call::DmaBufAttach { .. } | Call::DmaBufDynamicAttach { .. }
    )
}

fn ops_attach_unlocked(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::OpsAttach) {
        j.expect(!e.locked, i, e.from, || {
            format!("{} with the lock held", shows(e))
        });
    }
    j.verdict()
}

fn error_passthrough(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::OpsAttach) {
        let Some(Ret::Err(err)) = e.ret else { continue };
        let Some(p) = o.parent(i).filter(|&p| is_attach(&o.event(p).call)) else {
            continue;
        };
        let outer = o.event(p);
        if outer.ret.is_none() {
            continue;
        }
        j.expect(outer.ret == Some(Ret::Err(err)), p, Actor::Core, || {
            format!(
                "`ops.attach` returned {err} (event #{i}) and {} returned {}",
                outer.call.name(),
                ret_of(outer)
            )
        });
    }
    j.verdict()
}

fn link_after_ops_attach(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (a, info) in o.atts() {
        let p = info.event;
        let children: Vec<(usize, &reference_impl::Event)> = o.children(p).collect();
        let ops = children
            .iter()
            .find(|(_, e)| matches!(e.call, Call::OpsAttach { .. }));
        let lock = children
            .iter()
            .find(|(_, e)| matches!(e.call, Call::DmaResvLock { .. }));
        j.applies();
        if let (Some((oi, oe)), Some((li, _))) = (ops, lock) {
            if li < oi {
                j.violated(
                    *li,
                    Actor::Core,
                    format!("{a} is linked (event #{li}) before `ops.attach` (event #{oi})"),
                );
            }
            if matches!(oe.ret, Some(Ret::Err(_))) && li > oi {
                j.violated(
                    *li,
                    Actor::Core,
                    format!("{a} is linked (event #{li}) although {}", shows(oe)),
                );
            }
        }
        let refused = matches!(ops, Some((_, oe)) if matches!(oe.ret, Some(Ret::Err(_))));
        if refused
            && let Some((k, _)) = o
                .calls(CallName::InvalidateMappings)
                .find(|(_, e)| matches!(e.call, Call::InvalidateMappings { att } if att == a))
        {
            j.violated(
                k,
                Actor::Core,
                format!("the refused {a} receives `invalidate_mappings`"),
            );
        }
        // An invalidation inside the attach call, before the exporter accepted it.
        if let Some((oi, _)) = ops
            && let Some((k, _)) = o.inside(p).find(|(k, e)| {
                k < oi && matches!(e.call, Call::InvalidateMappings { att } if att == a)
            })
        {
            j.violated(
                k,
                Actor::Core,
                format!("{a} receives `invalidate_mappings` before `ops.attach` accepted it"),
            );
        }
    }
    j.verdict()
}

/// A crash inside importer `a`'s callback, if the trace stopped in one: the callback event.
pub(super) fn crashed_in_callback(o: &Observed<'_>) -> Option<(usize, reference_impl::AttId)> {
    o.trace.crashed.as_ref()?;
    let last = o.trace.events.len().checked_sub(1)?;
    std::iter::once(last)
        .chain(o.ancestors(last))
        .find_map(|k| match o.event(k).call {
            Call::InvalidateMappings { att } if o.event(k).ret.is_none() => Some((k, att)),
            _ => None,
        })
}

fn importer_initialised(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::InvalidateMappings) {
        let Call::InvalidateMappings { att } = e.call else {
            continue;
        };
        if o.att(att)
            .is_some_and(|info| o.ancestors(i).any(|k| k == info.event))
        {
            j.applies();
        }
    }
    if let Some((k, att)) = crashed_in_callback(o)
        && o.att(att)
            .is_some_and(|info| o.ancestors(k).any(|x| x == info.event))
    {
        let why = o
            .trace
            .crashed
            .as_ref()
            .map(|c| c.message.clone())
            .unwrap_or_default();
        j.violated(k, Actor::Importer(att), format!("importer.{att} crashed in its `invalidate_mappings`, called during its own attach: {why}"));
    }
    j.verdict()
}

fn null_callback(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (a, info) in o.atts().filter(|(_, i)| i.dynamic && !i.callback) {
        let e = o.event(info.event);
        let exporter_refused = o.children(info.event).any(|(_, c)| {
            matches!(c.call, Call::OpsAttach { .. }) && matches!(c.ret, Some(Ret::Err(_)))
        });
        if !exporter_refused {
            j.expect(
                e.ret != Some(Ret::Err(Errno::EINVAL)),
                info.event,
                Actor::Core,
                || format!("{} although only the callback is missing", shows(e)),
            );
        }
        if let Some((k, _)) = o
            .calls(CallName::InvalidateMappings)
            .find(|(_, c)| matches!(c.call, Call::InvalidateMappings { att } if att == a))
        {
            j.violated(
                k,
                Actor::Core,
                format!("`invalidate_mappings` of {a} is called, and it is NULL"),
            );
        }
    }
    j.verdict()
}

fn revocable_definition(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufAttachRevocable) {
        let Call::DmaBufAttachRevocable { att } = e.call else {
            continue;
        };
        let (Some(info), Some(Ret::Bool(got))) = (o.att(att), &e.ret) else {
            continue;
        };
        let want = info.dynamic && info.callback;
        j.expect(*got == want, i, Actor::Core, || {
            format!(
                "{} for an attachment {}",
                shows(e),
                if want {
                    "with `invalidate_mappings`"
                } else {
                    "without `invalidate_mappings`"
                }
            )
        });
    }
    j.verdict()
}

fn revocable_check_in_attach(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::OpsAttach) {
        let Call::OpsAttach { att } = e.call else {
            continue;
        };
        let Some(info) = o.att(att) else { continue };
        if !o.exporter_can(info.buf, "revokes-pinned") {
            continue;
        }
        let asked = o
            .inside(i)
            .find(|(_, c)| matches!(c.call, Call::DmaBufAttachRevocable { .. }));
        match (&e.ret, asked.map(|(_, c)| &c.ret)) {
            (Some(Ret::Int(0)), Some(Some(Ret::Bool(true)))) => j.applies(),
            (Some(Ret::Int(0)), Some(Some(Ret::Bool(false)))) => j.violated(
                i,
                Actor::Exporter(info.buf),
                format!(
                    "{} although `dma_buf_attach_revocable()` returned false",
                    shows(e)
                ),
            ),
            (Some(Ret::Int(0)), _) => j.violated(
                i,
                Actor::Exporter(info.buf),
                format!("{} without calling `dma_buf_attach_revocable()`", shows(e)),
            ),
            (Some(r), Some(Some(Ret::Bool(false)))) => {
                // A revoked buffer's attach may give the revoke's -ENODEV instead: which
                // refusal comes first is the exporter's order (7.2's VFIO tests the mark first).
                let revoked_refusal = *r == Ret::Err(Errno::ENODEV) && o.revoked_at(info.buf, i);
                j.expect(
                    *r == Ret::Err(Errno::EOPNOTSUPP) || revoked_refusal,
                    i,
                    Actor::Exporter(info.buf),
                    || {
                        format!(
                            "{}: a non-revocable attachment is refused with -EOPNOTSUPP, not {r}",
                            shows(e)
                        )
                    },
                );
            }
            _ => {}
        }
    }
    j.verdict()
}

fn peer2peer_refuse(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::OpsAttach) {
        let Call::OpsAttach { att } = e.call else {
            continue;
        };
        let Some(info) = o.att(att) else { continue };
        if !o.exporter_can(info.buf, "peer2peer-only") || (info.dynamic && info.allow_peer2peer) {
            continue;
        }
        let Some(r) = &e.ret else { continue };
        j.expect(
            *r == Ret::Err(Errno::EOPNOTSUPP),
            i,
            Actor::Exporter(info.buf),
            || {
                format!(
                    "{} for a {} attachment (expected -EOPNOTSUPP)",
                    shows(e),
                    if info.dynamic {
                        "dynamic, not peer-to-peer,"
                    } else {
                        "static"
                    }
                )
            },
        );
    }
    j.verdict()
}
