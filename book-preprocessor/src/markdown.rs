//! Line-oriented editing of a chapter's Markdown, aware of where code blocks are.

use std::ops::RangeInclusive;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag};

/// A code block of a chapter, by 0-based line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// Lines of the block, from the opening fence to the closing fence (or the last code line).
    pub(crate) lines: RangeInclusive<usize>,
    /// The info string of a fenced block; `None` for an indented block.
    pub(crate) info: Option<String>,
}

/// Every code block of `content` (fenced or indented), in order.
pub(crate) fn code_blocks(content: &str) -> Vec<Block> {
    Parser::new_ext(content, Options::empty())
        .into_offset_iter()
        .filter_map(|(ev, range)| match ev {
            Event::Start(Tag::CodeBlock(kind)) => {
                let first = line_index(content, range.start);
                let last = line_index(content, range.end.saturating_sub(1).max(range.start));
                let info = match kind {
                    CodeBlockKind::Fenced(info) => Some(info.to_string()),
                    CodeBlockKind::Indented => None,
                };
                Some(Block {
                    lines: first..=last,
                    info,
                })
            }
            _ => None,
        })
        .collect()
}

/// 0-based index of the line holding byte `offset`.
fn line_index(content: &str, offset: usize) -> usize {
    content[..offset.min(content.len())].matches('\n').count()
}

/// A chapter split into lines, with replacements and insertions applied when finished.
///
/// Edits are keyed by the original line numbers, so passes can plan every edit against the
/// text as it was read.
#[derive(Debug)]
pub(crate) struct Rewrite<'a> {
    lines: Vec<&'a str>,
    before: Vec<Vec<String>>,
    replace: Vec<Option<String>>,
    after: Vec<Vec<String>>,
    trailing_newline: bool,
    in_code: Vec<bool>,
}

impl<'a> Rewrite<'a> {
    /// Splits `content` into lines and marks those inside code blocks.
    pub(crate) fn new(content: &'a str) -> Self {
        let lines: Vec<&str> = content
            .split_inclusive('\n')
            .map(|l| l.trim_end_matches(['\n', '\r']))
            .collect();
        let n = lines.len();
        let mut in_code = vec![false; n];
        for block in code_blocks(content) {
            for i in block.lines {
                if let Some(flag) = in_code.get_mut(i) {
                    *flag = true;
                }
            }
        }
        Rewrite {
            lines,
            before: vec![Vec::new(); n],
            replace: vec![None; n],
            after: vec![Vec::new(); n],
            trailing_newline: content.ends_with('\n'),
            in_code,
        }
    }

    /// The original lines.
    pub(crate) fn lines(&self) -> &[&'a str] {
        &self.lines
    }

    /// True if line `i` is part of a code block.
    pub(crate) fn in_code(&self, i: usize) -> bool {
        self.in_code.get(i).copied().unwrap_or(false)
    }

    /// Replaces line `i`.
    pub(crate) fn replace(&mut self, i: usize, text: String) {
        self.replace[i] = Some(text);
    }

    /// Inserts lines before line `i` (after earlier insertions there).
    pub(crate) fn insert_before(&mut self, i: usize, text: impl IntoIterator<Item = String>) {
        self.before[i].extend(text);
    }

    /// Inserts lines after line `i` (after earlier insertions there).
    pub(crate) fn insert_after(&mut self, i: usize, text: impl IntoIterator<Item = String>) {
        self.after[i].extend(text);
    }

    /// The edited text.
    pub(crate) fn finish(self) -> String {
        let mut out: Vec<String> = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.iter().enumerate() {
            out.extend(self.before[i].iter().cloned());
            out.push(self.replace[i].clone().unwrap_or_else(|| line.to_string()));
            out.extend(self.after[i].iter().cloned());
        }
        let mut text = out.join("\n");
        if self.trailing_newline {
            text.push('\n');
        }
        text
    }
}

/// The rule ID of a marker line `r[...]`, read as `spec-chapters` reads it.
pub(crate) fn rule_marker(line: &str) -> Option<&str> {
    line.trim_end()
        .strip_prefix("r[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inside| inside.split_whitespace().next())
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The link from the page rendered from chapter `from` to the page of chapter `to` (both
/// paths relative to the book's `src`, with `/`): `.md` becomes `.html`, and a link to the
/// same page is empty, so that `format!("{link}#anchor")` stays on the page.
pub fn relative_link(from: &str, to: &str) -> String {
    if from == to {
        return String::new();
    }
    let to_html = match to.strip_suffix(".md") {
        Some(stem) => format!("{stem}.html"),
        None => to.to_string(),
    };
    let from_dirs: Vec<&str> = from.split('/').collect();
    let from_dirs = &from_dirs[..from_dirs.len() - 1];
    let to_parts: Vec<&str> = to_html.split('/').collect();
    let (to_dirs, to_file) = to_parts.split_at(to_parts.len() - 1);
    let common = from_dirs
        .iter()
        .zip(to_dirs)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<&str> = vec![".."; from_dirs.len() - common];
    parts.extend(&to_dirs[common..]);
    parts.extend(to_file);
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_blocks_have_their_lines_and_info() {
        let md = "text\n\n```rust,case\nfn a() {}\n```\n\n    indented\n\nmore\n";
        let blocks = code_blocks(md);
        assert_eq!(
            blocks,
            vec![
                Block {
                    lines: 2..=4,
                    info: Some("rust,case".into())
                },
                Block {
                    lines: 6..=6,
                    info: None
                },
            ]
        );
    }

    #[test]
    fn rewrite_keeps_untouched_text_byte_for_byte() {
        for md in ["a\nb\n", "a\nb", "", "\n\n"] {
            assert_eq!(Rewrite::new(md).finish(), md);
        }
    }

    #[test]
    fn rewrite_applies_edits_by_original_line() {
        let mut rw = Rewrite::new("one\ntwo\nthree\n");
        rw.replace(1, "TWO".into());
        rw.insert_before(1, ["before".to_string()]);
        rw.insert_after(1, ["after".to_string()]);
        rw.insert_after(2, ["end".to_string()]);
        assert_eq!(rw.finish(), "one\nbefore\nTWO\nafter\nthree\nend\n");
    }

    #[test]
    fn marker_lines() {
        assert_eq!(rule_marker("r[a.b]"), Some("a.b"));
        assert_eq!(rule_marker("r[a.b]  "), Some("a.b"));
        assert_eq!(rule_marker("r[a.b since=7.1]"), Some("a.b"));
        assert_eq!(rule_marker(" r[a.b]"), None);
        assert_eq!(rule_marker("see r[a.b]"), None);
    }

    #[test]
    fn relative_links() {
        assert_eq!(relative_link("a.md", "a.md"), "");
        assert_eq!(relative_link("a.md", "b.md"), "b.html");
        assert_eq!(relative_link("x/a.md", "b.md"), "../b.html");
        assert_eq!(relative_link("a.md", "x/b.md"), "x/b.html");
        assert_eq!(relative_link("x/a.md", "x/b.md"), "b.html");
        assert_eq!(relative_link("x/y/a.md", "x/z/b.md"), "../z/b.html");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
