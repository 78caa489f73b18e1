//! The output formats of a run: a human report, JSON, JUnit XML and KTAP. Each gives the
//! per-case results and the per-rule verdicts.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::{CaseResult, RunResults, ShimResults, Status, Verdict};

fn case_line(out: &mut String, c: &CaseResult) {
    let extra = match (c.status, &c.reason) {
        (
            Status::NotApplicable
            | Status::ExpectedFail
            | Status::UnexpectedPass
            | Status::ExpiredExpectation,
            Some(r),
        ) => {
            let bug = c
                .bug
                .as_deref()
                .map(|b| format!(", {b}"))
                .unwrap_or_default();
            format!("  ({r}{bug})")
        }
        _ => String::new(),
    };
    let _ = writeln!(out, "{:<5} {}{extra}", c.status.word(), c.name);
}

fn failure_details(out: &mut String, shim: &ShimResults, c: &CaseResult, book_url: &str) {
    let _ = writeln!(
        out,
        "\n=== {} {} on {} ({})",
        c.status.word(),
        c.name,
        shim.shim.name,
        c.chapter
    );
    let _ = writeln!(out, "    {}", c.title);
    if let Some(e) = &c.error {
        let _ = writeln!(out, "  the scenario did not run to its end: {e}");
    }
    for f in &c.failures {
        let _ = writeln!(
            out,
            "  violated {} rule {}  {book_url}{}",
            f.strength, f.rule, f.anchor
        );
        let _ = writeln!(out, "    expected: {}", f.expected);
        let _ = writeln!(out, "    observed: {}", f.observed);
    }
    if let Some(diff) = &c.trace_diff {
        let _ = writeln!(
            out,
            "  trace, reference (-) against {} (+):",
            shim.shim.name
        );
        for line in diff.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    if let Some(stderr) = c.stderr.as_deref().filter(|s| !s.trim().is_empty()) {
        let _ = writeln!(out, "  the shim's standard error during the case:");
        for line in stderr.lines() {
            let _ = writeln!(out, "    | {line}");
        }
    }
}

/// The human report: per shim, a line per case and every failure in full (the rules broken
/// with links into the book, what was expected and observed, the shim's trace against the
/// reference's); then the verdict of every rule for every shim; then `N passed, N failed`.
pub fn human(results: &RunResults, book_url: &str) -> String {
    let mut out = String::new();
    for shim in &results.shims {
        let s = &shim.shim;
        let _ = writeln!(
            out,
            "== {} ({}; plays {})",
            s.name,
            s.role,
            s.plays.join(", ")
        );
        for c in &shim.cases {
            case_line(&mut out, c);
        }
    }
    for shim in &results.shims {
        for c in shim
            .cases
            .iter()
            .filter(|c| !c.failures.is_empty() || c.error.is_some())
        {
            failure_details(&mut out, shim, c, book_url);
        }
    }
    let _ = writeln!(out, "\n{}", matrix(results));
    if results.partial {
        let _ = writeln!(out, "the run was interrupted: these results are partial");
    }
    let s = &results.summary;
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        s.passed, s.failed, s.not_applicable
    );
    out
}

/// The per-rule verdicts, one column per shim.
pub fn matrix(results: &RunResults) -> String {
    let mut out = String::new();
    let Some(first) = results.shims.first() else {
        return out;
    };
    let width = first.rules.iter().map(|r| r.rule.len()).max().unwrap_or(4);
    let _ = write!(out, "{:width$}  {:6}", "rule", "");
    for shim in &results.shims {
        let _ = write!(out, "  {}", shim.shim.name);
    }
    out.push('\n');
    for (i, r) in first.rules.iter().enumerate() {
        let _ = write!(out, "{:width$}  {:6}", r.rule, r.strength);
        for shim in &results.shims {
            let v = shim.rules[i].verdict;
            let w = shim.shim.name.len();
            let word = match v {
                Verdict::Conformant => "ok",
                Verdict::Violated => "VIOLATED",
                Verdict::ViolatedShould => "warning",
                Verdict::NotApplicable => "-",
            };
            let _ = write!(out, "  {word:w$}");
        }
        out.push('\n');
    }
    out
}

/// JUnit XML: one test suite per shim (a test case per case variant) and one per shim for the
/// rules (a test case per rule: passed when conformant, failed when violated, skipped when not
/// applicable; a violated SHOULD passes with a `verdict` property of `violated-should`).
pub fn junit(results: &RunResults, book_url: &str) -> String {
    let mut report = Report::new("revoke-conformance");
    for shim in &results.shims {
        let mut suite = TestSuite::new(shim.shim.name.clone());
        suite.add_property(Property::new("role", shim.shim.role.to_string()));
        suite.add_property(Property::new("plays", shim.shim.plays.join(",")));
        for c in &shim.cases {
            let mut status = match c.status {
                Status::Pass | Status::Warn | Status::ExpectedFail => TestCaseStatus::success(),
                Status::NotApplicable => TestCaseStatus::skipped(),
                Status::Fail | Status::UnexpectedPass | Status::ExpiredExpectation => {
                    TestCaseStatus::non_success(NonSuccessKind::Failure)
                }
            };
            if c.status.fails_run() {
                let message = match c.status {
                    Status::Fail => {
                        let rules: Vec<&str> = c.failures.iter().map(|f| f.rule.as_str()).collect();
                        format!(
                            "violates {}",
                            if rules.is_empty() {
                                "the case (scenario error)".into()
                            } else {
                                rules.join(", ")
                            }
                        )
                    }
                    _ => format!(
                        "{}: {}",
                        c.status.word(),
                        c.reason.clone().unwrap_or_default()
                    ),
                };
                status.set_message(message);
                let mut text = String::new();
                failure_details(&mut text, shim, c, book_url);
                status.set_description(text);
            } else if c.status == Status::NotApplicable {
                status.set_message(c.reason.clone().unwrap_or_default());
            }
            let mut tc = TestCase::new(c.name.clone(), status);
            tc.set_classname(format!(
                "{}.{}",
                shim.shim.name,
                c.chapter.trim_end_matches(".md")
            ));
            tc.set_time(Duration::from_micros(c.micros));
            tc.add_property(Property::new("status", c.status.word()));
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
        let mut rules = TestSuite::new(format!("{}: rules", shim.shim.name));
        for r in &shim.rules {
            let mut status = match r.verdict {
                Verdict::Conformant | Verdict::ViolatedShould => TestCaseStatus::success(),
                Verdict::Violated => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Verdict::NotApplicable => TestCaseStatus::skipped(),
            };
            if r.verdict == Verdict::Violated {
                status.set_message(format!("{} rule violated: {book_url}", r.strength));
            }
            let mut tc = TestCase::new(r.rule.clone(), status);
            tc.set_classname(format!("{}.rules", shim.shim.name));
            tc.add_property(Property::new("strength", r.strength.clone()));
            tc.add_property(Property::new(
                "verdict",
                serde_json::to_value(r.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
            ));
            rules.add_test_case(tc);
        }
        report.add_test_suite(rules);
    }
    report.to_string().unwrap_or_default()
}

fn ktap_safe(s: &str) -> String {
    s.replace('#', "%23").replace('\n', " ")
}

/// KTAP (the kernel's test result format): one subtest per shim, a test per case variant,
/// and a nested `rules` subtest with a test per rule.
pub fn ktap(results: &RunResults) -> String {
    let mut out = String::from("KTAP version 1\n");
    let _ = writeln!(out, "1..{}", results.shims.len());
    for (si, shim) in results.shims.iter().enumerate() {
        let _ = writeln!(out, "    KTAP version 1");
        let _ = writeln!(out, "    # Subtest: {}", shim.shim.name);
        let _ = writeln!(out, "    1..{}", shim.cases.len() + 1);
        for (i, c) in shim.cases.iter().enumerate() {
            if let Some(e) = &c.error {
                let _ = writeln!(out, "    # {}: {}", c.name, ktap_safe(e));
            }
            for f in &c.failures {
                let _ = writeln!(
                    out,
                    "    # {} {}: expected {}; observed {}",
                    f.strength,
                    f.rule,
                    ktap_safe(&f.expected),
                    ktap_safe(&f.observed)
                );
            }
            let ok = if c.status.fails_run() { "not ok" } else { "ok" };
            let directive = match c.status {
                Status::NotApplicable => format!(
                    " # SKIP not applicable: {}",
                    ktap_safe(c.reason.as_deref().unwrap_or(""))
                ),
                Status::ExpectedFail => format!(
                    " # TODO expected failure: {}",
                    ktap_safe(c.reason.as_deref().unwrap_or(""))
                ),
                Status::Warn => " # SHOULD rule violated (warning)".to_string(),
                _ => String::new(),
            };
            let _ = writeln!(out, "    {ok} {} {}{directive}", i + 1, ktap_safe(&c.name));
        }
        let _ = writeln!(out, "        KTAP version 1");
        let _ = writeln!(out, "        # Subtest: rules");
        let _ = writeln!(out, "        1..{}", shim.rules.len());
        let mut rules_ok = true;
        for (i, r) in shim.rules.iter().enumerate() {
            let (ok, directive) = match r.verdict {
                Verdict::Conformant => ("ok", String::new()),
                Verdict::ViolatedShould => {
                    ("ok", format!(" # {} rule violated (warning)", r.strength))
                }
                Verdict::NotApplicable => ("ok", " # SKIP not applicable".to_string()),
                Verdict::Violated => {
                    rules_ok = false;
                    ("not ok", String::new())
                }
            };
            let _ = writeln!(out, "        {ok} {} {}{directive}", i + 1, r.rule);
        }
        let _ = writeln!(
            out,
            "    {} {} rules",
            if rules_ok { "ok" } else { "not ok" },
            shim.cases.len() + 1
        );
        let ok = if shim.summary.failed == 0 && rules_ok {
            "ok"
        } else {
            "not ok"
        };
        let _ = writeln!(out, "{ok} {} {}", si + 1, shim.shim.name);
    }
    out
}
