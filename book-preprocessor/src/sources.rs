//! Links from the chapters' prose to their sources: messages of the seed thread to the list
//! archive, kernel symbols and files to a source browser.
//!
//! - Thread citations are written as the book always wrote them: an author's name, then a
//!   date and a time (`Christian König, 2026-01-19 12:12 and 14:21`, or `(2026-01-19 16:20)`
//!   after a sentence naming the author). Each time is resolved against the thread's message
//!   index (`thread/messages.json`, every message of the seed thread) with the nearest author
//!   named before it in the same paragraph and the last date given; it becomes a link to a
//!   lore.kernel.org search for that message. A time that matches no message of that author on
//!   that day is an error: the book is not rendered with a citation nobody can find.
//! - Kernel symbols and files in code spans (`` `dma_buf_invalidate_mappings()` ``,
//!   `` `drivers/vfio/pci/vfio_pci_dmabuf.c` ``) become links to the source browser at the
//!   kernel version the citations were checked against, once per chapter (the first mention).
//!   Only symbols that `kernel/citations.json` cites, or `kernel/source-links.json` lists, are
//!   linked: both lists are checked against a kernel tree by `revoke-conformance kernel
//!   --check-citations`, so a link never points at a name the kernel does not have.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::Deserialize;

/// The seed thread's message index (`book/src/thread/messages.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Thread {
    /// The thread's subject.
    pub thread: String,
    /// Where the index came from and how messages are linked.
    pub note: String,
    /// Every message, in the order of the thread.
    pub messages: Vec<Message>,
}

/// One message of the seed thread.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// The author's name as the list shows it.
    pub author: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// `HH:MM` (UTC).
    pub time: String,
    /// The subject line.
    pub subject: String,
}

impl Message {
    /// A lore.kernel.org search that finds this message: its author, its day and the words of
    /// its patch's subject (the archive copy the book was written from has no Message-IDs).
    pub fn archive_url(&self) -> String {
        let day: String = self.date.chars().filter(char::is_ascii_digit).collect();
        let next = next_day(&self.date);
        let query = format!(
            "f:\"{}\" d:{day}..{next} s:\"{}\"",
            self.author,
            subject_words(&self.subject)
        );
        format!("https://lore.kernel.org/all/?q={}", url_encode(&query))
    }
}

/// The patch title of a subject, without `Re:` and the `[PATCH v2 n/m]` prefix.
fn subject_words(subject: &str) -> &str {
    let s = subject.trim_start_matches("Re:").trim();
    match (s.starts_with('['), s.find(']')) {
        (true, Some(end)) => s[end + 1..].trim(),
        _ => s,
    }
}

/// The day after `YYYY-MM-DD`, as `YYYYMMDD` (only January of the thread's year needs more
/// than adding one, but the arithmetic is general).
fn next_day(date: &str) -> String {
    let parts: Vec<u32> = date.split('-').filter_map(|p| p.parse().ok()).collect();
    let [y, m, d] = parts[..] else {
        return date.to_string();
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let (y, m, d) = if d < days {
        (y, m, d + 1)
    } else if m < 12 {
        (y, m + 1, 1)
    } else {
        (y + 1, 1, 1)
    };
    format!("{y:04}{m:02}{d:02}")
}

/// Percent-encoding of a query string (unreserved characters kept, space as `+`).
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A citation the thread index cannot resolve: 1-based line of the chapter, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// 1-based line in the chapter.
    pub line: usize,
    /// What was cited and why it matches no message.
    pub message: String,
}

/// A date or a time found in prose, with its byte range in the chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Author(String),
    Date(String),
    Time(String, Range<usize>),
}

/// Every thread citation of `content` linked to the archive, or what could not be resolved.
pub fn link_thread(content: &str, thread: &Thread) -> Result<String, Vec<Unresolved>> {
    let authors: BTreeSet<&str> = thread.messages.iter().map(|m| m.author.as_str()).collect();
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut errors = Vec::new();
    for paragraph in prose_paragraphs(content) {
        let mut author: Option<String> = None;
        let mut date: Option<String> = None;
        for token in tokens(content, &paragraph, &authors) {
            match token {
                Token::Author(a) => author = Some(a),
                Token::Date(d) => date = Some(d),
                Token::Time(t, range) => {
                    let line = content[..range.start].matches('\n').count() + 1;
                    let Some(day) = &date else {
                        if let Some(who) = &author {
                            errors.push(Unresolved {
                                line,
                                message: format!(
                                    "thread citation {who}, {t} gives no date before it in its \
                                     paragraph (write YYYY-MM-DD HH:MM)"
                                ),
                            });
                        }
                        continue;
                    };
                    let Some(who) = &author else {
                        errors.push(Unresolved {
                            line,
                            message: format!(
                                "thread citation {day} {t} names no author before it in its paragraph"
                            ),
                        });
                        continue;
                    };
                    match thread
                        .messages
                        .iter()
                        .find(|m| &m.author == who && &m.date == day && m.time == t)
                    {
                        Some(m) => edits.push((range, m.archive_url())),
                        None => errors.push(Unresolved {
                            line,
                            message: format!(
                                "thread citation {who}, {day} {t} matches no message of the seed \
                                 thread (book/src/thread/messages.json)"
                            ),
                        }),
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(apply_links(content, edits))
}

/// `content` with each range wrapped in a Markdown link to its URL.
fn apply_links(content: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(content.len());
    let mut at = 0;
    for (range, url) in edits {
        out.push_str(&content[at..range.start]);
        out.push('[');
        out.push_str(&content[range.clone()]);
        out.push_str("](");
        out.push_str(&url);
        out.push(')');
        at = range.end;
    }
    out.push_str(&content[at..]);
    out
}

/// The byte ranges of plain text of each paragraph-like block (paragraphs, list items, table
/// cells), outside code, links, headings and HTML.
fn prose_paragraphs(content: &str) -> Vec<Vec<Range<usize>>> {
    let mut out: Vec<Vec<Range<usize>>> = Vec::new();
    let mut current: Vec<Range<usize>> = Vec::new();
    let mut skip = 0usize;
    for (ev, range) in Parser::new_ext(content, Options::ENABLE_TABLES).into_offset_iter() {
        match ev {
            Event::Start(
                Tag::Link { .. } | Tag::Heading { .. } | Tag::Image { .. } | Tag::CodeBlock(_),
            ) => skip += 1,
            Event::End(TagEnd::Link | TagEnd::Heading(_) | TagEnd::Image | TagEnd::CodeBlock) => {
                skip = skip.saturating_sub(1)
            }
            Event::Start(Tag::Paragraph | Tag::Item | Tag::TableCell)
            | Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::TableCell)
                if !current.is_empty() =>
            {
                out.push(std::mem::take(&mut current));
            }
            Event::Text(text) if skip == 0 && content.get(range.clone()) == Some(&*text) => {
                current.push(range)
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Authors, dates and times of a paragraph's text, in order.
fn tokens(content: &str, paragraph: &[Range<usize>], authors: &BTreeSet<&str>) -> Vec<Token> {
    let mut found: Vec<(usize, Token)> = Vec::new();
    for range in paragraph {
        let text = &content[range.clone()];
        for a in authors {
            for (i, _) in text.match_indices(a) {
                found.push((range.start + i, Token::Author(a.to_string())));
            }
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if let Some(date) = date_at(text, i) {
                found.push((range.start + i, Token::Date(date.to_string())));
                i += date.len();
            } else if let Some(time) = time_at(text, i) {
                let start = range.start + i;
                let norm = if time.len() == 4 {
                    format!("0{time}")
                } else {
                    time.to_string()
                };
                found.push((start, Token::Time(norm, start..start + time.len())));
                i += time.len();
            } else {
                i += 1;
            }
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, t)| t).collect()
}

/// A `YYYY-MM-DD` date starting at byte `i` of `text` (not inside a longer number).
fn date_at(text: &str, i: usize) -> Option<&str> {
    let s = text.get(i..i + 10)?;
    let b = s.as_bytes();
    let digits = |r: Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
    (ok && boundary(text, i, i + 10)).then_some(s)
}

/// An `HH:MM` or `H:MM` time starting at byte `i` of `text` (not inside a longer token such
/// as a ratio `4.5:1` or a timestamp with seconds).
fn time_at(text: &str, i: usize) -> Option<&str> {
    for len in [5, 4] {
        let Some(s) = text.get(i..i + len) else {
            continue;
        };
        let b = s.as_bytes();
        let colon = len - 3;
        let ok = b[..colon].iter().all(u8::is_ascii_digit)
            && b[colon] == b':'
            && b[colon + 1..].iter().all(u8::is_ascii_digit);
        let rest = &text.as_bytes()[i + len..];
        // `12:12:30` is a timestamp with seconds; `14:21: "quote"` is a time.
        let after_ok =
            !(rest.first() == Some(&b':') && rest.get(1).is_some_and(u8::is_ascii_digit));
        let before_ok = i == 0 || !matches!(text.as_bytes()[i - 1], b'.' | b':');
        if ok && after_ok && before_ok && boundary(text, i, i + len) {
            return Some(s);
        }
    }
    None
}

/// Whether `text[start..end]` is not glued to a digit or letter on either side.
fn boundary(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_alphanumeric()) && !after.is_some_and(|c| c.is_alphanumeric())
}

/// The kernel names the book may link to the source browser, and the version they are
/// checked against.
#[derive(Debug, Clone, Default)]
pub struct KernelNames {
    /// The kernel version of the links (`7.2`).
    pub version: String,
    /// Function, type and member names.
    pub symbols: HashSet<String>,
}

impl KernelNames {
    /// The URL of a symbol or a file in the source browser, if the span names one.
    pub fn url(&self, span: &str) -> Option<String> {
        let v = &self.version;
        let is_path = ["drivers/", "include/", "mm/", "tools/", "Documentation/"]
            .iter()
            .any(|p| span.starts_with(p))
            && !span.contains(char::is_whitespace)
            && span.rsplit('/').next().is_some_and(|f| f.contains('.'));
        if is_path {
            return Some(format!(
                "https://elixir.bootlin.com/linux/v{v}/source/{span}"
            ));
        }
        let name = span.strip_suffix("()").unwrap_or(span);
        self.symbols
            .contains(name)
            .then(|| format!("https://elixir.bootlin.com/linux/v{v}/C/ident/{name}"))
    }
}

/// `content` with the first code span of each kernel symbol or file (outside links, headings
/// and code blocks) linked to the source browser.
pub fn link_kernel_names(content: &str, names: &KernelNames) -> String {
    let mut seen = HashSet::new();
    let mut edits = Vec::new();
    let mut skip = 0usize;
    for (ev, range) in Parser::new_ext(content, Options::ENABLE_TABLES).into_offset_iter() {
        match ev {
            Event::Start(Tag::Link { .. } | Tag::Heading { .. } | Tag::Image { .. }) => skip += 1,
            Event::End(TagEnd::Link | TagEnd::Heading(_) | TagEnd::Image) => {
                skip = skip.saturating_sub(1)
            }
            Event::Code(code) if skip == 0 => {
                let key = code.strip_suffix("()").unwrap_or(&code).to_string();
                if let Some(url) = names.url(&code) {
                    let source = &content[range.clone()];
                    if source.starts_with('`') && seen.insert(key) {
                        edits.push((range, url));
                    }
                }
            }
            _ => {}
        }
    }
    apply_links(content, edits)
}

/// The thread's messages as a Markdown table: time, author, subject, archive link.
pub fn thread_index(thread: &Thread) -> String {
    let mut out =
        String::from("| # | Sent (UTC) | From | Subject | Archive |\n|---|---|---|---|---|\n");
    for (i, m) in thread.messages.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} {} | {} | {} | [search]({}) |\n",
            i + 1,
            m.date,
            m.time,
            m.author,
            m.subject.replace('|', "\\|"),
            m.archive_url()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread() -> Thread {
        let m = |author: &str, date: &str, time: &str, subject: &str| Message {
            author: author.into(),
            date: date.into(),
            time: time.into(),
            subject: subject.into(),
        };
        Thread {
            thread: "t".into(),
            note: "n".into(),
            messages: vec![
                m(
                    "Christian König",
                    "2026-01-19",
                    "12:12",
                    "Re: [PATCH v2 4/4] vfio: Add pinned interface",
                ),
                m(
                    "Christian König",
                    "2026-01-19",
                    "14:21",
                    "Re: [PATCH v2 4/4] vfio: Add pinned interface",
                ),
                m(
                    "Jason Gunthorpe",
                    "2026-01-19",
                    "16:20",
                    "Re: [PATCH v2 0/4] dma-buf: document",
                ),
                m("Jason Gunthorpe", "2026-01-20", "09:05", "Re: x"),
            ],
        }
    }

    #[test]
    fn a_citation_links_each_time_to_its_message() {
        let text = "As the seed thread says (Christian König, 2026-01-19 12:12 and 14:21: \"no\"; at 12:12:30).\n";
        let out = link_thread(text, &thread()).unwrap();
        assert_eq!(
            out.matches("](https://lore.kernel.org/all/?q=").count(),
            2,
            "{out}"
        );
        assert!(
            out.contains("[12:12](https://lore.kernel.org/all/?q="),
            "{out}"
        );
        assert!(out.contains("[14:21](https://"), "{out}");
        assert!(
            out.contains("2026-01-19 [12:12]"),
            "the date stays as written: {out}"
        );
        assert!(
            out.contains("f%3A%22Christian+K%C3%B6nig%22+d%3A20260119..20260120"),
            "{out}"
        );
        assert!(
            out.contains("s%3A%22vfio%3A+Add+pinned+interface%22"),
            "{out}"
        );
    }

    #[test]
    fn the_nearest_author_before_the_time_is_the_one_cited() {
        let text =
            "Christian König disagreed; Jason Gunthorpe, in the thread (2026-01-19 16:20): x.\n";
        let out = link_thread(text, &thread()).unwrap();
        assert!(
            out.contains("[16:20](") && out.contains("Jason+Gunthorpe"),
            "{out}"
        );
    }

    #[test]
    fn a_time_no_message_has_is_an_error_with_its_line() {
        let text = "Intro.\n\nJason Gunthorpe (2026-01-19 16:21) said so.\n";
        let err = link_thread(text, &thread()).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].line, 3);
        assert!(
            err[0].message.contains("Jason Gunthorpe, 2026-01-19 16:21"),
            "{err:?}"
        );
    }

    #[test]
    fn a_time_after_an_author_without_a_date_is_an_error() {
        let err = link_thread("Jason Gunthorpe said so (16:20).\n", &thread()).unwrap_err();
        assert!(err[0].message.contains("gives no date"), "{err:?}");
    }

    #[test]
    fn a_dated_time_without_an_author_is_an_error() {
        let err = link_thread("On 2026-01-19 16:20 something.\n", &thread()).unwrap_err();
        assert!(err[0].message.contains("names no author"), "{err:?}");
    }

    #[test]
    fn times_without_a_date_ratios_code_and_links_are_left_alone() {
        let text = "A 4.5:1 ratio at 16:20; `Jason Gunthorpe 2026-01-19 16:20` is code; \
                    [Jason Gunthorpe 2026-01-19 16:20](x) is a link.\n\n\
                    ```\nJason Gunthorpe 2026-01-19 16:20\n```\n";
        assert_eq!(link_thread(text, &thread()).unwrap(), text);
    }

    #[test]
    fn the_date_carries_over_to_later_times_of_the_paragraph_only() {
        let text = "Jason Gunthorpe (2026-01-20 9:05). Later 16:20.\n\nAt 16:20 nobody.\n";
        let out = link_thread(text, &thread()).unwrap_err();
        // "16:20" after the 2026-01-20 date resolves on the 20th, where he sent no 16:20 message.
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].line, 1);
    }

    #[test]
    fn a_single_digit_hour_is_read_as_two() {
        let out = link_thread("Jason Gunthorpe (2026-01-20 9:05).\n", &thread()).unwrap();
        assert!(out.contains("[9:05](https://lore.kernel.org"), "{out}");
    }

    #[test]
    fn archive_urls_search_by_author_day_and_subject() {
        let m = &thread().messages[2];
        assert_eq!(
            m.archive_url(),
            "https://lore.kernel.org/all/?q=f%3A%22Jason+Gunthorpe%22+d%3A20260119..20260120+s%3A%22dma-buf%3A+document%22"
        );
        assert_eq!(next_day("2026-01-31"), "20260201");
        assert_eq!(next_day("2026-12-31"), "20270101");
        assert_eq!(next_day("2028-02-28"), "20280229");
    }

    fn names() -> KernelNames {
        KernelNames {
            version: "7.2".into(),
            symbols: ["dma_buf_move_notify", "vfio_pci_dma_buf_move"]
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }

    #[test]
    fn the_first_mention_of_a_kernel_symbol_or_file_is_linked() {
        let text = "Call `dma_buf_move_notify()` then `dma_buf_move_notify()` again, see \
                    `drivers/dma-buf/dma-buf.c`; `unknown_fn()` and `drivers/x` stay.\n";
        let out = link_kernel_names(text, &names());
        assert_eq!(
            out,
            "Call [`dma_buf_move_notify()`](https://elixir.bootlin.com/linux/v7.2/C/ident/dma_buf_move_notify) \
             then `dma_buf_move_notify()` again, see \
             [`drivers/dma-buf/dma-buf.c`](https://elixir.bootlin.com/linux/v7.2/source/drivers/dma-buf/dma-buf.c); \
             `unknown_fn()` and `drivers/x` stay.\n"
        );
    }

    #[test]
    fn kernel_names_in_links_headings_and_code_blocks_stay() {
        let text = "# `dma_buf_move_notify()`\n\n[`vfio_pci_dma_buf_move`](x)\n\n\
                    ```c\ndma_buf_move_notify();\n```\n";
        assert_eq!(link_kernel_names(text, &names()), text);
    }
}
