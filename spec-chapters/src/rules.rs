//! Rule markers: a line holding only `r[dotted.rule.id]`, followed by the rule's paragraph.

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::Diagnostic;

/// How binding a rule is, read from its RFC 2119 keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strength {
    /// `MUST` / `MUST NOT`: a violation is non-conformance.
    Must,
    /// `SHOULD` / `SHOULD NOT`: a violation is a warning.
    Should,
    /// `MAY`: a permission; a case checks that the counterpart tolerates it.
    May,
}

impl Strength {
    /// The keyword as written in the book.
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Must => "MUST",
            Strength::Should => "SHOULD",
            Strength::May => "MAY",
        }
    }
}

/// One normative statement.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable, dotted, lower-case ID such as `revoke.exporter.wait-bookkeep`.
    pub id: String,
    /// MUST, SHOULD or MAY.
    pub strength: Strength,
    /// The paragraph after the marker, as written (Markdown).
    pub text: String,
    /// Chapter path relative to the book's `src` folder.
    pub chapter: String,
    /// 1-based line of the marker.
    pub line: usize,
    /// Short hash of the whitespace-normalised text: a change of wording changes it.
    pub hash: String,
}

/// True for IDs of two or more dot-separated segments of `[a-z0-9-]`, each starting with a
/// letter or digit.
pub fn is_valid_rule_id(id: &str) -> bool {
    let segments: Vec<&str> = id.split('.').collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// The ID in a marker line `r[...]`, if the line is one.
pub(crate) fn marker(line: &str) -> Option<&str> {
    line.trim_end()
        .strip_prefix("r[")
        .and_then(|rest| rest.strip_suffix(']'))
}

/// Finds every rule marker outside fenced code in one chapter.
pub(crate) fn scan(
    chapter: &str,
    source: &str,
    fenced: &[Range<usize>],
    diags: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let lines: Vec<(usize, &str)> = line_offsets(source);
    let mut rules = Vec::new();
    for (idx, &(offset, line)) in lines.iter().enumerate() {
        if fenced.iter().any(|r| r.contains(&offset)) {
            continue;
        }
        let Some(id) = marker(line) else { continue };
        let lineno = idx + 1;
        if !is_valid_rule_id(id) {
            diags.push(Diagnostic::new(
                chapter,
                lineno,
                format!(
                    "malformed rule ID `{id}`: use two or more dot-separated lower-case segments of letters, digits and `-`"
                ),
            ));
            continue;
        }
        let text: Vec<&str> = lines[idx + 1..]
            .iter()
            .map(|(_, l)| *l)
            .take_while(|l| !l.trim().is_empty() && marker(l).is_none())
            .collect();
        if text.is_empty() {
            diags.push(Diagnostic::new(
                chapter,
                lineno,
                format!("rule marker `r[{id}]` has no text after it: the rule's paragraph must follow on the next line"),
            ));
            continue;
        }
        let text = text.join("\n");
        let Some(strength) = strength_of(&text, chapter, lineno, id, diags) else {
            continue;
        };
        rules.push(Rule {
            id: id.to_string(),
            strength,
            hash: text_hash(&text),
            text,
            chapter: chapter.to_string(),
            line: lineno,
        });
    }
    rules
}

fn strength_of(
    text: &str,
    chapter: &str,
    line: usize,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Strength> {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    let mut found: Vec<Strength> = words
        .iter()
        .filter_map(|w| match *w {
            "MUST" | "SHALL" => Some(Strength::Must),
            "SHOULD" => Some(Strength::Should),
            "MAY" => Some(Strength::May),
            _ => None,
        })
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Some(*one),
        [] => {
            diags.push(Diagnostic::new(
                chapter,
                line,
                format!("rule `{id}` has no strength: its text must contain MUST, SHOULD or MAY (upper case)"),
            ));
            None
        }
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            diags.push(Diagnostic::new(
                chapter,
                line,
                format!(
                    "rule `{id}` mixes strengths {}: split it into one rule per strength",
                    names.join(" and ")
                ),
            ));
            None
        }
    }
}

/// First eight hex digits of the SHA-256 of the text with whitespace collapsed.
pub(crate) fn text_hash(text: &str) -> String {
    let normalised: Vec<&str> = text.split_whitespace().collect();
    let digest = Sha256::digest(normalised.join(" ").as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Each line with the byte offset where it starts.
pub(crate) fn line_offsets(source: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        out.push((offset, line.trim_end_matches(['\n', '\r'])));
        offset += line.len();
    }
    out
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}
