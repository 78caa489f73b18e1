//! Reviewing a change of the contract: what changed, by rule ID, between two revisions of the
//! spec, and what it does to every in-tree driver.
//!
//! - [`Side`] is one revision: its rules (with history), cases, blessed traces, and, when
//!   they could be computed, the verdicts of every in-tree shim, good and broken.
//! - [`SpecDiff`] is what changed from one side to the other, rendered as Markdown for a pull
//!   request comment ([`SpecDiff::markdown`]) or serialised as JSON.
//! - [`Comparison`] is what changed between two result files of one driver
//!   (`revoke-conformance run --format json`), by shim, case and rule.
//!
//! Traces are diffed with event numbers taken out, so one inserted call is one change, not a
//! renumbering of every later event.

mod changes;
mod compare;
mod diff;
mod markdown;
mod side;
mod trace;

pub use changes::changes_page;
pub use compare::{CaseChange, Comparison, RuleChange};
pub use diff::{CaseDiff, RuleDiff, RuleField, SpecDiff, TraceDiff, VerdictChange};
pub use side::{RuleInfo, Side, Verdicts};
pub use trace::diff_trace;
