//! The output formats of a run: a human report, JSON, JUnit XML and KTAP. Each gives the
//! per-case results and the per-rule verdicts.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::{CaseResult, RunResults, ShimResults, Status, Verdict};

/// Formats of `run` and `kernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RunFormat {
    /// One line per case, failures in full, the rule matrix.
    Human,
    /// The result file (`results.schema.json`).
    Json,
    /// JUnit XML.
    Junit,
    /// KTAP, as KUnit prints it.
    Ktap,
}

impl RunFormat {
    /// The report of `results` in this format; rule links point under `book_url`.
    pub fn render(self, results: &RunResults, book_url: &str) -> String {
        self.render_with(results, book_url, false)
    }

    /// As [`RunFormat::render`]; `show_na` lists, in the human report, the case variants that
    /// do not apply to a shim (otherwise counted in one line per shim). The machine formats
    /// always hold every case.
    pub fn render_with(self, results: &RunResults, book_url: &str, show_na: bool) -> String {
        match self {
            RunFormat::Human => human(results, book_url, show_na),
            RunFormat::Json => serde_json::to_string_pretty(results).unwrap_or_default() + "\n",
            RunFormat::Junit => junit(results, book_url),
            RunFormat::Ktap => ktap(results),
        }
    }
}

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
        let _ = writeln!(
            out,
            "  the scenario did not run to its end: {}",
            printable(e)
        );
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
            let _ = writeln!(out, "    | {}", printable(line));
        }
    }
}

/// The human report: per shim, a line per case (those that do not apply only counted unless
/// `show_na`) and every failure in full (the rules broken with links into the book, what was
/// expected and observed, the shim's trace against the reference's); then the verdict of every
/// rule for every shim; then `N passed, N failed`.
pub fn human(results: &RunResults, book_url: &str, show_na: bool) -> String {
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
        let mut hidden = 0;
        for c in &shim.cases {
            if c.status == Status::NotApplicable && !show_na {
                hidden += 1;
            } else {
                case_line(&mut out, c);
            }
        }
        if hidden > 0 {
            let _ = writeln!(
                out,
                "      ({hidden} case variant(s) do not apply to this shim; --show-na lists them)"
            );
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

/// Text a shim sent, made safe for a terminal or a one-line format: control characters other
/// than tab (a NUL, an escape sequence, a carriage return) are shown as `\x..`, so they reach
/// nobody's terminal; line breaks are left to the caller.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control() && ch != '\t' && ch != '\n' {
            out.push_str(&format!("\\x{:02x}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Text for a KTAP diagnostic line (`# ...`): one line, printable. A `#` is kept: after the
/// leading `# ` it is plain text.
fn ktap_diag(s: &str) -> String {
    printable(s).replace('\n', " ")
}

/// Text for a KTAP test name or directive reason, where a `#` would start a directive: it
/// is written `%23`.
fn ktap_safe(s: &str) -> String {
    ktap_diag(s).replace('#', "%23")
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
                let _ = writeln!(out, "    # {}: {}", c.name, ktap_diag(e));
            }
            for f in &c.failures {
                let _ = writeln!(
                    out,
                    "    # {} {}: expected {}; observed {}",
                    f.strength,
                    f.rule,
                    ktap_diag(&f.expected),
                    ktap_diag(&f.observed)
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

#[cfg(test)]
mod tests {
    //! Every report sink on one fixed set of results that has each status and verdict, so a
    //! change of any sink's output shows up as a snapshot diff to read.

    use super::*;

    fn case(name: &str, status: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({
            "name": name, "case": name.split('[').next().unwrap_or(name),
            "variant": name.split('[').nth(1).unwrap_or("").trim_end_matches(']'),
            "title": format!("What {name} shows."), "chapter": "revocation.md",
            "rules": ["revoke.exporter.wait-bookkeep"], "status": status, "micros": 1500,
        });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    }

    /// Two shims: one with a case of every status and a rule of every verdict, one that
    /// passes everything.
    fn results() -> RunResults {
        let failure = serde_json::json!({
            "rule": "revoke.exporter.wait-bookkeep", "strength": "MUST",
            "anchor": "revocation.html#r-revoke.exporter.wait-bookkeep",
            "expected": "step 4: `dma_resv_wait_timeout` for BOOKKEEP (or wider) returns > 0",
            "observed": "no wait for BOOKKEEP fences in step 4",
        });
        let warning = serde_json::json!({
            "rule": "invalidate.importer.cache-failed-map", "strength": "SHOULD",
            "anchor": "invalidation.html#r-invalidate.importer.cache-failed-map",
            "expected": "step 2: `dma_buf_map_attachment` is called 1 time(s)",
            "observed": "`dma_buf_map_attachment` was called 2 time(s)",
        });
        let broken = serde_json::json!({
            "shim": {"name": "broken-exporter", "role": "exporter", "plays": ["vfio"],
                     "capabilities": ["revokes-pinned"], "description": "Skips the wait."},
            "cases": [
                case("passes", "pass", serde_json::json!({})),
                case("fails[iommufd]", "fail", serde_json::json!({
                    "failures": [failure],
                    "trace_diff": "--- reference\n+++ shim\n@@ -1,2 +1,1 @@\n step 4: revoke\n-#9 exporter.buf0 -> core: dma_resv_wait_timeout(...) = MAX_SCHEDULE_TIMEOUT\n",
                })),
                case("warns", "warn", serde_json::json!({"failures": [warning]})),
                case("crashes", "fail", serde_json::json!({
                    "error": "step 3 did not complete: the driver crashed (oops): exporter bug; later steps did not run",
                })),
                case("skipped", "not-applicable", serde_json::json!({
                    "reason": "uses the importer profile rdma, which this shim does not play",
                })),
                case("known", "expected-fail", serde_json::json!({
                    "reason": "waits only for KERNEL fences", "bug": "https://example.org/bug/1",
                })),
                case("fixed", "unexpected-pass", serde_json::json!({"reason": "was broken"})),
                case("stale", "expired-expectation", serde_json::json!({"reason": "until 2026-01-01"})),
            ],
            "rules": [
                {"rule": "attach.core.error-passthrough", "strength": "MUST", "verdict": "conformant"},
                {"rule": "revoke.exporter.wait-bookkeep", "strength": "MUST", "verdict": "violated"},
                {"rule": "invalidate.importer.cache-failed-map", "strength": "SHOULD", "verdict": "violated-should"},
                {"rule": "revoke.pinned.permanent", "strength": "MAY", "verdict": "not-applicable"},
            ],
            "summary": {"passed": 3, "failed": 4, "not_applicable": 1},
        });
        let good = serde_json::json!({
            "shim": {"name": "good", "role": "exporter", "plays": ["vfio"],
                     "capabilities": [], "description": "Does it all."},
            "cases": [case("passes", "pass", serde_json::json!({}))],
            "rules": [
                {"rule": "attach.core.error-passthrough", "strength": "MUST", "verdict": "conformant"},
                {"rule": "revoke.exporter.wait-bookkeep", "strength": "MUST", "verdict": "conformant"},
                {"rule": "invalidate.importer.cache-failed-map", "strength": "SHOULD", "verdict": "not-applicable"},
                {"rule": "revoke.pinned.permanent", "strength": "MAY", "verdict": "conformant"},
            ],
            "summary": {"passed": 1, "failed": 0, "not_applicable": 0},
        });
        serde_json::from_value(serde_json::json!({
            "version": crate::results::FORMAT_VERSION, "suite": "0.0.0-test",
            "shims": [broken, good], "summary": {"passed": 4, "failed": 4, "not_applicable": 1},
            "partial": false,
        }))
        .expect("a valid fixture")
    }

    #[test]
    fn what_a_shim_sends_is_escaped_in_every_text_format() {
        assert_eq!(printable("a\u{0}b\u{1b}[31mc\td"), "a\\x00b\\x1b[31mc\td");
        assert_eq!(ktap_diag("event #22\nnext"), "event #22 next");
        assert_eq!(ktap_safe("name #1"), "name %231");
    }

    #[test]
    fn human_lists_cases_that_do_not_apply_only_when_asked() {
        let line = "n/a   skipped  (uses the importer profile rdma, which this shim does not play)";
        let shown = RunFormat::Human.render_with(&results(), "https://example.org/book/", true);
        assert!(shown.contains(line), "{shown}");
        assert!(!shown.contains("--show-na lists them"), "{shown}");
        let hidden = RunFormat::Human.render(&results(), "https://example.org/book/");
        assert!(!hidden.contains(line), "{hidden}");
    }

    #[test]
    fn human() {
        insta::assert_snapshot!(RunFormat::Human.render(&results(), "https://example.org/book/"));
    }

    #[test]
    fn json() {
        insta::assert_snapshot!(RunFormat::Json.render(&results(), "https://example.org/book/"));
    }

    #[test]
    fn junit() {
        insta::assert_snapshot!(RunFormat::Junit.render(&results(), "https://example.org/book/"));
    }

    #[test]
    fn ktap() {
        insta::assert_snapshot!(RunFormat::Ktap.render(&results(), "https://example.org/book/"));
    }
}
