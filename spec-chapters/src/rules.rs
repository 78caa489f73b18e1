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
    /// The first Linux version the rule holds for (`since=7.1` in the marker); `None` when it
    /// holds for every version the suite runs against.
    pub since: Option<String>,
    /// Before `since`, the kernel option with which the rule holds all the same
    /// (`earlier-with=CONFIG_DMABUF_MOVE_NOTIFY`).
    pub earlier_with: Option<String>,
}

/// What a marker line says: `r[id]` or `r[id since=7.1 earlier-with=CONFIG_X]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker<'a> {
    /// The rule ID.
    pub id: &'a str,
    /// `since=MAJOR.MINOR`.
    pub since: Option<&'a str>,
    /// `earlier-with=CONFIG_NAME`.
    pub earlier_with: Option<&'a str>,
}

/// Reads the attributes after the ID of a marker: `Err` says what is malformed.
pub fn parse_marker(inside: &str) -> Result<Marker<'_>, String> {
    let mut words = inside.split_whitespace();
    let id = words.next().unwrap_or_default();
    let mut m = Marker {
        id,
        since: None,
        earlier_with: None,
    };
    for word in words {
        match word.split_once('=') {
            Some(("since", v)) => {
                let ok = v.split_once('.').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                });
                if !ok {
                    return Err(format!(
                        "malformed `since={v}` on rule `{id}`: write a kernel version MAJOR.MINOR, such as `since=7.1`"
                    ));
                }
                m.since = Some(v);
            }
            Some(("earlier-with", v)) => {
                let ok = v.strip_prefix("CONFIG_").is_some_and(|n| {
                    !n.is_empty()
                        && n.bytes()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                });
                if !ok {
                    return Err(format!(
                        "malformed `earlier-with={v}` on rule `{id}`: write a kernel option such as `earlier-with=CONFIG_DMABUF_MOVE_NOTIFY`"
                    ));
                }
                m.earlier_with = Some(v);
            }
            _ => {
                return Err(format!(
                    "unknown attribute `{word}` on rule `{id}`: a marker takes only `since=MAJOR.MINOR` and `earlier-with=CONFIG_NAME`"
                ));
            }
        }
    }
    if m.earlier_with.is_some() && m.since.is_none() {
        return Err(format!(
            "`earlier-with` on rule `{id}` needs a `since=MAJOR.MINOR`: it says how the rule holds before that version"
        ));
    }
    Ok(m)
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
        let Some(inside) = marker(line) else { continue };
        let lineno = idx + 1;
        let parsed = match parse_marker(inside) {
            Ok(m) => m,
            Err(e) => {
                diags.push(Diagnostic::new(chapter, lineno, e));
                continue;
            }
        };
        let id = parsed.id;
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
            since: parsed.since.map(str::to_string),
            earlier_with: parsed.earlier_with.map(str::to_string),
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
