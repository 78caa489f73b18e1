//! The tables `spec_macros::conformance!` fills: rules and cases, as static data.

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

impl Strength {
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
