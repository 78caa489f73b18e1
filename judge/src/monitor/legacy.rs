//! The monitors of the chapter "Legacy importers" (`legacy.md`).

use reference_impl::{Call, CallName, Role};

use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[Monitor {
    rule: "legacy.exporter.rare-revoke-risk",
    source: file!(),
    role: Role::Exporter,
    applies: "exporters that accepted an importer that is not revocable and then revoked (a permission: held when used)",
    expects: "nothing to violate: the exporter used the permission",
    judge: rare_revoke_risk,
}];

fn rare_revoke_risk(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufInvalidateMappings) {
        let Call::DmaBufInvalidateMappings { buf } = e.call else {
            continue;
        };
        if !matches!(o.step_of(i), Some(reference_impl::Step::Revoke { .. })) {
            continue;
        }
        let non_revocable = o.atts().any(|(a, info)| {
            info.buf == buf && !info.callback && super::invalidation::linked_at(o, a, i)
        });
        if non_revocable {
            j.applies();
        }
    }
    j.verdict()
}
