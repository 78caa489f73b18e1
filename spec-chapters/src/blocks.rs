//! Fenced code blocks: `rust,reference` (normative code) and `rust,case` (conformance cases).

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag};

use crate::Diagnostic;
use crate::rules::line_of;

/// What a fenced Rust block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `rust,reference`: code of the reference implementation.
    Reference,
    /// `rust,case`: one or more conformance cases.
    Case,
}

/// A normative code block of a chapter.
#[derive(Debug, Clone)]
pub struct CodeBlock {
    /// Reference code or cases.
    pub kind: BlockKind,
    /// Chapter path relative to the book's `src` folder.
    pub chapter: String,
    /// 1-based line of the block's first code line.
    pub line: usize,
    /// The code to compile: hidden lines (`# ...`) are included without their marker.
    pub code: String,
}

/// Attributes mdBook itself understands on a Rust block.
const MDBOOK_ATTRIBUTES: &[&str] = &[
    "ignore",
    "noplayground",
    "noplaypen",
    "should_panic",
    "no_run",
    "compile_fail",
    "editable",
    "mdbook-runnable",
    "edition2015",
    "edition2018",
    "edition2021",
    "edition2024",
];

/// Byte ranges of every fenced or indented code block (rule markers inside them are ignored).
pub(crate) fn fenced_ranges(source: &str) -> Vec<Range<usize>> {
    Parser::new_ext(source, Options::empty())
        .into_offset_iter()
        .filter_map(|(ev, range)| match ev {
            Event::Start(Tag::CodeBlock(_)) => Some(range),
            _ => None,
        })
        .collect()
}

/// The info string's words after the language, if the block is a Rust block.
pub fn rust_attributes(info: &str) -> Option<Vec<&str>> {
    let mut words = info
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty());
    (words.next() == Some("rust")).then(|| words.collect())
}

/// Extracts the `rust,reference` and `rust,case` blocks of one chapter.
pub(crate) fn extract(chapter: &str, source: &str, diags: &mut Vec<Diagnostic>) -> Vec<CodeBlock> {
    let mut out = Vec::new();
    for (ev, range) in Parser::new_ext(source, Options::empty()).into_offset_iter() {
        let Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) = ev else {
            continue;
        };
        let Some(attrs) = rust_attributes(&info) else {
            continue;
        };
        let fence_line = line_of(source, range.start);
        let mut kind = None;
        for attr in &attrs {
            let this = match *attr {
                "reference" => BlockKind::Reference,
                "case" => BlockKind::Case,
                a if MDBOOK_ATTRIBUTES.contains(&a) || a.starts_with("hidelines=") => continue,
                a => {
                    diags.push(Diagnostic::new(
                        chapter,
                        fence_line,
                        format!(
                            "malformed block: unknown code block attribute `{a}` in `{info}` (normative blocks are `rust,reference` or `rust,case`)"
                        ),
                    ));
                    continue;
                }
            };
            if kind.replace(this).is_some_and(|k| k != this) {
                diags.push(Diagnostic::new(
                    chapter,
                    fence_line,
                    format!("malformed block: `{info}` is both `reference` and `case`"),
                ));
            }
        }
        let Some(kind) = kind else { continue };
        let body = &source[range.clone()];
        let mut lines: Vec<&str> = body.lines().collect();
        // Drop the opening fence and, if present, the closing fence.
        lines.remove(0);
        if lines
            .last()
            .is_some_and(|l| l.trim_start().starts_with("```") || l.trim_start().starts_with("~~~"))
        {
            lines.pop();
        } else {
            diags.push(Diagnostic::new(
                chapter,
                fence_line,
                "malformed block: the code block is never closed",
            ));
        }
        let code: Vec<String> = lines.iter().map(|l| unhide(l)).collect();
        out.push(CodeBlock {
            kind,
            chapter: chapter.to_string(),
            line: fence_line + 1,
            code: code.join("\n"),
        });
    }
    out
}

/// mdBook hides lines starting with `# ` (or a lone `#`) in Rust blocks; `##` escapes a `#`.
fn unhide(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    if trimmed == "#" {
        String::new()
    } else if let Some(rest) = trimmed.strip_prefix("# ") {
        format!("{indent}{rest}")
    } else if let Some(rest) = trimmed.strip_prefix("##") {
        format!("{indent}#{rest}")
    } else {
        line.to_string()
    }
}
