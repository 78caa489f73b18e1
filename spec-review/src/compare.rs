//! Two result files of a driver compared: what changed, by shim, case and rule.

use serde::Serialize;

use crate::side::Verdicts;

/// A case whose status changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseChange {
    /// The shim.
    pub shim: String,
    /// The case variant.
    pub case: String,
    /// The old status (`-` when the case did not run).
    pub old: String,
    /// The new status (`-` when the case did not run).
    pub new: String,
}

/// A rule whose verdict changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleChange {
    /// The shim.
    pub shim: String,
    /// The rule ID.
    pub rule: String,
    /// The old verdict (`-` when not judged).
    pub old: String,
    /// The new verdict (`-` when not judged).
    pub new: String,
}

/// What changed between two result files.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Cases whose status changed.
    pub cases: Vec<CaseChange>,
    /// Rules whose verdict changed.
    pub rules: Vec<RuleChange>,
    /// Cases that pass now and failed before.
    pub fixed: usize,
    /// Cases that fail now and passed before (or did not run).
    pub regressed: usize,
    /// The spec revisions the two results were judged by (`provenance.spec`), when they
    /// differ: a change of verdict may then come from the rules, not from the driver.
    pub spec_changed: Option<(String, String)>,
    /// Rules whose text hash differs between the two results' provenance.
    pub rules_reworded: Vec<String>,
}

impl Comparison {
    /// Compares the JSON of two runs (`revoke-conformance run --format json`).
    pub fn of_results(
        old_json: &serde_json::Value,
        new_json: &serde_json::Value,
    ) -> Result<Self, String> {
        let (old, new) = (old_json, new_json);
        let none = serde_json::Value::Array(Vec::new());
        let old = Verdicts::from_results(old, &none).map_err(|e| format!("old results: {e}"))?;
        let new = Verdicts::from_results(new, &none).map_err(|e| format!("new results: {e}"))?;
        let mut cases = Vec::new();
        let mut rules = Vec::new();
        for change in crate::diff::SpecDiff::between(
            &crate::Side::default().with_verdicts(Ok(old)),
            &crate::Side::default().with_verdicts(Ok(new)),
        )
        .verdicts
        {
            if change.kind == "case" {
                cases.push(CaseChange {
                    shim: change.shim,
                    case: change.name,
                    old: change.old,
                    new: change.new,
                });
            } else {
                rules.push(RuleChange {
                    shim: change.shim,
                    rule: change.name,
                    old: change.old,
                    new: change.new,
                });
            }
        }
        let fixed = cases
            .iter()
            .filter(|c| c.old == "fail" && c.new == "pass")
            .count();
        let regressed = cases
            .iter()
            .filter(|c| c.new == "fail" && c.old != "fail")
            .count();
        let spec =
            |j: &serde_json::Value| j["provenance"]["spec"].as_str().unwrap_or("").to_string();
        let (old_spec, new_spec) = (spec(old_json), spec(new_json));
        let spec_changed = (old_spec != new_spec).then_some((old_spec, new_spec));
        let hashes = |j: &serde_json::Value| {
            j["provenance"]["rules"]
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let (old_rules, new_rules) = (hashes(old_json), hashes(new_json));
        let rules_reworded = old_rules
            .iter()
            .filter(|(id, h)| new_rules.get(*id).is_some_and(|n| n != *h))
            .map(|(id, _)| id.clone())
            .collect();
        Ok(Comparison {
            cases,
            rules,
            fixed,
            regressed,
            spec_changed,
            rules_reworded,
        })
    }

    /// The comparison as Markdown (a job summary, or a terminal).
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## Results compared\n\n{} case(s) changed status ({} fixed, {} regressed); {} rule verdict(s) changed.\n",
            self.cases.len(),
            self.fixed,
            self.regressed,
            self.rules.len()
        );
        if let Some((old, new)) = &self.spec_changed {
            out.push_str(&format!(
                "\n> The two results were judged by different revisions of the spec (`{}` → `{}`){}: a changed verdict may come from the rules, not the driver.\n",
                if old.is_empty() { "unknown" } else { old },
                if new.is_empty() { "unknown" } else { new },
                if self.rules_reworded.is_empty() {
                    String::new()
                } else {
                    format!("; reworded: {}", self.rules_reworded.join(", "))
                }
            ));
        }
        if !self.cases.is_empty() {
            out.push_str("\n| shim | case | before | after |\n|---|---|---|---|\n");
            for c in &self.cases {
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} |\n",
                    crate::markdown::cell(&c.shim),
                    crate::markdown::cell(&c.case),
                    c.old,
                    c.new
                ));
            }
        }
        if !self.rules.is_empty() {
            out.push_str("\n| shim | rule | before | after |\n|---|---|---|---|\n");
            for r in &self.rules {
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} |\n",
                    crate::markdown::cell(&r.shim),
                    crate::markdown::cell(&r.rule),
                    r.old,
                    r.new
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(status: &str, verdict: &str) -> serde_json::Value {
        json!({"shims": [{"shim": {"name": "my-importer"},
            "cases": [{"name": "revoke_around_reset[iommufd]", "status": status},
                      {"name": "orderly_teardown[iommufd]", "status": "pass"}],
            "rules": [{"rule": "revoke.importer.unmap-bounded", "verdict": verdict}]}]})
    }

    #[test]
    fn a_regression_is_one_case_and_one_rule() {
        let c = Comparison::of_results(&run("pass", "conformant"), &run("fail", "violated"))
            .expect("valid results");
        assert_eq!(c.regressed, 1);
        assert_eq!(c.fixed, 0);
        assert_eq!(c.cases.len(), 1);
        assert_eq!(c.cases[0].case, "revoke_around_reset[iommufd]");
        assert_eq!(
            (c.rules[0].old.as_str(), c.rules[0].new.as_str()),
            ("conformant", "violated")
        );
        assert!(
            c.markdown()
                .contains("| my-importer | `revoke_around_reset[iommufd]` | pass | fail |")
        );
    }

    #[test]
    fn results_of_another_spec_revision_are_flagged() {
        let mut old = run("pass", "conformant");
        old["provenance"] =
            json!({"spec": "aaaa", "rules": {"revoke.importer.unmap-bounded": "11"}});
        let mut new = run("pass", "conformant");
        new["provenance"] =
            json!({"spec": "bbbb", "rules": {"revoke.importer.unmap-bounded": "22"}});
        let c = Comparison::of_results(&old, &new).expect("valid results");
        assert_eq!(c.spec_changed, Some(("aaaa".into(), "bbbb".into())));
        assert_eq!(c.rules_reworded, vec!["revoke.importer.unmap-bounded"]);
        assert!(
            c.markdown()
                .contains("judged by different revisions of the spec (`aaaa` → `bbbb`)")
        );
        let same = Comparison::of_results(&old, &old).expect("valid results");
        assert_eq!(same.spec_changed, None);
    }

    #[test]
    fn the_same_results_compare_equal_and_garbage_is_an_error() {
        let c = Comparison::of_results(&run("pass", "conformant"), &run("pass", "conformant"))
            .expect("valid results");
        assert!(c.cases.is_empty() && c.rules.is_empty());
        assert!(Comparison::of_results(&json!({"x": 1}), &run("pass", "conformant")).is_err());
    }
}
