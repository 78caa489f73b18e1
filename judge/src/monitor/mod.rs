//! Monitors: each rule's meaning as a judgement over any trace.
//!
//! A monitor reads a whole trace (with the scenario's steps, which say which profile plays
//! each role and which step is a revoke or a move) and says whether its rule [held], was
//! [violated] (with the first violating event and the role responsible), does not apply to
//! what the trace shows, or cannot be seen in a trace at all. Monitors are scoped by role and
//! capability, never by case: every monitor runs on every scenario of every backend (the
//! model, in-process and wire shims, the kernel bridge, the real drivers), so a rule means
//! the same thing wherever it is judged. Cases stay as named examples; their checks and the
//! monitors must agree.
//!
//! One module per chapter of the book, one function per rule, in the order of the book's
//! rules. A rule that no trace can show is listed in [`unobservable`] with the reason, and
//! the book's page "Monitors" shows every rule's monitor or that reason.
//!
//! [held]: Verdict::Held
//! [violated]: Verdict::Violated

mod attach;
mod cpu_access;
mod invalidation;
mod judgement;
mod legacy;
mod locking;
mod map_pin;
pub mod observed;
mod restore;
mod revocation;
mod teardown;
#[cfg(test)]
mod tests;

use reference_impl::{Actor, Role, Step, Trace};

pub use judgement::Judgement;
pub use observed::Observed;

/// What a monitor says about one trace.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    /// The trace does what the rule covers, and the rule held every time. (For a MAY rule:
    /// the driver used the permission.)
    Held,
    /// The rule was broken.
    Violated(Violation),
    /// Nothing in the trace is what the rule is about.
    NotApplicable,
    /// The trace cannot show what the rule needs.
    NotObservable {
        /// Why.
        reason: String,
    },
}

/// Where and how a rule was broken.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Violation {
    /// The first violating event (its index in the trace).
    pub event: usize,
    /// The role instance responsible (`importer.att0`, `exporter.buf0`, `core`).
    pub actor: Actor,
    /// What the trace shows, in words.
    pub observed: String,
}

/// A rule's monitor.
pub struct Monitor {
    /// The rule's ID.
    pub rule: &'static str,
    /// The source file that holds it (`judge/src/monitor/attach.rs`).
    pub source: &'static str,
    /// The role the rule binds.
    pub role: Role,
    /// Where it applies, in words (the roles and capabilities it looks at).
    pub applies: &'static str,
    /// What it checks, in words.
    pub expects: &'static str,
    /// The judgement.
    pub judge: fn(&Observed<'_>) -> Verdict,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").field("rule", &self.rule).finish()
    }
}

/// A rule no trace can show, and why.
#[derive(Debug)]
pub struct Unobservable {
    /// The rule's ID.
    pub rule: &'static str,
    /// Why a trace cannot show it, and what checks it instead.
    pub reason: &'static str,
}

/// Every monitor, in the order of the book's chapters.
pub fn all() -> Vec<&'static Monitor> {
    [
        attach::MONITORS,
        cpu_access::MONITORS,
        invalidation::MONITORS,
        legacy::MONITORS,
        locking::MONITORS,
        map_pin::MONITORS,
        restore::MONITORS,
        revocation::MONITORS,
        teardown::MONITORS,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every rule no trace can show, with the reason.
pub fn unobservable() -> Vec<&'static Unobservable> {
    [attach::UNOBSERVABLE].into_iter().flatten().collect()
}

/// The monitor of `rule`, if it has one.
pub fn of(rule: &str) -> Option<&'static Monitor> {
    all().into_iter().find(|m| m.rule == rule)
}

/// One monitor's verdict on one trace.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Judged {
    /// The rule.
    pub rule: String,
    /// What its monitor says.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Judges one trace (produced by `steps`) by every monitor; a monitor that does not apply says
/// nothing (it is left out).
pub fn judge_trace(steps: &[Step], trace: &Trace) -> Vec<(&'static Monitor, Verdict)> {
    let observed = Observed::new(steps, trace);
    all()
        .into_iter()
        .map(|m| (m, (m.judge)(&observed)))
        .filter(|(_, v)| *v != Verdict::NotApplicable)
        .collect()
}

/// The violations of one trace, first violating event first.
pub fn violations(steps: &[Step], trace: &Trace) -> Vec<(&'static Monitor, Violation)> {
    let mut out: Vec<(&'static Monitor, Violation)> = judge_trace(steps, trace)
        .into_iter()
        .filter_map(|(m, v)| match v {
            Verdict::Violated(v) => Some((m, v)),
            _ => None,
        })
        .collect();
    out.sort_by_key(|(_, v)| v.event);
    out
}

/// The first violation of one trace as one line, `rule: (monitor) event #N by ROLE: what`, or
/// `None` when every monitor held: what an explorer of scenarios or interleavings reports.
pub fn first_violation(steps: &[Step], trace: &Trace) -> Option<String> {
    violations(steps, trace).into_iter().next().map(|(m, v)| {
        format!(
            "{}: {MONITOR_MARK} event #{} by {}: {}",
            m.rule, v.event, v.actor, v.observed
        )
    })
}

/// What [`first_violation`]'s line says after the rule: a monitor found it.
pub const MONITOR_MARK: &str = "(monitor)";

/// The book's page of monitors (`{{#monitors}}` in `monitors.md`): every rule of the book, by
/// ID, with its monitor (the role it binds, where it applies, what it judges,
/// its source file) or the reason no trace can show it. Each rule has the anchor `m-ID`, which
/// its box in the book links to.
pub fn markdown() -> String {
    let spec = crate::spec();
    let mut out =
        String::from("| rule | role | applies to | judges | monitor |\n|---|---|---|---|---|\n");
    let cell = |s: &str| s.replace('|', "\\|");
    let mut monitored = 0;
    for r in spec.rules {
        let anchor = format!("<a id=\"m-{}\"></a>[`{}`]({})", r.id, r.id, r.anchor());
        if let Some(m) = of(r.id) {
            monitored += 1;
            out.push_str(&format!(
                "| {anchor} | {} | {} | {} | `{}` |\n",
                m.role,
                cell(m.applies),
                cell(m.expects),
                m.source
            ));
        } else if let Some(u) = unobservable().into_iter().find(|u| u.rule == r.id) {
            out.push_str(&format!(
                "| {anchor} | | | **not observable in a trace**: {} | none |\n",
                cell(u.reason)
            ));
        } else {
            out.push_str(&format!("| {anchor} | | | **no monitor** | none |\n"));
        }
    }
    out.push_str(&format!(
        "\n{monitored} of the {} rules have a monitor; {} cannot be seen in a trace.\n",
        spec.rules.len(),
        unobservable().len()
    ));
    out
}
