//! The monitors of the chapter "Restoring a revoked buffer" (`restore.md`).

use reference_impl::{Actor, AttId, Call, CallName, Ret, Role, Step};

use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "revoke.restore.notify",
        source: file!(),
        role: Role::Exporter,
        applies: "every restore of a revoked buffer that ran to its end",
        expects: "the exporter calls `dma_buf_invalidate_mappings()` with the lock held during the restore",
        judge: notify,
    },
    Monitor {
        rule: "revoke.restore.dynamic-remaps",
        source: file!(),
        role: Role::Importer,
        applies: "unpinned importers with the callback that were refused a map while the buffer was revoked",
        expects: "at their next step after the restore's invalidation, they try to map again",
        judge: dynamic_remaps,
    },
    Monitor {
        rule: "revoke.pinned.permanent",
        source: file!(),
        role: Role::Importer,
        applies: "pinned importers after a restore (a permission: held when used)",
        expects: "nothing to violate: the importer treats the revoke as permanent",
        judge: pinned_permanent,
    },
    Monitor {
        rule: "revoke.restore.count-ready",
        source: file!(),
        role: Role::Exporter,
        applies: "every restore of a revoked buffer",
        expects: "from the restore on, the exporter's reference count never warns (`refcount_t: addition on 0` when a map takes a reference before the count is re-armed, or an underflow after it threw one away)",
        judge: count_ready,
    },
    Monitor {
        rule: "revoke.importer.deferred-unmap-scope",
        source: file!(),
        role: Role::Importer,
        applies: "importers that give mappings back from a work item (a `worker` call of their attachment)",
        expects: "every mapping a worker unmaps was reached by an `invalidate_mappings` callback of its attachment after it was made: a mapping made after the last invalidation is the importer's current one, not the worker's",
        judge: deferred_unmap_scope,
    },
];

/// The restore steps of a revoked buffer: `(step, buffer)`.
fn restores<'o>(o: &'o Observed<'_>) -> impl Iterator<Item = (usize, reference_impl::BufId)> + 'o {
    o.steps.iter().enumerate().filter_map(move |(s, step)| {
        let Step::Restore { buf } = *step else {
            return None;
        };
        let revoked = o.steps[..s].iter().rev().find_map(|p| match *p {
            Step::Revoke { buf: b } if b == buf => Some(true),
            Step::Restore { buf: b } if b == buf => Some(false),
            _ => None,
        });
        (revoked == Some(true)).then_some((s, buf))
    })
}

fn notify(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf) in restores(o) {
        if !o.step_completed(s) {
            continue;
        }
        let ok = o.events().any(|(_, e)| {
            e.step == s
                && e.locked
                && e.from == Actor::Exporter(buf)
                && matches!(e.call, Call::DmaBufInvalidateMappings { buf: b } if b == buf)
        });
        let at = o
            .events()
            .filter(|(_, e)| e.step == s)
            .map(|(i, _)| i)
            .last()
            .unwrap_or(o.trace.events.len().saturating_sub(1));
        j.expect(ok, at, Actor::Exporter(buf), || {
            format!("step {s} restores {buf} without calling `dma_buf_invalidate_mappings()` under the lock")
        });
    }
    j.verdict()
}

/// The importer's steps after step `s`.
fn next_step_of(o: &Observed<'_>, att: AttId, s: usize) -> Option<usize> {
    o.steps.iter().enumerate().skip(s + 1).find_map(|(k, st)| {
        matches!(st, Step::Access { att: a, .. } | Step::Map { att: a } | Step::Submit { att: a, .. } if *a == att)
            .then_some(k)
    })
}

fn dynamic_remaps(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf) in restores(o) {
        let Some(revoke) = o.steps[..s]
            .iter()
            .rposition(|p| matches!(p, Step::Revoke { buf: b } if *b == buf))
        else {
            continue;
        };
        for (att, _) in o.atts().filter(|(_, i)| i.buf == buf && i.callback) {
            let restore_cb = o.events().find(|(_, e)| {
                e.step == s && matches!(e.call, Call::InvalidateMappings { att: a } if a == att)
            });
            let Some((cb, _)) = restore_cb else { continue };
            if o.pins_before(att, cb) > 0 {
                continue;
            }
            let refused = o.events().any(|(_, e)| {
                e.step > revoke
                    && e.step < s
                    && matches!(e.call, Call::DmaBufMapAttachment { att: a } | Call::DmaBufMapAttachmentUnlocked { att: a } if a == att)
                    && matches!(e.ret, Some(Ret::Err(_)))
            });
            if !refused {
                continue;
            }
            let Some(next) = next_step_of(o, att, s) else {
                continue;
            };
            if !o.step_completed(next) {
                continue;
            }
            let tried = o.events().any(|(_, e)| {
                e.step == next
                    && matches!(e.call, Call::DmaBufMapAttachment { att: a } | Call::DmaBufMapAttachmentUnlocked { att: a } if a == att)
            });
            let at = o
                .events()
                .filter(|(_, e)| e.step <= next)
                .map(|(i, _)| i)
                .last()
                .unwrap_or(cb);
            j.expect(tried, at, Actor::Importer(att), || {
                format!("importer.{att} was refused a map before the restore, and in step {next} after it does not try to map again")
            });
        }
    }
    j.verdict()
}

fn pinned_permanent(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf) in restores(o) {
        for (att, _) in o.atts().filter(|(_, i)| i.buf == buf && i.callback) {
            let Some((cb, _)) = o.events().find(|(_, e)| {
                e.step == s && matches!(e.call, Call::InvalidateMappings { att: a } if a == att)
            }) else {
                continue;
            };
            if o.pins_before(att, cb) <= 0 {
                continue;
            }
            let Some(next) = next_step_of(o, att, s) else {
                continue;
            };
            let mapped = o.events().any(|(_, e)| {
                e.step == next && matches!(e.call, Call::DmaBufMapAttachment { att: a } if a == att)
            });
            if !mapped && o.step_completed(next) {
                j.applies();
            }
        }
    }
    j.verdict()
}

fn count_ready(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf) in restores(o) {
        let Some((start, _)) = o.events().find(|(_, e)| e.step == s) else {
            continue;
        };
        j.applies();
        if let Some((i, e)) = o.events().skip(start).find(|(_, e)| {
            e.from == Actor::Exporter(buf)
                && matches!(&e.call, Call::Warn { what } if what.starts_with("refcount_t:"))
        }) {
            j.violated(
                i,
                Actor::Exporter(buf),
                format!(
                    "{} after the restore of {buf} began (event #{start}): a mapping's reference went to a count that was not armed",
                    e.call.render()
                ),
            );
        }
    }
    j.verdict()
}

fn deferred_unmap_scope(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.events() {
        let (Call::DmaBufUnmapAttachment { att, sgt }
        | Call::DmaBufUnmapAttachmentUnlocked { att, sgt }) = e.call
        else {
            continue;
        };
        let from_worker = o
            .enclosing(i, CallName::Worker)
            .is_some_and(|w| matches!(o.event(w).call, Call::Worker { att: a } if a == att));
        if !from_worker {
            continue;
        }
        let made = o
            .events()
            .take(i)
            .filter(|(_, m)| {
                matches!(m.call, Call::DmaBufMapAttachment { att: a }
                    | Call::DmaBufMapAttachmentUnlocked { att: a } if a == att)
                    && m.ret == Some(Ret::Sgt(sgt))
            })
            .map(|(k, _)| k)
            .last();
        let Some(made) = made else { continue };
        let reached = o
            .events()
            .skip(made + 1)
            .take(i - made - 1)
            .any(|(_, c)| matches!(c.call, Call::InvalidateMappings { att: a } if a == att));
        j.expect(reached, i, Actor::Importer(att), || {
            format!(
                "importer.{att}'s worker unmaps {sgt}, which it mapped at event {made}, after \
                 every invalidation of {att} so far: a mapping no invalidation reached"
            )
        });
    }
    j.verdict()
}
