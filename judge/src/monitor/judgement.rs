//! The bookkeeping every monitor shares: whether the rule applied, and its first violation.

use reference_impl::Actor;

use super::{Verdict, Violation};

/// A judgement in progress: a monitor marks what it saw apply and what broke the rule; the
/// first violating event (by its index in the trace) wins.
#[derive(Debug, Default)]
pub struct Judgement {
    applied: bool,
    violation: Option<Violation>,
}

impl Judgement {
    /// Nothing seen yet.
    pub fn new() -> Judgement {
        Judgement::default()
    }

    /// The rule applies to what the trace shows.
    pub fn applies(&mut self) {
        self.applied = true;
    }

    /// The rule applies, and `ok` says whether it held at event `event`; `observed` is what
    /// the trace shows when it did not.
    pub fn expect(
        &mut self,
        ok: bool,
        event: usize,
        actor: Actor,
        observed: impl FnOnce() -> String,
    ) {
        self.applied = true;
        if !ok {
            self.violated(event, actor, observed());
        }
    }

    /// The rule is broken at `event`, by `actor`.
    pub fn violated(&mut self, event: usize, actor: Actor, observed: String) {
        self.applied = true;
        if self.violation.as_ref().is_none_or(|v| event < v.event) {
            self.violation = Some(Violation {
                event,
                actor,
                observed,
            });
        }
    }

    /// The verdict.
    pub fn verdict(self) -> Verdict {
        match (self.violation, self.applied) {
            (Some(v), _) => Verdict::Violated(v),
            (None, true) => Verdict::Held,
            (None, false) => Verdict::NotApplicable,
        }
    }
}

/// An event as a report shows it: `ops.attach(att1) = -ENODEV`.
pub(super) fn shows(e: &reference_impl::Event) -> String {
    match &e.ret {
        Some(reference_impl::Ret::Void) => e.call.render(),
        Some(r) => format!("{} = {r}", e.call.render()),
        None => format!("{} (did not return)", e.call.render()),
    }
}

/// What a call returned, in words.
pub(super) fn ret_of(e: &reference_impl::Event) -> String {
    match &e.ret {
        Some(reference_impl::Ret::Void) => "nothing (void)".into(),
        Some(r) => r.to_string(),
        None => "nothing: it never returned".into(),
    }
}
