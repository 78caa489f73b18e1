//! The output formats of a run: a human report, JSON, JUnit XML and KTAP. Each gives the
//! per-case results and the per-rule verdicts, with expectations applied the same way: a
//! known failure (`expected-fail`, `expected-violation`) passes the run in every format, and
//! whatever fails the run (`fail`, `unexpected-pass`, `expired-expectation`, `violated`) fails
//! it in every format.
//!
//! One name per status: the words of [`Status::word`] and [`Verdict::word`] are used as they
//! are in every format. Where a format has its own words for an outcome (JUnit's `<failure>`
//! and `<skipped>`, KTAP's `ok`, `not ok` and `# SKIP`), those say pass or fail to the
//! format's tools, and the suite's word follows them (a `status` or `verdict` property, the
//! text of the directive).

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::{CaseResult, RunResults, ShimResults, Status, Verdict};

/// Where rule links point by default: the book as `.github/workflows/book.yml` publishes it
/// from `main` to the forge's pages (`https://OWNER.github.io/REPO/`). The repository has no
/// forge address yet, so this is the one place that says where it will be: change it here
/// when it has one, or set `REVOKE_SPEC_BOOK_URL` when building the runner (a fork, a mirror).
/// At run time `--book-url` (or `REVOKE_CONFORMANCE_BOOK_URL`) points the links elsewhere,
/// such as at a book built offline (`file:///.../book/build/`).
pub const PUBLISHED_BOOK: &str = match option_env!("REVOKE_SPEC_BOOK_URL") {
    Some(url) => url,
    None => "https://revoke-spec.github.io/revoke-spec/",
};

/// The base of rule links for this run: `REVOKE_CONFORMANCE_BOOK_URL` if set, else
/// [`PUBLISHED_BOOK`]; a base without a final `/` gets one.
pub fn book_url() -> String {
    let url = std::env::var("REVOKE_CONFORMANCE_BOOK_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| PUBLISHED_BOOK.to_string());
    if url.ends_with('/') {
        url
    } else {
        format!("{url}/")
    }
}

/// Formats of `run` and `kernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RunFormat {
    /// Failures first and in full, a line per case, a summary table, the rule matrix.
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

/// The words of the case statuses, padded to the longest.
const STATUS_WIDTH: usize = 19;

/// The expectation's reason and bug link, or the reason a case does not apply.
fn reason_of(c: &CaseResult) -> String {
    let reason = c.reason.as_deref().map(printable).unwrap_or_default();
    match &c.bug {
        Some(bug) => format!("{reason}; {bug}"),
        None => reason,
    }
}

fn case_line(out: &mut String, c: &CaseResult) {
    let mut extra = String::new();
    if c.reason.is_some() {
        extra = format!("  ({})", reason_of(c));
    }
    if c.status == Status::ExpectedFail
        && let Some(rules) = &c.expected_rules
        && !rules.is_empty()
    {
        extra = format!("  (breaks {}: {})", rules.join(", "), reason_of(c));
    }
    let _ = writeln!(out, "{:<STATUS_WIDTH$} {}{extra}", c.status.word(), c.name);
}

/// `text` wrapped to `width` columns, each line indented by `indent`.
fn wrapped(out: &mut String, text: &str, indent: &str, width: usize) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
}

/// The text of the rule `id` as the book states it, if this build of the suite has it.
fn rule_text(id: &str) -> Option<&'static str> {
    crate::spec().rule(id).map(|r| r.text)
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
    if let Some(reason) = c.reason.as_ref().filter(|_| c.status != Status::Warn) {
        let _ = writeln!(out, "  {}: {}", c.status.word(), printable(reason));
        if let Some(bug) = &c.bug {
            let _ = writeln!(out, "    bug: {bug}");
        }
    }
    if let Some(e) = &c.error {
        let _ = writeln!(
            out,
            "  the scenario did not run to its end: {}",
            printable(e)
        );
    }
    if let Some(rc) = &c.root_cause {
        let _ = writeln!(
            out,
            "  root cause: {} at event #{}, by the {}",
            rc.rule, rc.event, rc.role
        );
        if !rc.consequences.is_empty() {
            let _ = writeln!(
                out,
                "    its consequences (not bugs of their own): {}",
                rc.consequences.join(", ")
            );
        }
    }
    if let Some(d) = c.departure.as_ref().filter(|_| c.root_cause.is_none()) {
        let _ = writeln!(
            out,
            "  first departure from the reference (a hint, not a verdict): event #{}, by the {} ({})",
            d.event, d.role, d.actor
        );
        for (whose, line) in [("shim", &d.shim), ("reference", &d.reference)] {
            let line = line
                .as_deref()
                .map_or("(its trace ends before)".into(), |l| {
                    printable(
                        l.trim_start_matches(|c: char| c == '#' || c.is_ascii_digit())
                            .trim(),
                    )
                });
            let _ = writeln!(out, "    {whose:<9}  {line}");
        }
    }
    // The root cause's rule first; each rule's text once.
    let mut failures: Vec<&crate::results::Failure> = c.failures.iter().collect();
    if let Some(rc) = &c.root_cause {
        failures.sort_by_key(|f| f.rule != rc.rule);
    }
    let mut shown: Vec<&str> = Vec::new();
    for f in failures {
        // A rule broken only as a consequence of the root cause is not reported as violated.
        let word = if c.is_consequence(&f.rule) {
            "consequence, broken by the root cause:"
        } else {
            "violated"
        };
        let _ = writeln!(
            out,
            "  {word} {} rule {}  {book_url}{}",
            f.strength, f.rule, f.anchor
        );
        if !shown.contains(&f.rule.as_str())
            && let Some(text) = rule_text(&f.rule)
        {
            wrapped(out, text, "    | ", 96);
            shown.push(&f.rule);
        }
        let _ = writeln!(out, "    expected: {}", printable(&f.expected));
        let _ = writeln!(out, "    observed: {}", printable(&f.observed));
    }
    if let Some(diff) = &c.trace_diff {
        let _ = writeln!(
            out,
            "  trace, reference (-) against {} (+):",
            shim.shim.name
        );
        for line in diff.lines() {
            let _ = writeln!(out, "    {}", printable(line));
        }
    }
    if let Some(stderr) = c.stderr.as_deref().filter(|s| !s.trim().is_empty()) {
        let _ = writeln!(out, "  the shim's standard error during the case:");
        for line in stderr.lines() {
            let _ = writeln!(out, "    | {}", printable(line));
        }
    }
}

/// How many case variants of `cases` have `status`.
fn count(cases: &[CaseResult], status: Status) -> usize {
    cases.iter().filter(|c| c.status == status).count()
}

/// The statuses that occur, with their counts, in the order of [`Status::ALL`].
fn counts(results: &RunResults) -> String {
    let all: Vec<&CaseResult> = results.shims.iter().flat_map(|s| &s.cases).collect();
    let parts: Vec<String> = Status::ALL
        .iter()
        .map(|&st| (st, all.iter().filter(|c| c.status == st).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(st, n)| format!("{n} {}", st.word()))
        .collect();
    if parts.is_empty() {
        "no case variant ran".to_string()
    } else {
        parts.join(", ")
    }
}

/// The closing line of a run: whether it passes, and the count of every status that occurs.
pub fn closing_line(results: &RunResults) -> String {
    let verdict = if results.failed() {
        "the run fails"
    } else {
        "the run passes"
    };
    let partial = if results.partial {
        " (interrupted: partial results)"
    } else {
        ""
    };
    format!("{verdict}{partial}: {}", counts(results))
}

/// What produced the results: the suite, the spec's revision, and each shim's identity.
fn provenance_lines(results: &RunResults) -> Vec<String> {
    let mut lines = vec![format!(
        "revoke-conformance {}, spec {} (rules: {}){}",
        results.suite,
        results.provenance.spec,
        results.provenance.rules.len(),
        results
            .provenance
            .partition
            .as_deref()
            .map(|p| format!(", part {p} of the run"))
            .unwrap_or_default()
    )];
    for shim in &results.shims {
        lines.push(format!(
            "shim {}: {}",
            shim.shim.name,
            printable(&shim.shim.identity_line())
        ));
    }
    lines
}

/// The human report, for a person reading a terminal or a CI log: what produced it; the
/// case variants that fail the run, in full (each broken rule with its text and link, the
/// root cause when the judge found one, what was expected and observed, the trace against the
/// reference's); the warnings in full; a line per case variant of each shim (those that do
/// not apply only counted unless `show_na`); a summary table of statuses per shim; the
/// verdicts of the rules some case judged; the closing line.
pub fn human(results: &RunResults, book_url: &str, show_na: bool) -> String {
    let mut out = String::new();
    for line in provenance_lines(results) {
        let _ = writeln!(out, "{line}");
    }
    let failing: Vec<(&ShimResults, &CaseResult)> = results
        .shims
        .iter()
        .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
        .filter(|(_, c)| c.status.fails_run())
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "\n{} case variant(s) fail the run:", failing.len());
        for (shim, c) in &failing {
            failure_details(&mut out, shim, c, book_url);
        }
    }
    let warnings: Vec<(&ShimResults, &CaseResult)> = results
        .shims
        .iter()
        .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
        .filter(|(_, c)| c.status == Status::Warn)
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(
            out,
            "\n{} case variant(s) pass with a warning (a SHOULD rule broken):",
            warnings.len()
        );
        for (shim, c) in &warnings {
            failure_details(&mut out, shim, c, book_url);
        }
    }
    for shim in &results.shims {
        let s = &shim.shim;
        let _ = writeln!(
            out,
            "\n== {} ({}; plays {})",
            s.name,
            s.role,
            s.plays.join(", ")
        );
        let mut cases: Vec<&CaseResult> = shim.cases.iter().collect();
        cases.sort_by_key(|c| Status::ALL.iter().position(|&st| st == c.status));
        let mut hidden = 0;
        for c in cases {
            if c.status == Status::NotApplicable && !show_na {
                hidden += 1;
            } else {
                case_line(&mut out, c);
            }
        }
        if hidden > 0 {
            let _ = writeln!(
                out,
                "({hidden} case variant(s) not-applicable to this shim; --show-na lists them)"
            );
        }
    }
    let _ = writeln!(out, "\n{}", summary_table(results));
    let judged = matrix(results);
    if !judged.is_empty() {
        let _ = writeln!(out, "{judged}");
    }
    let _ = writeln!(out, "{}", closing_line(results));
    out
}

/// The count of every status per shim, one row per shim and a total row, with only the
/// columns of statuses that occur.
pub fn summary_table(results: &RunResults) -> String {
    let columns: Vec<Status> = Status::ALL
        .iter()
        .copied()
        .filter(|&st| results.shims.iter().any(|s| count(&s.cases, st) > 0))
        .collect();
    let name_width = results
        .shims
        .iter()
        .map(|s| s.shim.name.len())
        .chain([5])
        .max()
        .unwrap_or(5);
    let mut rows: Vec<(String, Vec<usize>)> = results
        .shims
        .iter()
        .map(|s| {
            (
                s.shim.name.clone(),
                columns.iter().map(|&st| count(&s.cases, st)).collect(),
            )
        })
        .collect();
    if results.shims.len() > 1 {
        let totals = (0..columns.len())
            .map(|i| rows.iter().map(|(_, n)| n[i]).sum())
            .collect();
        rows.push(("total".to_string(), totals));
    }
    let mut out = String::new();
    let mut header = format!("{:name_width$}", "shim");
    for st in &columns {
        let _ = write!(header, "  {}", st.word());
    }
    let _ = writeln!(out, "{}", header.trim_end());
    for (name, n) in rows {
        let mut line = format!("{name:name_width$}");
        for (st, n) in columns.iter().zip(n) {
            let _ = write!(line, "  {n:>w$}", w = st.word().len());
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The verdicts of the rules some case judged (for any shim), one column per shim; empty when
/// no case judged a rule. Lines carry no trailing spaces.
pub fn matrix(results: &RunResults) -> String {
    let mut out = String::new();
    let Some(first) = results.shims.first() else {
        return out;
    };
    let judged: Vec<usize> = (0..first.rules.len())
        .filter(|&i| {
            results.shims.iter().any(|s| {
                s.rules
                    .get(i)
                    .is_some_and(|r| r.verdict != Verdict::NotApplicable)
            })
        })
        .collect();
    if judged.is_empty() {
        return out;
    }
    let width = judged
        .iter()
        .map(|&i| first.rules[i].rule.len())
        .max()
        .unwrap_or(4);
    let _ = writeln!(
        out,
        "verdicts of the {} rule(s) judged (of {}):",
        judged.len(),
        first.rules.len()
    );
    // Each shim's column is as wide as its name or its widest verdict.
    let columns: Vec<usize> = results
        .shims
        .iter()
        .map(|s| {
            judged
                .iter()
                .filter_map(|&i| s.rules.get(i).map(|r| r.verdict.word().len()))
                .chain([s.shim.name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let wide = width + 8 + columns.iter().map(|w| w + 2).sum::<usize>();
    if wide > MATRIX_COLUMNS {
        compact_matrix(&mut out, results, &judged, width);
        return out;
    }
    let mut header = format!("{:width$}  {:6}", "rule", "");
    for (shim, w) in results.shims.iter().zip(&columns) {
        let _ = write!(header, "  {:w$}", shim.shim.name);
    }
    let _ = writeln!(out, "{}", header.trim_end());
    for i in judged {
        let r = &first.rules[i];
        let mut line = format!("{:width$}  {:6}", r.rule, r.strength);
        for (shim, w) in results.shims.iter().zip(&columns) {
            let word = shim.rules.get(i).map_or("", |r| r.verdict.word());
            let _ = write!(line, "  {word:w$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The widest matrix printed with a column per shim named in full; a wider one is printed
/// compact ([`compact_matrix`]), so that it fits a terminal and a CI log.
const MATRIX_COLUMNS: usize = 100;

/// One character per verdict in the compact matrix.
fn verdict_mark(v: Verdict) -> char {
    match v {
        Verdict::Conformant => '+',
        Verdict::Violated => 'X',
        Verdict::ViolatedShould => 'w',
        Verdict::NotApplicable => '.',
        Verdict::ExpectedViolation => 'x',
        Verdict::Consequence => 'c',
    }
}

/// The matrix with shims numbered (a legend names them) and one mark per verdict (a legend
/// gives each mark its word).
fn compact_matrix(out: &mut String, results: &RunResults, judged: &[usize], width: usize) {
    let Some(first) = results.shims.first() else {
        return;
    };
    let marks: Vec<String> = [
        Verdict::Conformant,
        Verdict::Violated,
        Verdict::ViolatedShould,
        Verdict::ExpectedViolation,
        Verdict::Consequence,
        Verdict::NotApplicable,
    ]
    .into_iter()
    .map(|v| format!("{} {}", verdict_mark(v), v.word()))
    .collect();
    // The legend, wrapped so that it fits the matrix's width too.
    let mut legend = String::from("  marks:");
    for mark in marks {
        if legend.len() + mark.len() + 2 > MATRIX_COLUMNS {
            let _ = writeln!(out, "{}", legend.trim_end_matches(','));
            legend = String::from("        ");
        }
        let _ = write!(legend, " {mark},");
    }
    let _ = writeln!(out, "{}", legend.trim_end_matches(','));
    for (n, shim) in results.shims.iter().enumerate() {
        let _ = writeln!(out, "  [{}] {}", n + 1, shim.shim.name);
    }
    let column = results.shims.len().to_string().len().max(2);
    let mut header = format!("{:width$}  {:6}", "rule", "");
    for n in 1..=results.shims.len() {
        let _ = write!(header, " {n:>column$}");
    }
    let _ = writeln!(out, "{}", header.trim_end());
    for &i in judged {
        let r = &first.rules[i];
        let mut line = format!("{:width$}  {:6}", r.rule, r.strength);
        for shim in &results.shims {
            let mark = shim.rules.get(i).map_or(' ', |r| verdict_mark(r.verdict));
            let _ = write!(line, " {mark:>column$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The case variants of `shim` that violated `rule` as their expectation says.
fn known_failures_of<'a>(shim: &'a ShimResults, rule: &str) -> Vec<&'a str> {
    shim.cases
        .iter()
        .filter(|c| c.status == Status::ExpectedFail)
        .filter(|c| c.failures.iter().any(|f| f.rule == rule))
        .map(|c| c.name.as_str())
        .collect()
}

/// The root causes (`rule in case`) whose consequence `rule` is, in `shim`'s cases.
fn roots_of(shim: &ShimResults, rule: &str) -> Vec<String> {
    shim.cases
        .iter()
        .filter_map(|c| {
            let rc = c.root_cause.as_ref()?;
            rc.consequences
                .iter()
                .any(|x| x == rule)
                .then(|| format!("{} in {}", rc.rule, c.name))
        })
        .collect()
}

/// The message of a case variant that fails the run.
fn failing_message(c: &CaseResult) -> String {
    match c.status {
        Status::Fail if !c.new_rules.is_empty() || !c.vanished_rules.is_empty() => {
            format!("fail: {}", reason_of(c))
        }
        Status::Fail => {
            let mut rules: Vec<&str> = c
                .failures
                .iter()
                .map(|f| f.rule.as_str())
                .filter(|r| !c.is_consequence(r))
                .collect();
            rules.dedup();
            if rules.is_empty() {
                "fail: the scenario did not run to its end".into()
            } else {
                format!("fail: violates {}", rules.join(", "))
            }
        }
        _ => format!("{}: {}", c.status.word(), reason_of(c)),
    }
}

/// JUnit XML: one test suite per shim (a test case per case variant) and one per shim for the
/// rules it had judged (a test case per rule). Passing statuses and verdicts (`pass`, `warn`,
/// `conformant`, `violated-should`) are JUnit passes; what fails the run is a `<failure>`;
/// `not-applicable`, `expected-fail` and `expected-violation` are `<skipped>` with the reason.
/// Every test case carries the suite's word as its `status` or `verdict` property, and every
/// suite the run's provenance.
pub fn junit(results: &RunResults, book_url: &str) -> String {
    let mut report = Report::new("revoke-conformance");
    let provenance = [
        Property::new("suite", results.suite.clone()),
        Property::new("spec", results.provenance.spec.clone()),
    ];
    for shim in &results.shims {
        let mut suite = TestSuite::new(shim.shim.name.clone());
        suite.add_properties(provenance.clone());
        suite.add_property(Property::new("shim", shim.shim.identity_line()));
        suite.add_property(Property::new("role", shim.shim.role.to_string()));
        suite.add_property(Property::new("plays", shim.shim.plays.join(",")));
        for c in &shim.cases {
            let status = match c.status {
                Status::Pass | Status::Warn => TestCaseStatus::success(),
                Status::NotApplicable | Status::ExpectedFail => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(format!("{}: {}", c.status.word(), reason_of(c)));
                    st
                }
                Status::Fail | Status::UnexpectedPass | Status::ExpiredExpectation => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(failing_message(c));
                    let mut text = String::new();
                    failure_details(&mut text, shim, c, book_url);
                    st.set_description(text);
                    st
                }
            };
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
        for r in shim
            .rules
            .iter()
            .filter(|r| r.verdict != Verdict::NotApplicable)
        {
            let link = crate::spec()
                .rule(&r.rule)
                .map(|d| format!("{book_url}{}", d.anchor()))
                .unwrap_or_default();
            let status = match r.verdict {
                Verdict::Conformant | Verdict::ViolatedShould | Verdict::NotApplicable => {
                    TestCaseStatus::success()
                }
                Verdict::Consequence => {
                    // Passed in JUnit's count: the root cause's rule carries the failure.
                    let mut st = TestCaseStatus::success();
                    st.set_message(format!(
                        "consequence: broken only as a consequence of {}",
                        roots_of(shim, &r.rule).join(", ")
                    ));
                    st
                }
                Verdict::ExpectedViolation => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(format!(
                        "expected-violation: broken only by known failures ({})",
                        known_failures_of(shim, &r.rule).join(", ")
                    ));
                    st
                }
                Verdict::Violated => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(format!("violated: {} rule {}, {link}", r.strength, r.rule));
                    if let Some(text) = rule_text(&r.rule) {
                        st.set_description(text);
                    }
                    st
                }
            };
            let mut tc = TestCase::new(r.rule.clone(), status);
            tc.set_classname(format!("{}.rules", shim.shim.name));
            tc.add_property(Property::new("strength", r.strength.clone()));
            tc.add_property(Property::new("verdict", r.verdict.word()));
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

/// KTAP (the kernel's test result format, as `kunit.py parse` reads it): provenance as
/// diagnostics, one subtest per shim, a test per case variant, and a nested `rules` subtest
/// with a test per rule judged. What fails the run is `not ok`; `not-applicable`,
/// `expected-fail` and `expected-violation` are `ok ... # SKIP word: reason` (KTAP's only
/// directive its tools count); the reason of a failure, an unexpected pass, an expired
/// expectation or a changed set of broken rules is a diagnostic line before the result.
pub fn ktap(results: &RunResults) -> String {
    let mut out = String::from("KTAP version 1\n");
    for line in provenance_lines(results) {
        let _ = writeln!(out, "# {}", ktap_diag(&line));
    }
    let _ = writeln!(out, "1..{}", results.shims.len());
    for (si, shim) in results.shims.iter().enumerate() {
        let _ = writeln!(out, "    KTAP version 1");
        let _ = writeln!(out, "    # Subtest: {}", ktap_safe(&shim.shim.name));
        let _ = writeln!(out, "    1..{}", shim.cases.len() + 1);
        for (i, c) in shim.cases.iter().enumerate() {
            let name = ktap_safe(&c.name);
            if let Some(e) = &c.error {
                let _ = writeln!(out, "    # {name}: {}", ktap_diag(e));
            }
            if let Some(rc) = &c.root_cause {
                let _ = writeln!(
                    out,
                    "    # {name}: root cause {} at event #{} by the {}{}",
                    rc.rule,
                    rc.event,
                    rc.role,
                    if rc.consequences.is_empty() {
                        String::new()
                    } else {
                        format!("; consequences {}", rc.consequences.join(", "))
                    }
                );
            } else if let Some(d) = &c.departure {
                let _ = writeln!(
                    out,
                    "    # {name}: first departure from the reference at event #{} by the {} ({})",
                    d.event, d.role, d.actor
                );
            }
            if c.status != Status::ExpectedFail {
                for f in &c.failures {
                    let _ = writeln!(
                        out,
                        "    # {name}: {}{} {}: expected {}; observed {}",
                        if c.is_consequence(&f.rule) {
                            "consequence of the root cause, "
                        } else {
                            ""
                        },
                        f.strength,
                        f.rule,
                        ktap_diag(&f.expected),
                        ktap_diag(&f.observed)
                    );
                }
            }
            if c.status.fails_run() && c.reason.is_some() {
                let _ = writeln!(
                    out,
                    "    # {name}: {}: {}",
                    c.status.word(),
                    ktap_diag(&reason_of(c))
                );
            }
            let (ok, directive) = match c.status {
                Status::NotApplicable | Status::ExpectedFail => (
                    "ok",
                    format!(" # SKIP {}: {}", c.status.word(), ktap_safe(&reason_of(c))),
                ),
                st if st.fails_run() => ("not ok", String::new()),
                _ => ("ok", String::new()),
            };
            let _ = writeln!(out, "    {ok} {} {name}{directive}", i + 1);
        }
        let judged: Vec<_> = shim
            .rules
            .iter()
            .filter(|r| r.verdict != Verdict::NotApplicable)
            .collect();
        let rules_ok = judged.iter().all(|r| !r.verdict.fails_run());
        let rules_line = shim.cases.len() + 1;
        if judged.is_empty() {
            let _ = writeln!(
                out,
                "    ok {rules_line} rules # SKIP not-applicable: no case judged a rule"
            );
        } else {
            let _ = writeln!(out, "        KTAP version 1");
            let _ = writeln!(out, "        # Subtest: rules");
            let _ = writeln!(out, "        1..{}", judged.len());
            for (i, r) in judged.iter().enumerate() {
                let (ok, directive) = match r.verdict {
                    Verdict::Violated => ("not ok", String::new()),
                    Verdict::ExpectedViolation => (
                        "ok",
                        format!(
                            " # SKIP expected-violation: broken only by known failures ({})",
                            ktap_safe(&known_failures_of(shim, &r.rule).join(", "))
                        ),
                    ),
                    Verdict::ViolatedShould => {
                        let _ = writeln!(
                            out,
                            "        # {}: violated-should: a {} rule broken (a warning)",
                            r.rule, r.strength
                        );
                        ("ok", String::new())
                    }
                    Verdict::Consequence => {
                        let _ = writeln!(
                            out,
                            "        # {}: consequence: broken only as a consequence of {}",
                            r.rule,
                            ktap_safe(&roots_of(shim, &r.rule).join(", "))
                        );
                        ("ok", String::new())
                    }
                    Verdict::Conformant | Verdict::NotApplicable => ("ok", String::new()),
                };
                let _ = writeln!(out, "        {ok} {} {}{directive}", i + 1, r.rule);
            }
            let _ = writeln!(
                out,
                "    {} {rules_line} rules",
                if rules_ok { "ok" } else { "not ok" }
            );
        }
        let ok = if shim.summary.failed == 0 && rules_ok {
            "ok"
        } else {
            "not ok"
        };
        let _ = writeln!(out, "{ok} {} {}", si + 1, ktap_safe(&shim.shim.name));
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
        let known = serde_json::json!({
            "rule": "revoke.pinned.permanent-known", "strength": "MUST",
            "anchor": "revocation.html#r-revoke.pinned.permanent-known",
            "expected": "step 5: access fails", "observed": "access succeeded",
        });
        let broken = serde_json::json!({
            "shim": {"name": "broken-exporter", "role": "exporter", "plays": ["vfio"],
                     "capabilities": ["revokes-pinned"], "description": "Skips the wait.",
                     "process": {"command": "./broken --fast", "name": "broken-exporter",
                                 "protocol": 1, "version": "2.3.1"}},
            "cases": [
                case("passes", "pass", serde_json::json!({})),
                case("fails[iommufd]", "fail", serde_json::json!({
                    "failures": [failure, {
                        "rule": "revoke.importer.unmap-in-callback", "strength": "MUST",
                        "anchor": "revocation.html#r-revoke.importer.unmap-in-callback",
                        "expected": "step 4: the importer unmaps inside its callback",
                        "observed": "the callback was never called",
                    }],
                    "root_cause": {"rule": "revoke.exporter.wait-bookkeep", "event": 9,
                                   "role": "exporter",
                                   "consequences": ["revoke.importer.unmap-in-callback"]},
                    "trace_diff": "--- reference\n+++ shim\n@@ -1,2 +1,1 @@\n step 4: revoke\n-#9 exporter.buf0 -> core: dma_resv_wait_timeout(...) = MAX_SCHEDULE_TIMEOUT\n",
                })),
                case("departs", "fail", serde_json::json!({
                    "failures": [{
                        "rule": "pin.core.no-op-without-op", "strength": "MUST",
                        "anchor": "map-pin.html#r-pin.core.no-op-without-op",
                        "expected": "step 2: `dma_buf_pin` returns 0",
                        "observed": "`dma_buf_pin` was never called in step 2",
                    }],
                    "departure": {"event": 7, "role": "importer", "actor": "importer.att0",
                        "shim": "#7    importer.att0 -> exporter.buf0: vfio_pci_dma_buf_iommufd_map(att0) [locked] = sgt1",
                        "reference": "#7    importer.att0 -> core: dma_buf_pin(att0) [locked] = 0"},
                })),
                case("changed", "fail", serde_json::json!({
                    "failures": [failure],
                    "reason": "breaks other rules than its expectation names: now also breaks revoke.exporter.wait-bookkeep; no longer breaks attach.core.error-passthrough",
                    "bug": "https://example.org/bug/2",
                    "expected_rules": ["attach.core.error-passthrough"],
                    "new_rules": ["revoke.exporter.wait-bookkeep"],
                    "vanished_rules": ["attach.core.error-passthrough"],
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
                    "expected_rules": ["revoke.pinned.permanent-known"],
                    "failures": [known],
                })),
                case("fixed", "unexpected-pass", serde_json::json!({
                    "reason": "expected to fail (was broken), and it passed: remove the entry",
                })),
                case("stale", "expired-expectation", serde_json::json!({
                    "reason": "the expectation expired on 2026-01-01: was broken",
                })),
            ],
            "rules": [
                {"rule": "attach.core.error-passthrough", "strength": "MUST", "verdict": "conformant"},
                {"rule": "revoke.exporter.wait-bookkeep", "strength": "MUST", "verdict": "violated"},
                {"rule": "invalidate.importer.cache-failed-map", "strength": "SHOULD", "verdict": "violated-should"},
                {"rule": "revoke.pinned.permanent", "strength": "MAY", "verdict": "not-applicable"},
                {"rule": "revoke.pinned.permanent-known", "strength": "MUST", "verdict": "expected-violation"},
            ],
            "summary": {"passed": 3, "failed": 5, "not_applicable": 1},
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
                {"rule": "revoke.pinned.permanent-known", "strength": "MUST", "verdict": "not-applicable"},
            ],
            "summary": {"passed": 1, "failed": 0, "not_applicable": 0},
        });
        serde_json::from_value(serde_json::json!({
            "version": crate::results::FORMAT_VERSION, "suite": "0.0.0-test",
            "shims": [broken, good], "summary": {"passed": 4, "failed": 5, "not_applicable": 1},
            "partial": false,
            "provenance": {"spec": "0123456789abcdef", "rules": {"revoke.exporter.wait-bookkeep": "abc123"}},
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
        let line = "not-applicable      skipped  (uses the importer profile rdma, which this shim does not play)";
        let shown = RunFormat::Human.render_with(&results(), "https://example.org/book/", true);
        assert!(shown.contains(line), "{shown}");
        assert!(!shown.contains("--show-na lists them"), "{shown}");
        let hidden = RunFormat::Human.render(&results(), "https://example.org/book/");
        assert!(!hidden.contains(line), "{hidden}");
    }

    /// Many shims (the main job runs ten) make the matrix compact: numbered shims, one mark
    /// per verdict, each explained; a row keeps every shim's verdict in its column.
    #[test]
    fn a_matrix_of_many_shims_is_compact_and_keeps_every_verdict() {
        let two = results();
        let wide = matrix(&two);
        assert!(!wide.contains("marks:"), "{wide}");
        let mut many = results();
        for n in 0..4 {
            let mut shim = two.shims[n % 2].clone();
            shim.shim.name = format!("a-shim-with-a-long-name-{n}");
            many.shims.push(shim);
        }
        let compact = matrix(&many);
        assert!(
            compact.contains("  marks: + conformant, X violated, w violated-should, x expected-violation, c consequence\n         . not-applicable\n"),
            "{compact}"
        );
        assert!(
            compact.contains("  [6] a-shim-with-a-long-name-3"),
            "{compact}"
        );
        assert!(
            compact.lines().all(|l| l.len() <= MATRIX_COLUMNS),
            "{compact}"
        );
        // Each rule's marks are the verdicts of the six shims, in order.
        for (i, r) in many.shims[0].rules.iter().enumerate() {
            if let Some(row) = compact
                .lines()
                .find(|l| l.starts_with(&format!("{} ", r.rule)))
            {
                let marks: String = row.split_whitespace().skip(2).collect();
                let expected: String = many
                    .shims
                    .iter()
                    .map(|s| verdict_mark(s.rules[i].verdict))
                    .collect();
                assert_eq!(marks, expected, "{row}");
            }
        }
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
