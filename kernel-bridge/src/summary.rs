//! The compact results of a bridge run (what the book's table is rendered from and CI compares
//! against), and the mutant C drivers.

use std::fmt::Write as _;

use judge::results::{CaseResult, ShimResults, Status, Verdict};

use crate::replays::ReplayLine;

/// A mutant C driver and the rule the suite must catch it on.
pub struct MutantSpec {
    /// The suite's mutant name.
    pub name: &'static str,
    /// What it gets wrong.
    pub bug: &'static str,
    /// The rule a case must fail on.
    pub rule: &'static str,
}

/// The mutants built into the kernel runner.
pub const MUTANTS: &[MutantSpec] = &[MutantSpec {
    name: "dynamic-keeps-dma",
    bug: "the dynamic importer's move_notify keeps its mapping, and its device keeps using it",
    rule: "invalidate.importer.repeated",
}];

/// The compact results of a bridge run: what the book's table is rendered from, and what CI
/// compares a fresh run against.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BridgeSummary {
    /// The kernel (`6.12`).
    pub kernel: String,
    /// Per configuration.
    pub configs: Vec<ConfigSummary>,
    /// Per configuration and mutant.
    pub mutants: Vec<MutantSummary>,
    /// Per configuration, the mutant C driver whose bug only a schedule shows: the replayed
    /// schedules that caught it (`CASE~LABEL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replay_mutants: Vec<MutantSummary>,
}

/// One configuration's results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSummary {
    /// `linux-6.12 (move-notify on)`.
    pub name: String,
    /// Case variants the kernel ran (a trace came back).
    pub ran: usize,
    /// Case variants judged (applicable to this kernel).
    pub judged: usize,
    /// Per case variant: its status word (`pass`, `fail`, `not-applicable`...), with the
    /// reason or the failed rules.
    pub cases: Vec<CaseLine>,
    /// Per rule.
    pub rules: Vec<RuleLine>,
    /// Per racy case and schedule: the replay on this kernel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<ReplayLine>,
}

/// One case variant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseLine {
    /// `name[variant]`.
    pub case: String,
    /// Its status word.
    pub status: String,
    /// Why it is not applicable, the rules it failed, or why it could not run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleLine {
    /// The rule.
    pub rule: String,
    /// The verdict's word: `conformant`, `violated`, `violated-should`, `not-applicable`.
    pub verdict: String,
    /// Why it is not applicable, or that it is a finding.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Whether a mutant was caught.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MutantSummary {
    /// The configuration.
    pub config: String,
    /// The mutant.
    pub mutant: String,
    /// The rule it must be caught on.
    pub rule: String,
    /// The case variants that failed on that rule.
    pub caught_by: Vec<String>,
}

impl MutantSummary {
    /// `caught on RULE by A, B`, or `not caught on RULE`, each name spelled by `name`.
    fn verdict(&self, name: impl Fn(&str) -> String) -> String {
        if self.caught_by.is_empty() {
            return format!("not caught on {}", name(&self.rule));
        }
        let by: Vec<String> = self.caught_by.iter().map(|c| name(c)).collect();
        format!("caught on {} by {}", name(&self.rule), by.join(", "))
    }
}

pub(super) fn case_line(c: &CaseResult) -> CaseLine {
    let detail = match c.status {
        Status::NotApplicable => c.reason.clone().unwrap_or_default(),
        _ if c.error.is_some() => c.error.clone().unwrap_or_default(),
        _ => {
            let mut rules: Vec<&str> = c.failures.iter().map(|f| f.rule.as_str()).collect();
            rules.dedup();
            rules.join(", ")
        }
    };
    CaseLine {
        case: c.name.clone(),
        status: c.status.word().to_string(),
        detail,
    }
}

pub(super) fn summarize(shim: &ShimResults, ran: usize) -> ConfigSummary {
    ConfigSummary {
        name: shim.shim.name.clone(),
        ran,
        judged: shim
            .cases
            .iter()
            .filter(|c| c.status != Status::NotApplicable)
            .count(),
        cases: shim.cases.iter().map(case_line).collect(),
        rules: shim
            .rules
            .iter()
            .map(|r| RuleLine {
                rule: r.rule.clone(),
                verdict: r.verdict.word().to_string(),
                reason: r.reason.clone().unwrap_or_default(),
            })
            .collect(),
        replays: Vec::new(),
    }
}

/// What a rule's verdict on the bridge is a verdict on: the kernel's code, or the bridge's own
/// C test drivers (the exporters and importers of `kernel/revoke_spec_kunit.c`, written from the
/// book), which play the roles the rule binds while the real core runs underneath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgedOn {
    /// The rule binds the core (`drivers/dma-buf/dma-buf.c`, `dma-resv.c`): kernel code.
    Core,
    /// The rule binds both: its callers (played by the test drivers) and the core's handling
    /// of the call (kernel code).
    CoreAndDrivers,
    /// The rule binds exporters or importers only: the verdict is the test driver's.
    Drivers,
}

impl JudgedOn {
    /// Reads it from the rule's ID (`*.core.*`, `*.exporter.*`, `*.importer.*`), or, for the
    /// rules whose ID names no role, from what the rule text binds.
    pub fn of(rule: &str) -> Option<JudgedOn> {
        if rule.contains(".core.") {
            return Some(JudgedOn::Core);
        }
        if rule.contains(".exporter.") || rule.contains(".importer.") {
            return Some(JudgedOn::Drivers);
        }
        Some(match rule {
            // "The core MUST ...", the core's functions, or dma-resv.
            "attach.dynamic.ops-attach-unlocked"
            | "attach.dynamic.link-after-ops-attach"
            | "attach.revocable.definition"
            | "cpu.no-op.einval"
            | "fence.bookkeep-covers-all"
            | "map.static.pin-on-map"
            | "map.static.kernel-wait"
            | "map.static.unpin-on-error"
            | "map.dynamic.no-pin-no-wait"
            | "teardown.release.once"
            | "teardown.release.nothing-left" => JudgedOn::Core,
            // "X MUST be called with/without the lock; the core calls the op with/without it".
            // "A driver MUST NOT make a call that never returns": the core and the drivers.
            "map.lock.held" | "cpu.vmap.lock-held" | "cpu.mmap.unlocked" | "lock.no-deadlock" => {
                JudgedOn::CoreAndDrivers
            }
            // An exporter or an importer MUST/MAY ...
            "attach.peer2peer.refuse"
            | "attach.revocable.check-in-attach"
            | "cpu.revoked.enodev"
            | "pin.lock.held"
            | "revoke.restore.notify"
            | "revoke.restore.count-ready"
            | "revoke.restore.dynamic-remaps"
            | "revoke.pinned.permanent" => JudgedOn::Drivers,
            _ => return None,
        })
    }

    fn heading(self) -> &'static str {
        match self {
            JudgedOn::Core => "Rules of the core: judged on kernel code",
            JudgedOn::CoreAndDrivers => {
                "Rules of the core and its callers: judged on kernel code, with the bridge's test drivers as callers"
            }
            JudgedOn::Drivers => {
                "Rules of exporters and importers: judged on the bridge's own C test drivers, not on kernel code"
            }
        }
    }
}

/// The book's per-rule table, rendered from a summary (written next to it as `.md`): one
/// table per [`JudgedOn`], so that what the kernel's code did stands apart from what the
/// bridge's test drivers did.
pub fn table_md(s: &BridgeSummary) -> String {
    let mut out = String::new();
    let Some(first) = s.configs.first() else {
        return out;
    };
    for on in [JudgedOn::Core, JudgedOn::CoreAndDrivers, JudgedOn::Drivers] {
        let rows: Vec<usize> = (0..first.rules.len())
            .filter(|&i| JudgedOn::of(&first.rules[i].rule).unwrap_or(JudgedOn::Drivers) == on)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "**{}**\n", on.heading());
        header_row(&mut out, &["rule"], s);
        for i in rows {
            let r = &first.rules[i];
            match judge::spec().rule(&r.rule) {
                Some(def) => {
                    let _ = write!(out, "| [`{}`]({}) |", r.rule, def.anchor());
                }
                None => {
                    let _ = write!(out, "| `{}` |", r.rule);
                }
            }
            for c in &s.configs {
                let _ = write!(out, " {} |", verdict_cell(&c.rules[i]));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "*not-applicable (since X)*: the rule holds from Linux X on (or with the option \
         named). *not-applicable (no case judged)*: every case that checks the rule is not applicable to this \
         kernel; the report of `revoke-conformance kernel` gives each case's reason. A verdict \
         in the last table is the bridge's C test driver's, the real core running underneath: \
         it shows the book's reading can be followed on this kernel, not that a driver of the \
         kernel follows it."
    );
    for c in &s.configs {
        let count = |on: JudgedOn| {
            c.rules
                .iter()
                .filter(|r| {
                    r.verdict != Verdict::NotApplicable.word()
                        && JudgedOn::of(&r.rule).unwrap_or(JudgedOn::Drivers) == on
                })
                .count()
        };
        let _ = writeln!(
            out,
            "\n{}: {} case variants ran on the kernel, {} were judged; rules judged: {} of the \
             core, {} of the core and its callers, {} of the test drivers.",
            c.name,
            c.ran,
            c.judged,
            count(JudgedOn::Core),
            count(JudgedOn::CoreAndDrivers),
            count(JudgedOn::Drivers)
        );
    }
    out
}

/// Where the replays' table of the summary at `path` is written: `linux-7.2-replays.md` next
/// to `linux-7.2.json`.
pub fn replays_table_path(path: &std::path::Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("summary");
    path.with_file_name(format!("{stem}-replays.md"))
}

/// The book's table of the racy cases' schedules replayed on the kernel, rendered from a
/// summary (written next to it, see [`replays_table_path`]).
pub fn replays_table_md(s: &BridgeSummary) -> String {
    let mut out = String::new();
    replays_md(s, &mut out);
    out
}

/// A table's header: the given columns, then one per configuration.
fn header_row(out: &mut String, first: &[&str], s: &BridgeSummary) {
    let _ = write!(out, "|");
    for c in first {
        let _ = write!(out, " {c} |");
    }
    for c in &s.configs {
        let _ = write!(out, " {} |", c.name);
    }
    let _ = write!(out, "\n|{}", "---|".repeat(first.len()));
    for _ in &s.configs {
        let _ = write!(out, "---|");
    }
    out.push('\n');
}

/// The number of `note` among the notes under a table (added if new), from 1.
fn note_number(notes: &mut Vec<String>, note: String) -> usize {
    match notes.iter().position(|x| *x == note) {
        Some(n) => n + 1,
        None => {
            notes.push(note);
            notes.len()
        }
    }
}

/// The table of the racy cases' schedules replayed on the kernel: one row per schedule, one
/// column per configuration; the reasons and the differences from the model's trace below it.
fn replays_md(s: &BridgeSummary, out: &mut String) {
    let Some(first) = s.configs.first().filter(|c| !c.replays.is_empty()) else {
        return;
    };
    header_row(out, &["case", "schedule", "preemptions"], s);
    let mut notes: Vec<String> = Vec::new();
    for (i, r) in first.replays.iter().enumerate() {
        let _ = write!(out, "| `{}` | {} | {} |", r.case, r.label, r.schedule);
        for c in &s.configs {
            let Some(l) = c.replays.get(i) else {
                let _ = write!(out, " |");
                continue;
            };
            let mut cell = match l.status.as_str() {
                "pass" => "pass".to_string(),
                "fail" => format!("fail: {}", l.detail),
                other => {
                    let n = note_number(&mut notes, format!("{other}: {}", l.detail));
                    format!("{other} ({n})")
                }
            };
            if l.model == "same" {
                cell.push_str(", trace = model's");
            } else if !l.model.is_empty() {
                let n = note_number(&mut notes, format!("trace: {}", l.model));
                cell.push_str(&format!(", trace differs ({n})"));
            }
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push('\n');
    for (n, note) in notes.iter().enumerate() {
        let _ = writeln!(out, "({}) {}\n", n + 1, note);
    }
    for m in &s.replay_mutants {
        let _ = writeln!(
            out,
            "The mutant C driver `{}` on {}: {}.\n",
            m.mutant,
            m.config,
            m.verdict(|c| format!("`{c}`"))
        );
    }
}

/// A verdict as the book's table shows it, with the short reason of a rule not applicable.
fn verdict_cell(r: &RuleLine) -> String {
    if r.verdict != Verdict::NotApplicable.word() {
        return r.verdict.clone();
    }
    match r.reason.split_once(" holds since Linux ") {
        Some((_, rest)) => {
            let version = rest.split([';', ' ']).next().unwrap_or(rest);
            let option = rest
                .split_once("(earlier only with ")
                .and_then(|(_, o)| o.split_once(')'))
                .map(|(o, _)| format!(", or earlier with {o}"))
                .unwrap_or_default();
            format!("not-applicable (since {version}{option})")
        }
        None if r.reason.is_empty() => "not-applicable (no case judged)".to_string(),
        None => format!("not-applicable ({})", r.reason),
    }
}

pub(super) fn human_notes(s: &BridgeSummary) -> String {
    let mut out = String::new();
    for c in &s.configs {
        let _ = writeln!(
            out,
            "{}: {} case variants ran on the kernel, {} judged",
            c.name, c.ran, c.judged
        );
        for r in c.rules.iter().filter(|r| !r.reason.is_empty()) {
            let _ = writeln!(out, "    {} {}: {}", r.rule, r.verdict, r.reason);
        }
    }
    for c in &s.configs {
        for r in &c.replays {
            let _ = writeln!(
                out,
                "{}: replay of {} ({}; {}): {}{}{}",
                c.name,
                r.case,
                r.label,
                r.schedule,
                r.status,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.detail)
                },
                if r.model.is_empty() {
                    String::new()
                } else {
                    format!("; trace vs the model's: {}", r.model)
                }
            );
        }
    }
    for m in s.mutants.iter().chain(&s.replay_mutants) {
        let _ = writeln!(
            out,
            "mutant {} on {}: {}",
            m.mutant,
            m.config,
            m.verdict(|c| c.to_string())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_of_the_book_says_what_it_is_judged_on() {
        for r in judge::spec().rules {
            assert!(
                JudgedOn::of(r.id).is_some(),
                "{}: say in JudgedOn::of whether it binds the core or the drivers",
                r.id
            );
        }
        assert_eq!(JudgedOn::of("map.core.no-cache"), Some(JudgedOn::Core));
        assert_eq!(
            JudgedOn::of("revoke.exporter.wait-bookkeep"),
            Some(JudgedOn::Drivers)
        );
    }

    #[test]
    fn the_committed_tables_are_rendered_from_the_committed_summaries() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../book/src/kernel");
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("book/src/kernel") {
            let path = e.expect("entry").path();
            if path.extension().and_then(|x| x.to_str()) != Some("json")
                || !path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("linux-"))
            {
                continue;
            }
            let json = std::fs::read_to_string(&path).expect("read");
            let s: BridgeSummary = serde_json::from_str(&json).expect("a bridge summary");
            let md = std::fs::read_to_string(path.with_extension("md")).expect("its table");
            let replays = std::fs::read_to_string(replays_table_path(&path)).unwrap_or_default();
            assert!(
                replays == replays_table_md(&s),
                "{} is not rendered from {}",
                replays_table_path(&path).display(),
                path.display()
            );
            assert!(
                md == table_md(&s),
                "{} is not rendered from {} (run `revoke-conformance kernel --render-summary {}`)",
                path.with_extension("md").display(),
                path.display(),
                path.display()
            );
            n += 1;
        }
        assert!(n > 0);
    }
}
