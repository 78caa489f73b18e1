//! The spec diff as Markdown, for a pull request comment or a CI job summary.

use similar::{ChangeTag, TextDiff};

use crate::diff::{CaseDiff, RuleDiff, RuleField, SpecDiff};

/// Text made safe for one Markdown table cell.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A word diff of two paragraphs: each run of removed words struck through, each run of
/// added words in bold.
pub(crate) fn word_diff(old: &str, new: &str) -> String {
    let (old, new) = (squash(old), squash(new));
    let diff = TextDiff::from_words(&old, &new);
    let mut out = String::new();
    let (mut removed, mut added) = (String::new(), String::new());
    let flush = |out: &mut String, removed: &mut String, added: &mut String| {
        if !removed.trim().is_empty() {
            out.push_str(&format!("~~{}~~", removed.trim()));
        }
        if !added.trim().is_empty() {
            out.push_str(&format!("**{}**", added.trim()));
        }
        let trailing = added.ends_with(' ') || (added.is_empty() && removed.ends_with(' '));
        if trailing {
            out.push(' ');
        }
        removed.clear();
        added.clear();
    };
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Equal => {
                flush(&mut out, &mut removed, &mut added);
                out.push_str(change.value());
            }
            ChangeTag::Delete => removed.push_str(change.value()),
            ChangeTag::Insert => added.push_str(change.value()),
        }
    }
    flush(&mut out, &mut removed, &mut added);
    out
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn field_name(f: &RuleField) -> &'static str {
    match f {
        RuleField::Strength => "strength",
        RuleField::Since => "since",
        RuleField::EarlierWith => "earlier-with",
        RuleField::Chapter => "chapter",
        RuleField::Text => "text",
        RuleField::Source => "source",
    }
}

fn describe_fields(out: &mut String, changed: &[(RuleField, String, String)]) {
    for (field, old, new) in changed {
        match field {
            RuleField::Text => out.push_str(&format!("  - text: {}\n", word_diff(old, new))),
            RuleField::Source => out.push_str(&format!(
                "  - source: {} → {}\n",
                if old.is_empty() { "none" } else { old },
                if new.is_empty() { "none" } else { new }
            )),
            _ => out.push_str(&format!(
                "  - {}: `{}` → `{}`\n",
                field_name(field),
                old,
                new
            )),
        }
    }
}

impl SpecDiff {
    /// The diff as Markdown: a summary line, then rules, cases, verdicts and traces.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## Spec diff: {} → {}\n\n{} rules → {} rules; {} rule change(s), {} case change(s), {} trace(s) changed, {} verdict(s) changed.\n",
            self.base,
            self.head,
            self.rule_counts.0,
            self.rule_counts.1,
            self.rules.len(),
            self.cases.len(),
            self.traces.len(),
            self.verdicts.len()
        );
        if self.is_empty() {
            out.push_str("\nNothing normative changed.\n");
            return out;
        }
        if !self.unexplained_removals.is_empty() {
            out.push_str(&format!(
                "\n> **Rule IDs removed without an alias or a retirement entry** (IDs are forever; add them to `book/rules-history.toml`): {}\n",
                self.unexplained_removals
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.rules.is_empty() {
            out.push_str("\n### Rules\n\n");
            for r in &self.rules {
                match r {
                    RuleDiff::Added { rule } => out.push_str(&format!(
                        "- **added** `{}` ({}{}, {}): {}\n",
                        rule.id,
                        rule.strength,
                        rule.since
                            .as_deref()
                            .map(|s| format!(", since {s}"))
                            .unwrap_or_default(),
                        rule.chapter,
                        squash(&rule.text)
                    )),
                    RuleDiff::Removed { rule, retired } => out.push_str(&format!(
                        "- **removed** `{}` ({}): {}\n",
                        rule.id,
                        rule.strength,
                        retired
                            .as_deref()
                            .map(|r| format!("retired: {r}"))
                            .unwrap_or_else(|| "no alias or retirement entry".to_string())
                    )),
                    RuleDiff::Renamed { from, to, changed } => {
                        out.push_str(&format!("- **renamed** `{from}` → `{to}`\n"));
                        describe_fields(&mut out, changed);
                    }
                    RuleDiff::Changed { id, changed } => {
                        out.push_str(&format!("- **changed** `{id}`\n"));
                        describe_fields(&mut out, changed);
                    }
                }
            }
        }
        if !self.cases.is_empty() {
            out.push_str("\n### Cases\n\n");
            for c in &self.cases {
                match c {
                    CaseDiff::Added { name, rules } => out.push_str(&format!(
                        "- **added** `{name}` checks {}\n",
                        rules
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    CaseDiff::Removed { name } => {
                        out.push_str(&format!("- **removed** `{name}`\n"));
                    }
                    CaseDiff::Changed {
                        name,
                        rules_added,
                        rules_removed,
                        title_changed,
                    } => {
                        let mut what = Vec::new();
                        if !rules_added.is_empty() {
                            what.push(format!("now checks {}", rules_added.join(", ")));
                        }
                        if !rules_removed.is_empty() {
                            what.push(format!("no longer checks {}", rules_removed.join(", ")));
                        }
                        if *title_changed {
                            what.push("new title".to_string());
                        }
                        out.push_str(&format!("- **changed** `{name}`: {}\n", what.join("; ")));
                    }
                }
            }
        }
        out.push_str("\n### Verdicts of the in-tree shims\n\n");
        match (&self.verdicts_unavailable, self.verdicts.is_empty()) {
            (Some(why), _) => out.push_str(&format!("Not compared: {why}\n")),
            (None, true) => out.push_str("No verdict changed for any shim, good or broken.\n"),
            (None, false) => {
                // A case that is new (or gone) and does not apply to a shim is no news for it:
                // the JSON keeps those rows, the table leaves them out and counts them.
                let quiet = |v: &&crate::VerdictChange| {
                    let na = |s: &str| s == "not-applicable" || s == "n/a";
                    (v.old == "-" && na(&v.new)) || (na(&v.old) && v.new == "-")
                };
                let shown: Vec<_> = self.verdicts.iter().filter(|v| !quiet(v)).collect();
                let hidden = self.verdicts.len() - shown.len();
                if hidden > 0 {
                    out.push_str(&format!(
                        "({hidden} row(s) of new or removed cases that do not apply to a shim are left out.)\n\n"
                    ));
                }
                out.push_str("| shim | case or rule | before | after |\n|---|---|---|---|\n");
                for v in shown {
                    out.push_str(&format!(
                        "| {} | {} `{}` | {} | {} |\n",
                        cell(&v.shim),
                        v.kind,
                        cell(&v.name),
                        v.old,
                        v.new
                    ));
                }
            }
        }
        if !self.traces.is_empty() {
            out.push_str("\n### Blessed traces (event numbers ignored)\n\n");
            for t in &self.traces {
                out.push_str(&format!(
                    "<details><summary><code>{}</code>: {} (−{} +{})</summary>\n\n",
                    t.case, t.change, t.removed, t.added
                ));
                if !t.diff.is_empty() {
                    out.push_str(&format!("```diff\n{}```\n", t.diff));
                }
                out.push_str("\n</details>\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_diff_marks_only_the_changed_words() {
        assert_eq!(
            word_diff(
                "The exporter MUST wait\nfor fences.",
                "The exporter SHOULD wait for fences."
            ),
            "The exporter ~~MUST~~**SHOULD** wait for fences."
        );
        assert_eq!(
            word_diff(
                "Between its callback and its unmap, x",
                "After its callback, x"
            ),
            "~~Between~~**After** its ~~callback and its unmap,~~**callback,** x"
        );
    }

    #[test]
    fn cells_cannot_break_a_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
