//! Known failures of a driver: an expectations file lists case variants that fail, each with
//! the MUST rules it breaks, a reason, optionally a bug link and an expiry date. A listed case
//! that fails breaking exactly those rules is an `expected-fail`, and the rules are
//! `expected-violation`s; one that breaks a different set of rules fails, naming the rules
//! that are new and those that vanished (a second bug is never hidden behind the first); one
//! that passes is an `unexpected-pass` and fails the run, so the entry is removed; an expired
//! entry fails the run.
//!
//! ```toml
//! [[expected]]
//! case = "revoke_around_reset[iommufd]"   # as `revoke-conformance list` prints it
//! shim = "my-driver"                       # optional: only for this shim
//! rules = ["revoke.exporter.wait-bookkeep"] # the MUST rules it breaks ([] if it only crashes)
//! reason = "revoke does not wait for unmaps yet"
//! bug = "https://bugs.example.org/1234"    # optional
//! expires = "2027-06-30"                   # optional: fails the run from this day on
//! ```

use std::collections::BTreeSet;

use time::Date;
use time::macros::format_description;

use crate::results::{CaseResult, RunResults, Status};
use crate::{OnFailure, Strength};

/// One known failure.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `case` or `case[variant]`.
    pub case: String,
    /// Only for this shim; any shim if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shim: Option<String>,
    /// The MUST rules the case breaks (required; empty for a case that fails without
    /// breaking a rule, as a crash does).
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// Why it fails.
    pub reason: String,
    /// Where it is tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug: Option<String>,
    /// `YYYY-MM-DD`: from this day on the entry fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A whole expectations file.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The entries.
    #[serde(default)]
    pub expected: Vec<Expectation>,
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("`{s}` is not a date of the form YYYY-MM-DD ({e})"))
}

/// A rule's current ID (a former ID is followed to the rule it became).
fn current_id(id: &str) -> String {
    crate::spec().rule(id).map_or(id, |r| r.id).to_string()
}

/// The MUST rules a case result broke, by current ID.
pub fn broken_rules(result: &CaseResult) -> BTreeSet<String> {
    result
        .failures
        .iter()
        .filter(|f| crate::spec().strength_of(&f.rule).on_failure() == OnFailure::Violation)
        .map(|f| current_id(&f.rule))
        .collect()
}

/// The rules (by current ID) of the case variant named `name`, if there is one.
fn rules_of_variant(name: &str) -> Option<BTreeSet<String>> {
    crate::spec().cases.iter().find_map(|c| {
        c.variants
            .iter()
            .any(|v| c.variant_name(v.label) == name)
            .then(|| c.rules.iter().map(|r| current_id(r)).collect())
    })
}

impl Expectations {
    /// Parses and validates a file: every case must exist, every entry must name the rules
    /// the case breaks (MUST rules of the book: the case's checks or any rule's monitor), give
    /// a reason and a valid date, and no case may be listed twice for the same shim.
    pub fn parse(text: &str) -> Result<Expectations, String> {
        let exps: Expectations =
            toml::from_str(text).map_err(|e| format!("malformed expectations file: {e}"))?;
        let mut seen = BTreeSet::new();
        for (i, e) in exps.expected.iter().enumerate() {
            let at = format!("entry {} (`{}`)", i + 1, e.case);
            // Any rule of the book can be broken in any case: every rule's monitor judges every
            // trace, not only the rules the case checks.
            if rules_of_variant(&e.case).is_none() {
                return Err(format!(
                    "{at}: no such case variant (see `revoke-conformance list`)"
                ));
            };
            if !seen.insert((e.case.clone(), e.shim.clone())) {
                return Err(format!(
                    "{at}: listed twice{}",
                    e.shim
                        .as_deref()
                        .map(|s| format!(" for the shim `{s}`"))
                        .unwrap_or_default()
                ));
            }
            let Some(rules) = &e.rules else {
                return Err(format!(
                    "{at}: `rules` is required: the MUST rules the case breaks, as `run` reports \
                     them (`rules = []` for a case that fails without breaking a rule); \
                     `revoke-conformance expectations --from results.json` writes them"
                ));
            };
            for r in rules {
                let Some(def) = crate::spec().rule(r) else {
                    return Err(format!(
                        "{at}: no rule `{r}` (see `revoke-conformance rules`)"
                    ));
                };
                if def.strength != Strength::Must {
                    return Err(format!(
                        "{at}: `{r}` is a {} rule: breaking it is a warning, which passes; list only MUST rules",
                        def.strength.as_str()
                    ));
                }
            }
            if e.reason.trim().is_empty() {
                return Err(format!("{at}: a reason is required"));
            }
            if let Some(d) = &e.expires {
                parse_date(d).map_err(|m| format!("{at}: {m}"))?;
            }
        }
        Ok(exps)
    }

    /// The entry for `case` run against `shim`: one naming the shim before one for any shim.
    fn entry(&self, shim: &str, case: &str) -> Option<&Expectation> {
        let of_case = || self.expected.iter().filter(move |e| e.case == case);
        of_case()
            .find(|e| e.shim.as_deref() == Some(shim))
            .or_else(|| of_case().find(|e| e.shim.is_none()))
    }

    /// Applies the entry for `result` (if any) on `today`.
    pub fn apply(&self, shim: &str, result: &mut CaseResult, today: Date) {
        let Some(e) = self.entry(shim, &result.name) else {
            return;
        };
        if result.status == Status::NotApplicable {
            return;
        }
        let expected: BTreeSet<String> = e.rules.iter().flatten().map(|r| current_id(r)).collect();
        result.reason = Some(e.reason.clone());
        result.bug = e.bug.clone();
        result.expected_rules = Some(expected.iter().cloned().collect());
        let expired = e
            .expires
            .as_deref()
            .and_then(|d| parse_date(d).ok())
            .is_some_and(|d| today >= d);
        if expired {
            result.reason = Some(format!(
                "the expectation expired on {}: {}",
                e.expires.as_deref().unwrap_or(""),
                e.reason
            ));
            result.status = Status::ExpiredExpectation;
            return;
        }
        if result.status != Status::Fail {
            result.reason = Some(format!(
                "expected to fail ({}), and it passed: remove the entry",
                e.reason
            ));
            result.status = Status::UnexpectedPass;
            return;
        }
        let broken = broken_rules(result);
        if broken == expected {
            result.status = Status::ExpectedFail;
            return;
        }
        result.new_rules = broken.difference(&expected).cloned().collect();
        result.vanished_rules = expected.difference(&broken).cloned().collect();
        result.reason = Some(changed_rules(&result.new_rules, &result.vanished_rules));
    }

    /// The entries that judged nothing in `results`, each with why: its shim did not run,
    /// or its case does not apply to the shim (or was filtered out). Stale entries hide
    /// nothing, but a reader of the file should know they are dead.
    pub fn unused(&self, results: &RunResults) -> Vec<String> {
        self.expected
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let shims: Vec<_> = results
                    .shims
                    .iter()
                    .filter(|s| e.shim.as_deref().is_none_or(|n| n == s.shim.name))
                    .collect();
                let at = format!("entry {} (`{}`)", i + 1, e.case);
                if shims.is_empty() {
                    return Some(format!(
                        "{at} was not used: its shim `{}` did not run",
                        e.shim.as_deref().unwrap_or_default()
                    ));
                }
                let used = shims.iter().any(|s| {
                    s.cases
                        .iter()
                        .any(|c| c.name == e.case && c.status != Status::NotApplicable)
                });
                (!used).then(|| {
                    format!("{at} was not used: the case is not-applicable to the shims that ran, or was not selected")
                })
            })
            .collect()
    }

    /// An expectations file listing every failure of a run, so that a driver can adopt the
    /// suite in one step and then work the list down.
    pub fn from_results(results: &RunResults, today: Date) -> Expectations {
        let mut expected = Vec::new();
        for shim in &results.shims {
            for case in shim
                .cases
                .iter()
                .filter(|c| matches!(c.status, Status::Fail | Status::ExpectedFail))
            {
                let rules: Vec<String> = broken_rules(case).into_iter().collect();
                let reason = match (&case.reason, &case.error) {
                    (Some(r), _) if case.status == Status::ExpectedFail => r.clone(),
                    (_, Some(error)) if rules.is_empty() => {
                        format!("known failure when the suite was adopted on {today}: {error}")
                    }
                    _ => format!("known failure when the suite was adopted on {today}"),
                };
                expected.push(Expectation {
                    case: case.name.clone(),
                    shim: Some(shim.shim.name.clone()),
                    rules: Some(rules),
                    reason,
                    bug: case.bug.clone(),
                    expires: None,
                });
            }
        }
        Expectations { expected }
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        let header = "# Known failures, by case variant and the MUST rules it breaks (the book's chapter\n# \"Gating CI on the suite\"). Give each a bug link; remove an entry when its case passes\n# (an unexpected pass fails the run, and so does a case that breaks other rules).\n\n";
        format!(
            "{header}{}",
            toml::to_string_pretty(self).unwrap_or_default()
        )
    }
}

/// The reason of a case that breaks other rules than its expectation names.
fn changed_rules(new: &[String], vanished: &[String]) -> String {
    let mut parts = Vec::new();
    if !new.is_empty() {
        parts.push(format!("now also breaks {}", new.join(", ")));
    }
    if !vanished.is_empty() {
        parts.push(format!("no longer breaks {}", vanished.join(", ")));
    }
    format!(
        "breaks other rules than its expectation names: {}",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Failure;

    /// A MUST rule and a SHOULD rule a case checks, and that case's first variant's name.
    fn fixture() -> (String, &'static str, &'static str, String) {
        let case = crate::spec()
            .cases
            .iter()
            .find(|c| {
                let must = c
                    .rules
                    .iter()
                    .filter(|r| crate::spec().strength_of(r) == Strength::Must)
                    .count();
                must >= 2
            })
            .expect("a case checking two MUST rules");
        let musts: Vec<&str> = case
            .rules
            .iter()
            .copied()
            .filter(|r| crate::spec().strength_of(r) == Strength::Must)
            .collect();
        let name = case.variant_name(case.variants[0].label);
        (name.clone(), musts[0], musts[1], current_id(musts[0]))
    }

    fn result(name: &str, status: Status, broken: &[&str]) -> CaseResult {
        CaseResult {
            name: name.to_string(),
            case: name.split('[').next().unwrap_or(name).to_string(),
            variant: String::new(),
            title: String::new(),
            chapter: String::new(),
            rules: Vec::new(),
            status,
            reason: None,
            bug: None,
            expected_rules: None,
            new_rules: Vec::new(),
            vanished_rules: Vec::new(),
            failures: broken
                .iter()
                .map(|r| Failure {
                    rule: r.to_string(),
                    strength: "MUST".into(),
                    anchor: String::new(),
                    expected: String::new(),
                    observed: String::new(),
                    event: None,
                    responsible: None,
                    monitor: false,
                })
                .collect(),
            root_cause: None,
            departure: None,
            error: None,
            trace_diff: None,
            trace: None,
            stderr: None,
            micros: 0,
        }
    }

    fn file(case: &str, rules: &str, extra: &str) -> String {
        format!("[[expected]]\ncase = \"{case}\"\nrules = {rules}\nreason = \"known\"\n{extra}")
    }

    fn today() -> Date {
        parse_date("2026-12-01").expect("a date")
    }

    #[test]
    fn the_same_rules_are_an_expected_failure_other_rules_fail_naming_them() {
        let (name, a, b, a_id) = fixture();
        let exps = Expectations::parse(&file(&name, &format!("[\"{a}\"]"), "")).expect("valid");

        let mut same = result(&name, Status::Fail, &[a]);
        exps.apply("any", &mut same, today());
        assert_eq!(same.status, Status::ExpectedFail);

        let mut more = result(&name, Status::Fail, &[a, b]);
        exps.apply("any", &mut more, today());
        assert_eq!(more.status, Status::Fail);
        assert_eq!(more.new_rules, vec![current_id(b)]);
        assert!(more.vanished_rules.is_empty());
        assert!(
            more.reason
                .as_deref()
                .unwrap_or("")
                .contains("now also breaks")
        );

        let mut other = result(&name, Status::Fail, &[b]);
        exps.apply("any", &mut other, today());
        assert_eq!(other.status, Status::Fail);
        assert_eq!(other.new_rules, vec![current_id(b)]);
        assert_eq!(other.vanished_rules, vec![a_id]);

        let mut fixed = result(&name, Status::Pass, &[]);
        exps.apply("any", &mut fixed, today());
        assert_eq!(fixed.status, Status::UnexpectedPass);
    }

    #[test]
    fn an_expired_entry_fails_whatever_the_case_does() {
        let (name, a, _, _) = fixture();
        let exps = Expectations::parse(&file(
            &name,
            &format!("[\"{a}\"]"),
            "expires = \"2026-12-01\"\n",
        ))
        .expect("valid");
        let mut r = result(&name, Status::Fail, &[a]);
        exps.apply("any", &mut r, today());
        assert_eq!(r.status, Status::ExpiredExpectation);
        assert!(
            r.reason
                .as_deref()
                .unwrap_or("")
                .contains("expired on 2026-12-01")
        );
    }

    #[test]
    fn an_entry_for_another_shim_does_not_apply_and_a_shims_own_entry_wins() {
        let (name, a, b, _) = fixture();
        let text = format!(
            "{}\nshim = \"mine\"\n{}",
            file(&name, &format!("[\"{a}\"]"), "").trim_end(),
            file(&name, &format!("[\"{b}\"]"), "")
        );
        let exps = Expectations::parse(&text).expect("valid");
        let mut r = result(&name, Status::Fail, &[a]);
        exps.apply("mine", &mut r, today());
        assert_eq!(r.status, Status::ExpectedFail);
        let mut r = result(&name, Status::Fail, &[a]);
        exps.apply("theirs", &mut r, today());
        assert_eq!(r.status, Status::Fail, "the entry for any shim names {b}");
    }

    #[test]
    fn bad_entries_are_refused_with_what_is_wrong() {
        let (name, a, _, _) = fixture();
        let err = |text: &str| Expectations::parse(text).expect_err("refused");
        assert!(err(&file("no_such_case", "[]", "")).contains("no such case variant"));
        let missing = format!("[[expected]]\ncase = \"{name}\"\nreason = \"known\"\n");
        assert!(err(&missing).contains("`rules` is required"));
        assert!(err(&file(&name, "[\"no.such.rule\"]", "")).contains("no rule `no.such.rule`"));
        // A rule the case does not check can still be broken in it: its monitor judges every
        // trace.
        let unchecked = rule_not_checked_by(&name);
        assert!(Expectations::parse(&file(&name, &format!("[\"{unchecked}\"]"), "")).is_ok());
        let twice = format!(
            "{}{}",
            file(&name, &format!("[\"{a}\"]"), ""),
            file(&name, &format!("[\"{a}\"]"), "")
        );
        assert!(err(&twice).contains("listed twice"));
        assert!(err(&file(&name, "[]", "expires = \"someday\"\n")).contains("YYYY-MM-DD"));
    }

    /// A MUST rule the case variant `name` does not check.
    fn rule_not_checked_by(name: &str) -> &'static str {
        let checked = rules_of_variant(name).expect("a case");
        crate::spec()
            .rules
            .iter()
            .find(|r| r.strength == Strength::Must && !checked.contains(r.id))
            .map(|r| r.id)
            .expect("a rule the case does not check")
    }
}
