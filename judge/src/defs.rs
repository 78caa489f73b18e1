//! What `spec_macros::conformance!` compiles the book into: its rules and cases as data, held
//! together by a [`Spec`] value that whoever runs or reports passes along.

use crate::scenario::Scenario;

/// How binding a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strength {
    /// A violation is non-conformance.
    Must,
    /// A violation is a warning.
    Should,
    /// A permission.
    May,
}

/// What a failed check means, by the strength of the rule it checks. This is the one place
/// the MUST/SHOULD/MAY policy is written; case statuses, rule verdicts and failure lists all
/// follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Non-conformance: the case fails and the rule is violated.
    Violation,
    /// A warning: the case passes with a warning and the rule's verdict is a warning.
    Warning,
    /// A permission the driver does not use: no failure, no warning, no verdict.
    PermissionUnused,
}

impl Strength {
    /// What a failed check of a rule of this strength means.
    pub fn on_failure(self) -> OnFailure {
        match self {
            Strength::Must => OnFailure::Violation,
            Strength::Should => OnFailure::Warning,
            Strength::May => OnFailure::PermissionUnused,
        }
    }

    /// `MUST`, `SHOULD` or `MAY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Must => "MUST",
            Strength::Should => "SHOULD",
            Strength::May => "MAY",
        }
    }
}

/// A rule of the book.
#[derive(Debug)]
pub struct RuleDef {
    /// Stable dotted ID.
    pub id: &'static str,
    /// MUST, SHOULD or MAY.
    pub strength: Strength,
    /// The rule's paragraph.
    pub text: &'static str,
    /// Chapter file, relative to `book/src`.
    pub chapter: &'static str,
    /// Line of the rule marker.
    pub line: u32,
    /// Short hash of the text.
    pub hash: &'static str,
    /// The first Linux version (`MAJOR.MINOR`) the rule holds for; `None` for every version.
    pub since: Option<&'static str>,
    /// Before `since`, the kernel option (`CONFIG_...`) with which the rule holds all the same.
    pub earlier_with: Option<&'static str>,
}

impl RuleDef {
    /// Where the rule's anchor is in the rendered book, relative to the book's root.
    pub fn anchor(&self) -> String {
        format!(
            "{}#r-{}",
            self.chapter.trim_end_matches(".md").to_owned() + ".html",
            self.id
        )
    }
}

/// One parameter combination of a case.
#[derive(Debug)]
pub struct CaseVariant {
    /// Empty for an unparameterised case, else the snake-case names of its values.
    pub label: &'static str,
    /// Builds the scenario.
    pub build: fn(&mut Scenario),
}

/// A conformance case of the book.
#[derive(Debug)]
pub struct CaseDef {
    /// The case function's name.
    pub name: &'static str,
    /// First line of its doc comment.
    pub title: &'static str,
    /// Chapter file, relative to `book/src`.
    pub chapter: &'static str,
    /// Line of the `fn`.
    pub line: u32,
    /// The rules it checks.
    pub rules: &'static [&'static str],
    /// One entry per parameter combination.
    pub variants: &'static [CaseVariant],
}

impl CaseDef {
    /// `name` or `name[label]`.
    pub fn variant_name(&self, label: &str) -> String {
        if label.is_empty() {
            self.name.to_string()
        } else {
            format!("{}[{label}]", self.name)
        }
    }
}

/// The book's rules and cases: what a run judges against. `conformance!` builds the book's
/// ([`crate::spec`]); a run, a report or a test is handed one explicitly, so another
/// specification (a test's, a generated one) can be judged the same way.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Every rule, by ID.
    pub rules: &'static [RuleDef],
    /// Former rule IDs and the IDs they now go by.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Every case, by name.
    pub cases: &'static [CaseDef],
}

impl Spec {
    /// The rule with this ID (or former ID).
    pub fn rule(&self, id: &str) -> Option<&'static RuleDef> {
        let id = self
            .aliases
            .iter()
            .find(|(old, _)| *old == id)
            .map_or(id, |(_, new)| *new);
        self.rules.iter().find(|r| r.id == id)
    }

    /// The case with this name.
    pub fn case(&self, name: &str) -> Option<&'static CaseDef> {
        self.cases.iter().find(|c| c.name == name)
    }

    /// The strength of the rule `id`; a rule the book does not have counts as MUST.
    pub fn strength_of(&self, id: &str) -> Strength {
        self.rule(id).map_or(Strength::Must, |r| r.strength)
    }

    /// Every `(case, variant label)`, in the book's order.
    pub fn variants(&self) -> impl Iterator<Item = (&'static CaseDef, &'static str)> {
        self.cases
            .iter()
            .flat_map(|c| c.variants.iter().map(move |v| (c, v.label)))
    }
}
