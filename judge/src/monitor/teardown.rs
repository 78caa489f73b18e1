//! The monitors of the chapter "Teardown" (`teardown.md`).

use std::collections::BTreeMap;

use reference_impl::{Actor, Call, CallName, Role};

use super::judgement::shows;
use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "teardown.importer.release-before-detach",
        source: file!(),
        role: Role::Importer,
        applies: "every `dma_buf_detach()`",
        expects: "the attachment holds no pin and no mapping when it is detached",
        judge: release_before_detach,
    },
    Monitor {
        rule: "teardown.importer.state-until-detach",
        source: file!(),
        role: Role::Importer,
        applies: "invalidations reaching an importer that holds no mapping, before it detached",
        expects: "its callback runs to its end (no crash)",
        judge: state_until_detach,
    },
    Monitor {
        rule: "teardown.core.detach-unlinks",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_detach()`",
        expects: "the attachment is unlinked under the lock before the exporter's `detach` op, which runs unlocked; no invalidation reaches it afterwards",
        judge: detach_unlinks,
    },
    Monitor {
        rule: "teardown.core.detach-no-cleanup",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_detach()`",
        expects: "the core neither unmaps nor unpins inside it",
        judge: detach_no_cleanup,
    },
    Monitor {
        rule: "teardown.release.once",
        source: file!(),
        role: Role::Core,
        applies: "every buffer whose last reference is dropped",
        expects: "`ops.release` is called exactly once, inside the last `dma_buf_put()`",
        judge: release_once,
    },
    Monitor {
        rule: "teardown.release.nothing-left",
        source: file!(),
        role: Role::Importer,
        applies: "every last `dma_buf_put()`",
        expects: "no attachment and no vmap is left",
        judge: nothing_left,
    },
];

fn release_before_detach(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufDetach) {
        let Call::DmaBufDetach {
            att,
            pins,
            mappings,
            ..
        } = e.call
        else {
            continue;
        };
        j.expect(pins == 0 && mappings == 0, i, Actor::Importer(att), || {
            format!(
                "{}: importer.{att} detaches holding {pins} pin(s) and {mappings} mapping(s)",
                e.call.render()
            )
        });
    }
    j.verdict()
}

fn state_until_detach(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::InvalidateMappings) {
        let Call::InvalidateMappings { att } = e.call else {
            continue;
        };
        let in_attach = o
            .att(att)
            .is_some_and(|info| o.ancestors(i).any(|k| k == info.event));
        if !in_attach && o.mappings_before(att, i).is_empty() {
            j.applies();
        }
    }
    if let Some((k, att)) = super::attach::crashed_in_callback(o) {
        let in_attach = o
            .att(att)
            .is_some_and(|info| o.ancestors(k).any(|x| x == info.event));
        if !in_attach && o.mappings_before(att, k).is_empty() {
            let why = o
                .trace
                .crashed
                .as_ref()
                .map(|c| c.message.clone())
                .unwrap_or_default();
            j.violated(k, Actor::Importer(att), format!("importer.{att} crashed in its `invalidate_mappings` after it unmapped, before it detached: {why}"));
        }
    }
    j.verdict()
}

fn detach_unlinks(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufDetach) {
        let Call::DmaBufDetach { att, .. } = e.call else {
            continue;
        };
        j.applies();
        let lock = o
            .children(i)
            .find(|(_, c)| matches!(c.call, Call::DmaResvLock { .. }))
            .map(|(k, _)| k);
        if let Some((k, d)) = o
            .children(i)
            .find(|(_, c)| matches!(c.call, Call::OpsDetach { .. }))
        {
            j.expect(!d.locked, k, Actor::Core, || {
                format!("{} with the lock held", shows(d))
            });
            j.expect(lock.is_some_and(|l| l < k), k, Actor::Core, || {
                format!(
                    "{} before the attachment was unlinked under the lock",
                    shows(d)
                )
            });
        }
        if o.returned(i)
            && let Some((k, c)) = o
                .events()
                .skip(o.end_of(i) + 1)
                .find(|(_, c)| matches!(c.call, Call::InvalidateMappings { att: a } if a == att))
        {
            j.violated(
                k,
                Actor::Core,
                format!("{} after importer.{att} detached (event #{i})", shows(c)),
            );
        }
    }
    j.verdict()
}

fn detach_no_cleanup(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufDetach) {
        j.applies();
        if let Some((k, c)) = o.inside(i).find(|(_, c)| {
            c.from == Actor::Core
                && matches!(
                    c.call,
                    Call::OpsUnmapDmaBuf { .. }
                        | Call::OpsUnpin { .. }
                        | Call::DmaBufUnmapAttachment { .. }
                        | Call::DmaBufUnpin { .. }
                )
        }) {
            j.violated(
                k,
                Actor::Core,
                format!("{} inside {}", shows(c), e.call.render()),
            );
        }
    }
    j.verdict()
}

fn release_once(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    let mut released: BTreeMap<reference_impl::BufId, usize> = BTreeMap::new();
    for (i, e) in o.calls(CallName::OpsRelease) {
        let Call::OpsRelease { buf } = e.call else {
            continue;
        };
        j.applies();
        if let Some(first) = released.insert(buf, i) {
            j.violated(
                i,
                Actor::Core,
                format!("{} again (first at event #{first})", shows(e)),
            );
        }
    }
    for (i, e) in o.calls(CallName::DmaBufPut) {
        if !o.returned(i) {
            continue;
        }
        let n = o
            .children(i)
            .filter(|(_, c)| matches!(c.call, Call::OpsRelease { .. }))
            .count();
        // A second release is the violation above, at the event of the second release.
        j.expect(n >= 1, i, Actor::Core, || {
            format!("{} never called `ops.release`", e.call.render())
        });
    }
    j.verdict()
}

fn nothing_left(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufPut) {
        let Call::DmaBufPut {
            buf,
            attachments,
            vmaps,
        } = e.call
        else {
            continue;
        };
        let who = o
            .atts()
            .filter(|(a, info)| info.buf == buf && super::invalidation::linked_at(o, *a, i))
            .map(|(a, _)| Actor::Importer(a))
            .next()
            .unwrap_or(Actor::Exporter(buf));
        j.expect(attachments == 0 && vmaps == 0, i, who, || {
            format!("{}: the last reference is dropped with {attachments} attachment(s) and {vmaps} vmap(s) left", e.call.render())
        });
    }
    j.verdict()
}
