//! What a run produces: per shim, per case and per rule. Every output format renders this.

use std::collections::BTreeMap;

use reference_impl::{Role, Shim, Trace};

use crate::outcome::CaseOutcome;
use crate::{OnFailure, Spec};

/// Version of the result format (JSON `version`).
pub const FORMAT_VERSION: u32 = 1;

/// The shim a set of results is about.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ShimInfo {
    /// The shim's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The reference profiles it stands in for.
    pub plays: Vec<String>,
    /// What it can do.
    pub capabilities: Vec<String>,
    /// One line on what it wraps.
    pub description: String,
    /// A shim process: the command that ran it and what it said in its hello (absent for an
    /// in-process shim, which is part of the suite's own build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessIdentity>,
    /// The kernel it ran on (the kernel bridge): the version its Makefile gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// Who a shim process is: what ran it and what it said in its hello.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ProcessIdentity {
    /// The command line, as given (split like a shell would, without a shell).
    pub command: String,
    /// The name it gave at hello.
    pub name: String,
    /// The protocol version it chose at hello.
    pub protocol: u32,
    /// Its own version, if its hello gave one (`shim_version`: the driver's release or
    /// revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ShimInfo {
    /// The description of an in-process shim.
    pub fn of(shim: &Shim) -> ShimInfo {
        ShimInfo {
            name: shim.name.to_string(),
            role: shim.role(),
            plays: shim.plays().iter().map(|s| s.to_string()).collect(),
            capabilities: shim.capabilities().iter().map(|s| s.to_string()).collect(),
            description: shim.description.to_string(),
            process: None,
            kernel: None,
        }
    }

    /// One line saying what ran: the command and the hello of a process, the kernel.
    pub fn identity_line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.process {
            let version = p
                .version
                .as_deref()
                .map(|v| format!(" version {v}"))
                .unwrap_or_default();
            parts.push(format!(
                "process `{}`, hello: {}{version}, protocol {}",
                p.command, p.name, p.protocol
            ));
        } else if self.kernel.is_none() {
            parts.push("in process".to_string());
        }
        if let Some(k) = &self.kernel {
            parts.push(format!("Linux {k}"));
        }
        parts.join("; ")
    }
}

/// The status of one case variant against one shim.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every check passed.
    Pass,
    /// Only SHOULD or MAY checks failed: a warning, not a failure.
    Warn,
    /// A MUST check failed, or the scenario could not run.
    Fail,
    /// The case does not exercise this shim's role and profiles.
    NotApplicable,
    /// It failed, as an expectations entry says it does.
    ExpectedFail,
    /// An expectations entry says it fails, but it passed: the entry must go.
    UnexpectedPass,
    /// The expectations entry for it has expired.
    ExpiredExpectation,
}

impl Status {
    /// Whether this status makes the run fail.
    pub fn fails_run(self) -> bool {
        matches!(
            self,
            Status::Fail | Status::UnexpectedPass | Status::ExpiredExpectation
        )
    }

    /// The status's one name, the same in every report (human, JSON, JUnit's `status`
    /// property, KTAP's directives) and in the book's vocabulary.
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::NotApplicable => "not-applicable",
            Status::ExpectedFail => "expected-fail",
            Status::UnexpectedPass => "unexpected-pass",
            Status::ExpiredExpectation => "expired-expectation",
        }
    }

    /// Every status, in the order reports list them (what needs a person first).
    pub const ALL: [Status; 7] = [
        Status::Fail,
        Status::UnexpectedPass,
        Status::ExpiredExpectation,
        Status::ExpectedFail,
        Status::Warn,
        Status::Pass,
        Status::NotApplicable,
    ];
}

/// A failed check.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Failure {
    /// The rule the check enforces.
    pub rule: String,
    /// The rule's strength (`MUST`, `SHOULD`, `MAY`).
    pub strength: String,
    /// Where the rule is in the book, relative to the book's root.
    pub anchor: String,
    /// What the check expected.
    pub expected: String,
    /// What the trace shows instead.
    pub observed: String,
    /// The first violating event (its index in the trace), when a monitor found it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event: Option<usize>,
    /// The role instance responsible (`importer.att0`), when a monitor found it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub responsible: Option<String>,
    /// Found by the rule's monitor (over the whole trace), not by a check of the case.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub monitor: bool,
}

/// The first violation of a failed case variant and what follows from it: a reader starts
/// there, and the later violations it lists are consequences, not bugs of their own.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct RootCause {
    /// The rule whose violation comes first.
    pub rule: String,
    /// The index of the first violating event in the shim's trace (`#N` in the trace).
    pub event: usize,
    /// The role responsible for that event.
    pub role: Role,
    /// Rules whose violations in this case variant are consequences of this one.
    #[serde(default)]
    pub consequences: Vec<String>,
    /// The role instance responsible (`importer.att0`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub actor: Option<String>,
    /// What happened at that event, in words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub observed: Option<String>,
}

/// Where a failed case's trace first departs from the reference implementation's, given when
/// no monitor names an event (only a case's checks failed): a hint at the role to look at, not
/// a verdict, since the order of calls is not normative.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Departure {
    /// The index of the first event that differs (`#N` in both traces).
    pub event: usize,
    /// The role that made that call in the shim's trace (in the reference's, if the shim's
    /// trace ended there).
    pub role: Role,
    /// That role's instance (`importer.att0`).
    pub actor: String,
    /// The shim's event there, as a trace line, if its trace goes that far.
    pub shim: Option<String>,
    /// The reference's event there, as a trace line, if its trace goes that far.
    pub reference: Option<String>,
}

/// One case variant against one shim.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct CaseResult {
    /// `case` or `case[variant]`.
    pub name: String,
    /// The case function's name.
    pub case: String,
    /// The variant label (empty if unparameterised).
    pub variant: String,
    /// One line on what the case shows.
    pub title: String,
    /// Its chapter.
    pub chapter: String,
    /// The rules it checks.
    pub rules: Vec<String>,
    /// The result.
    pub status: Status,
    /// Why it is not applicable, or the expectation's reason.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// The expectation's bug link.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bug: Option<String>,
    /// With an expectation: the rules it names (`rules = [...]`), to which the MUST rules the
    /// case broke are compared.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected_rules: Option<Vec<String>>,
    /// With an expectation whose rules differ from those the case broke: the rules it broke
    /// that the expectation does not name (a new bug, or a changed one). The case fails.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub new_rules: Vec<String>,
    /// With an expectation whose rules differ: the rules it names that the case no longer
    /// broke. The case fails.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub vanished_rules: Vec<String>,
    /// Failed checks.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub failures: Vec<Failure>,
    /// The violation the others follow from, when the judge could tell.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub root_cause: Option<RootCause>,
    /// With no root cause: where the trace first departs from the reference's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub departure: Option<Departure>,
    /// Why the scenario could not run at all.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The reference trace against the shim's, as a unified diff (failures only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace_diff: Option<String>,
    /// The shim's trace (failures only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<Trace>,
    /// What the shim process wrote on its standard error during the case.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stderr: Option<String>,
    /// Wall time of the case, in microseconds.
    pub micros: u64,
}

impl CaseResult {
    /// Whether `rule` failed in this case only as a consequence of the case's root cause.
    pub fn is_consequence(&self, rule: &str) -> bool {
        self.root_cause
            .as_ref()
            .is_some_and(|rc| rc.consequences.iter().any(|r| r == rule))
    }
}

/// A rule's verdict for one shim.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every applicable check of the rule passed.
    Conformant,
    /// A check of a MUST rule failed.
    Violated,
    /// A check of a SHOULD rule failed: a warning. (A MAY rule is a permission: a driver
    /// that does not use it gets no verdict from that check.)
    ViolatedShould,
    /// No applicable case checks the rule.
    NotApplicable,
    /// A MUST rule violated only by case variants whose expectation names it: a known failure,
    /// which does not fail the run.
    ExpectedViolation,
    /// A rule broken only as a consequence of another rule's violation in the same case
    /// variant (its root cause, [`RootCause::consequences`]): not a bug of its own. The root
    /// cause's rule carries the failure.
    Consequence,
}

impl Verdict {
    /// The verdict's one name, the same in every report and in the book's vocabulary.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Conformant => "conformant",
            Verdict::Violated => "violated",
            Verdict::ViolatedShould => "violated-should",
            Verdict::NotApplicable => "not-applicable",
            Verdict::ExpectedViolation => "expected-violation",
            Verdict::Consequence => "consequence",
        }
    }

    /// Whether this verdict makes the run fail.
    pub fn fails_run(self) -> bool {
        self == Verdict::Violated
    }
}

/// One rule's verdict.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RuleVerdict {
    /// The rule.
    pub rule: String,
    /// Its strength.
    pub strength: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the rule is not applicable to this backend (a kernel it does not hold for yet), or
    /// that its violation is a finding.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// Counts.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Summary {
    /// Cases that passed (including warnings and expected failures).
    pub passed: usize,
    /// Cases that make the run fail.
    pub failed: usize,
    /// Cases not applicable.
    pub not_applicable: usize,
}

/// Everything about one shim.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ShimResults {
    /// The shim.
    pub shim: ShimInfo,
    /// Every case variant.
    pub cases: Vec<CaseResult>,
    /// Every rule of the book.
    pub rules: Vec<RuleVerdict>,
    /// Counts.
    pub summary: Summary,
}

/// A whole run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RunResults {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The suite's version (the `conformance` crate's).
    pub suite: String,
    /// Per shim.
    pub shims: Vec<ShimResults>,
    /// Counts over every shim.
    pub summary: Summary,
    /// Set when the run was interrupted: the results are partial.
    #[serde(default)]
    pub partial: bool,
    /// What the shims were judged by.
    #[serde(default)]
    pub provenance: Provenance,
}

/// What a result was judged by: the spec's revision and every rule's text, so two results can
/// be compared knowing whether the rules were the same.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Provenance {
    /// The spec's revision: a fingerprint (16 hex digits) of every rule's ID, strength and
    /// text. Two results with the same fingerprint were judged by the same rules.
    pub spec: String,
    /// Every rule's text hash by ID (a reworded rule has a new hash, as in the snapshots).
    pub rules: BTreeMap<String, String>,
    /// The part of the run these results are (`--partition K/N`), when it was split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

impl Provenance {
    /// The provenance of results judged by `spec`.
    pub fn of(spec: &Spec) -> Provenance {
        let rules: BTreeMap<String, String> = spec
            .rules
            .iter()
            .map(|r| (r.id.to_string(), r.hash.to_string()))
            .collect();
        // FNV-1a over the rules sorted by ID: stable across builds, platforms and the order
        // of chapters.
        let mut lines: Vec<String> = spec
            .rules
            .iter()
            .map(|r| format!("{} {} {}\n", r.id, r.strength.as_str(), r.hash))
            .collect();
        lines.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for r in lines {
            for b in r.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Provenance {
            spec: format!("{h:016x}"),
            rules,
            partition: None,
        }
    }
}

impl Status {
    /// The status of an outcome before expectations are applied.
    pub fn of(outcome: &CaseOutcome) -> Status {
        match &outcome.trace {
            // A scenario that could not run, or a driver that crashed, fails whatever the
            // checks say: the steps after the crash never ran.
            Err(_) => return Status::Fail,
            Ok(t) if t.crashed.is_some() => return Status::Fail,
            Ok(_) => {}
        }
        let mut status = Status::Pass;
        let monitored = outcome
            .monitors
            .iter()
            .filter(|m| matches!(m.verdict, crate::monitor::Verdict::Violated(_)))
            .map(|m| m.rule);
        let checked = outcome
            .checks
            .iter()
            .filter(|c| c.result.is_err())
            .map(|c| c.rule);
        for rule in checked.chain(monitored) {
            match outcome.spec.strength_of(rule).on_failure() {
                OnFailure::Violation => return Status::Fail,
                OnFailure::Warning => status = Status::Warn,
                OnFailure::PermissionUnused => {}
            }
        }
        status
    }
}

/// Adds one verdict of `rule` to what is known: a violation wins over a known violation,
/// which wins over a consequence of another rule's violation, which wins over a warning,
/// which wins over conformance.
fn merge<'a>(verdicts: &mut BTreeMap<&'a str, Verdict>, rule: &'a str, v: Verdict) {
    let entry = verdicts.entry(rule).or_insert(Verdict::NotApplicable);
    *entry = match (*entry, v) {
        (Verdict::Violated, _) | (_, Verdict::Violated) => Verdict::Violated,
        (Verdict::ExpectedViolation, _) | (_, Verdict::ExpectedViolation) => {
            Verdict::ExpectedViolation
        }
        (Verdict::Consequence, _) | (_, Verdict::Consequence) => Verdict::Consequence,
        (Verdict::ViolatedShould, _) | (_, Verdict::ViolatedShould) => Verdict::ViolatedShould,
        _ => Verdict::Conformant,
    };
}

/// Per-rule verdicts over one shim's case results, for every rule of `spec`.
pub fn rule_verdicts(
    spec: &Spec,
    cases: &[CaseResult],
    outcomes: &[Option<&CaseOutcome>],
) -> Vec<RuleVerdict> {
    let mut verdicts: BTreeMap<&str, Verdict> = spec
        .rules
        .iter()
        .map(|r| (r.id, Verdict::NotApplicable))
        .collect();
    for (case, outcome) in cases.iter().zip(outcomes) {
        let Some(outcome) = outcome else { continue };
        if case.status == Status::NotApplicable {
            continue;
        }
        // A rule the case's root cause lists as its consequence is not violated of its own.
        let consequence = |rule: &str| {
            case.root_cause
                .as_ref()
                .is_some_and(|rc| rc.rule != rule && rc.consequences.iter().any(|c| c == rule))
        };
        for check in &outcome.checks {
            let v = match (&check.result, &outcome.trace) {
                (Ok(()), Ok(_)) => Verdict::Conformant,
                _ => match spec.strength_of(check.rule).on_failure() {
                    // A case that fails as its expectation says breaks exactly the rules the
                    // expectation names: a known violation.
                    OnFailure::Violation if case.status == Status::ExpectedFail => {
                        Verdict::ExpectedViolation
                    }
                    OnFailure::Violation if consequence(check.rule) => Verdict::Consequence,
                    OnFailure::Violation => Verdict::Violated,
                    OnFailure::Warning => Verdict::ViolatedShould,
                    // Not using a permission gives the rule no verdict (this check used to
                    // turn an unused MAY into a warning in the rule matrix).
                    OnFailure::PermissionUnused => continue,
                },
            };
            merge(&mut verdicts, check.rule, v);
        }
        for m in &outcome.monitors {
            let v = match &m.verdict {
                crate::monitor::Verdict::Held => Verdict::Conformant,
                crate::monitor::Verdict::Violated(_) => {
                    match outcome.spec.strength_of(m.rule).on_failure() {
                        OnFailure::Violation if case.status == Status::ExpectedFail => {
                            Verdict::ExpectedViolation
                        }
                        OnFailure::Violation if consequence(m.rule) => Verdict::Consequence,
                        OnFailure::Violation => Verdict::Violated,
                        OnFailure::Warning => Verdict::ViolatedShould,
                        OnFailure::PermissionUnused => continue,
                    }
                }
                _ => continue,
            };
            merge(&mut verdicts, m.rule, v);
        }
    }
    spec.rules
        .iter()
        .map(|r| RuleVerdict {
            rule: r.id.to_string(),
            strength: r.strength.as_str().to_string(),
            verdict: verdicts[r.id],
            reason: None,
        })
        .collect()
}

impl Summary {
    /// Counts over case results.
    pub fn of(cases: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            match c.status {
                Status::NotApplicable => s.not_applicable += 1,
                st if st.fails_run() => s.failed += 1,
                _ => s.passed += 1,
            }
        }
        s
    }

    /// Adds another summary.
    pub fn add(&mut self, other: &Summary) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.not_applicable += other.not_applicable;
    }
}

impl RunResults {
    /// Whether any case makes the run fail.
    pub fn failed(&self) -> bool {
        self.summary.failed > 0
    }
}
