//! The rules a trace can be judged by whatever scenario produced it: a generated scenario, a
//! replayed file, an explored interleaving. Each is a whole-trace check of a rule that holds
//! in every trace of a conforming driver set (the generator's test runs the reference on
//! thousands of scenarios to keep it so).
//!
//! This is the judge `replay` and `explore` use until every rule is a monitor over any trace
//! (issue 19, item 1); a scenario written from a case is judged by the case's checks too.

use reference_impl::{AccessOutcome, Call, Trace};

use crate::calls::{self, importer_ops, ops};
use crate::check::{
    Check, RuleCheck, locked_whenever, never_inside, no_access, no_crash, no_write_after_invalidate,
};
use crate::outcome::CheckOutcome;

/// Every scenario-independent check, with its rule. The crash check names no rule of its own
/// (an oops breaks every rule of the role); it is reported under `harness.no-crash`.
pub fn checks() -> Vec<RuleCheck> {
    let c = |rule: &'static str, check: Check| RuleCheck { rule, check };
    vec![
        c("map.lock.held", locked_whenever(ops::map_dma_buf, true)),
        c("map.lock.held", locked_whenever(ops::unmap_dma_buf, true)),
        c(
            "map.lock.held",
            locked_whenever(calls::dma_buf_map_attachment, true),
        ),
        c("pin.lock.held", locked_whenever(calls::dma_buf_pin, true)),
        c("pin.lock.held", locked_whenever(calls::dma_buf_unpin, true)),
        c("lock.core.pin-ops-locked", locked_whenever(ops::pin, true)),
        c(
            "lock.core.pin-ops-locked",
            locked_whenever(ops::unpin, true),
        ),
        c(
            "attach.dynamic.ops-attach-unlocked",
            locked_whenever(ops::attach, false),
        ),
        c(
            "lock.core.release-unlocked",
            locked_whenever(ops::release, false),
        ),
        c(
            "lock.importer.add-fence-locked",
            locked_whenever(calls::dma_resv_add_fence, true),
        ),
        c(
            "cpu.vmap.lock-held",
            locked_whenever(calls::dma_buf_vmap, true),
        ),
        c(
            "cpu.mmap.unlocked",
            locked_whenever(calls::dma_buf_mmap, false),
        ),
        c(
            "revoke.importer.no-write-after-invalidate",
            no_write_after_invalidate(),
        ),
        c(
            "revoke.exporter.reuse-after-waits",
            no_access(AccessOutcome::Reclaimed),
        ),
        c(
            "invalidate.core.lock-held",
            locked_whenever(importer_ops::invalidate_mappings, true),
        ),
        c(
            "invalidate.importer.no-relock",
            never_inside(calls::dma_resv_lock, importer_ops::invalidate_mappings),
        ),
        c("teardown.release.once", released_at_most_once()),
        c(CRASH, no_crash()),
    ]
}

/// The exporter's `release` op is called at most once for each buffer.
fn released_at_most_once() -> Check {
    Check::new(
        "`ops.release` is called at most once for each buffer",
        |t| {
            let mut seen = std::collections::BTreeMap::new();
            for (i, e) in t.events.iter().enumerate() {
                if let Call::OpsRelease { buf } = &e.call
                    && let Some(first) = seen.insert(*buf, i)
                {
                    return Err(format!(
                        "event #{i}: `ops.release({buf})` again (first at event #{first})"
                    ));
                }
            }
            Ok(())
        },
    )
}

/// The pseudo-rule a driver's crash is reported under.
pub const CRASH: &str = "harness.no-crash";

/// Judges `trace` by every scenario-independent check.
pub fn judge(trace: &Trace) -> Vec<CheckOutcome> {
    checks()
        .into_iter()
        .map(|c| CheckOutcome {
            rule: c.rule,
            describe: c.check.describe.clone(),
            result: c.check.eval(trace),
        })
        .collect()
}

/// The first failed check, as `rule: what happened`, or `None` if every check holds.
pub fn first_violation(trace: &Trace) -> Option<String> {
    checks().into_iter().find_map(|c| {
        c.check
            .eval(trace)
            .err()
            .map(|e| format!("{}: {e}", c.rule))
    })
}
