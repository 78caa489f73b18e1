//! What changed from one side of a review to the other, by rule ID and case name.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::side::{RuleInfo, Side};
use crate::trace::diff_trace;

/// One field of a rule that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleField {
    /// MUST / SHOULD / MAY.
    Strength,
    /// `since=`.
    Since,
    /// `earlier-with=`.
    EarlierWith,
    /// The chapter stating it.
    Chapter,
    /// The paragraph.
    Text,
    /// Where it comes from in the kernel (its citations).
    Source,
}

/// What happened to one rule ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum RuleDiff {
    /// A new rule.
    Added {
        /// The rule as it is now.
        rule: RuleInfo,
    },
    /// A rule that is gone: `retired` holds the reason the history gives, if any.
    Removed {
        /// The rule as it was.
        rule: RuleInfo,
        /// The reason in `rules-history.toml`'s `[retired]`, when there is one.
        retired: Option<String>,
    },
    /// A rule renamed through an alias of the history file (perhaps changed too).
    Renamed {
        /// The old ID.
        from: String,
        /// The new ID.
        to: String,
        /// The fields that changed besides the ID.
        changed: Vec<(RuleField, String, String)>,
    },
    /// A rule whose ID stayed and whose fields changed: (field, old, new).
    Changed {
        /// The ID.
        id: String,
        /// Each changed field with its old and new value.
        changed: Vec<(RuleField, String, String)>,
    },
}

/// What happened to one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum CaseDiff {
    /// A new case, with the rules it names.
    Added {
        /// The case's name.
        name: String,
        /// The rules it names.
        rules: Vec<String>,
    },
    /// A case that is gone.
    Removed {
        /// The case's name.
        name: String,
    },
    /// A case whose title, chapter or rules changed.
    Changed {
        /// The case's name.
        name: String,
        /// Rules it names now and did not.
        rules_added: Vec<String>,
        /// Rules it named and no longer does.
        rules_removed: Vec<String>,
        /// Whether the title changed.
        title_changed: bool,
    },
}

/// The change of one case variant's blessed trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceDiff {
    /// The case variant (`case[variant]`).
    pub case: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// Lines removed and added once event numbers are ignored.
    pub removed: usize,
    /// Lines added.
    pub added: usize,
    /// The unified diff (empty for an added or removed trace).
    pub diff: String,
}

/// A verdict of one shim that differs between the sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictChange {
    /// The shim.
    pub shim: String,
    /// `case` or `rule`.
    pub kind: String,
    /// The case variant or rule ID.
    pub name: String,
    /// Before (`-` when absent).
    pub old: String,
    /// After (`-` when absent).
    pub new: String,
}

/// Everything a reviewer of a spec change needs, by ID.
#[derive(Debug, Clone, Serialize)]
pub struct SpecDiff {
    /// The base side's label.
    pub base: String,
    /// The head side's label.
    pub head: String,
    /// Rule counts on each side.
    pub rule_counts: (usize, usize),
    /// Rules added, removed, renamed or changed.
    pub rules: Vec<RuleDiff>,
    /// Rule IDs that disappeared with neither an alias nor a retirement entry at head.
    pub unexplained_removals: Vec<String>,
    /// Cases added, removed or changed.
    pub cases: Vec<CaseDiff>,
    /// Blessed traces that changed.
    pub traces: Vec<TraceDiff>,
    /// Verdicts that changed, for every in-tree shim good and broken.
    pub verdicts: Vec<VerdictChange>,
    /// Why verdicts could not be compared, when they could not.
    pub verdicts_unavailable: Option<String>,
}

fn fields(old: &RuleInfo, new: &RuleInfo) -> Vec<(RuleField, String, String)> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".to_string());
    let mut out = Vec::new();
    if old.strength != new.strength {
        out.push((
            RuleField::Strength,
            old.strength.clone(),
            new.strength.clone(),
        ));
    }
    if old.since != new.since {
        out.push((RuleField::Since, opt(&old.since), opt(&new.since)));
    }
    if old.earlier_with != new.earlier_with {
        out.push((
            RuleField::EarlierWith,
            opt(&old.earlier_with),
            opt(&new.earlier_with),
        ));
    }
    if old.chapter != new.chapter {
        out.push((RuleField::Chapter, old.chapter.clone(), new.chapter.clone()));
    }
    if old.sources != new.sources {
        out.push((
            RuleField::Source,
            old.sources.join("; "),
            new.sources.join("; "),
        ));
    }
    let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    if norm(&old.text) != norm(&new.text) {
        out.push((RuleField::Text, old.text.clone(), new.text.clone()));
    }
    out
}

impl SpecDiff {
    /// Compares two sides.
    pub fn between(base: &Side, head: &Side) -> SpecDiff {
        let mut rules = Vec::new();
        let mut unexplained = Vec::new();
        let mut renamed_to = BTreeSet::new();
        for (id, old) in &base.rules {
            match head.rules.get(id) {
                Some(new) => {
                    let changed = fields(old, new);
                    if !changed.is_empty() {
                        rules.push(RuleDiff::Changed {
                            id: id.clone(),
                            changed,
                        });
                    }
                }
                None => match head.aliases.get(id).and_then(|to| head.rules.get(to)) {
                    Some(new) => {
                        renamed_to.insert(new.id.clone());
                        rules.push(RuleDiff::Renamed {
                            from: id.clone(),
                            to: new.id.clone(),
                            changed: fields(old, new),
                        });
                    }
                    None => {
                        let retired = head.retired.get(id).cloned();
                        if retired.is_none() {
                            unexplained.push(id.clone());
                        }
                        rules.push(RuleDiff::Removed {
                            rule: old.clone(),
                            retired,
                        });
                    }
                },
            }
        }
        for (id, new) in &head.rules {
            if !base.rules.contains_key(id) && !renamed_to.contains(id) {
                rules.push(RuleDiff::Added { rule: new.clone() });
            }
        }

        let mut cases = Vec::new();
        for (name, old) in &base.cases {
            match head.cases.get(name) {
                None => cases.push(CaseDiff::Removed { name: name.clone() }),
                Some(new) if new != old => {
                    let before: BTreeSet<&String> = old.rules.iter().collect();
                    let after: BTreeSet<&String> = new.rules.iter().collect();
                    cases.push(CaseDiff::Changed {
                        name: name.clone(),
                        rules_added: after.difference(&before).map(|s| s.to_string()).collect(),
                        rules_removed: before.difference(&after).map(|s| s.to_string()).collect(),
                        title_changed: old.title != new.title,
                    });
                }
                Some(_) => {}
            }
        }
        for (name, new) in &head.cases {
            if !base.cases.contains_key(name) {
                cases.push(CaseDiff::Added {
                    name: name.clone(),
                    rules: new.rules.clone(),
                });
            }
        }

        let mut traces = Vec::new();
        let names: BTreeSet<&String> = base.traces.keys().chain(head.traces.keys()).collect();
        for name in names {
            let entry = match (base.traces.get(name), head.traces.get(name)) {
                (Some(old), Some(new)) => {
                    diff_trace(old, new).map(|(diff, removed, added)| TraceDiff {
                        case: name.clone(),
                        change: "changed".into(),
                        removed,
                        added,
                        diff,
                    })
                }
                (None, Some(new)) => Some(TraceDiff {
                    case: name.clone(),
                    change: "added".into(),
                    removed: 0,
                    added: new.lines().count(),
                    diff: String::new(),
                }),
                (Some(old), None) => Some(TraceDiff {
                    case: name.clone(),
                    change: "removed".into(),
                    removed: old.lines().count(),
                    added: 0,
                    diff: String::new(),
                }),
                (None, None) => None,
            };
            traces.extend(entry);
        }

        let (verdicts, verdicts_unavailable) = match (&base.verdicts, &head.verdicts) {
            (Some(Ok(old)), Some(Ok(new))) => (verdict_changes(old, new), None),
            (Some(Err(e)), _) => (Vec::new(), Some(format!("{}: {e}", base.label))),
            (_, Some(Err(e))) => (Vec::new(), Some(format!("{}: {e}", head.label))),
            _ => (Vec::new(), Some("not computed (--no-verdicts)".to_string())),
        };

        SpecDiff {
            base: base.label.clone(),
            head: head.label.clone(),
            rule_counts: (base.rules.len(), head.rules.len()),
            rules,
            unexplained_removals: unexplained,
            cases,
            traces,
            verdicts,
            verdicts_unavailable,
        }
    }

    /// Whether nothing at all changed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
            && self.cases.is_empty()
            && self.traces.is_empty()
            && self.verdicts.is_empty()
    }
}

fn verdict_changes(old: &crate::Verdicts, new: &crate::Verdicts) -> Vec<VerdictChange> {
    let mut out = Vec::new();
    for (kind, before, after) in [
        ("case", &old.cases, &new.cases),
        ("rule", &old.rules, &new.rules),
    ] {
        let shims: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        let empty = BTreeMap::new();
        for shim in shims {
            let b = before.get(shim).unwrap_or(&empty);
            let a = after.get(shim).unwrap_or(&empty);
            let names: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for name in names {
                let (o, n) = (b.get(name), a.get(name));
                if o != n {
                    out.push(VerdictChange {
                        shim: shim.clone(),
                        kind: kind.to_string(),
                        name: name.clone(),
                        old: o.cloned().unwrap_or_else(|| "-".into()),
                        new: n.cloned().unwrap_or_else(|| "-".into()),
                    });
                }
            }
        }
    }
    out
}
