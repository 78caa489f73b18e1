//! The book's mdBook preprocessor.
//!
//! [`RevokeSpecPreprocessor`] reads the spec from the book's source folder with
//! [`spec_chapters::Spec::load`], refuses to render a book with any diagnostic, and renders
//! every chapter with three passes, each a pure function over the chapter's text:
//!
//! - [`cases`]: anchors and captions above `rust,case` blocks, a label above
//!   `rust,reference` blocks, both retagged `rust,noplayground`;
//! - [`rules`]: `r[rule.id]` markers become anchored rule headers with a strength badge, and
//!   each rule's paragraph is followed by the cases that check it;
//! - [`index`]: `{{#rule-index}}` and `{{#coverage}}` become generated tables.
//!
//! The [`cases`] pass also writes, after every `rust,case` block, a collapsible sequence
//! diagram of each case variant drawn from its blessed snapshot ([`sequence`]).
//!
//! The styles for the generated HTML are in `book/theme/spec.css`.

pub mod cases;
pub mod index;
mod markdown;
pub mod rules;
pub mod sequence;

use std::path::{Path, PathBuf};

use mdbook_preprocessor::book::Book;
use mdbook_preprocessor::errors::{Error, Result};
use mdbook_preprocessor::{Preprocessor, PreprocessorContext};
use spec_chapters::{Diagnostic, Spec};

pub use markdown::relative_link;
pub use sequence::Snapshots;

/// The mdBook preprocessor named `revoke-spec`.
#[derive(Debug, Default, Clone)]
pub struct RevokeSpecPreprocessor {
    /// The folder of the blessed snapshots; `None` means [`sequence::SNAPSHOT_DIR`] under the
    /// book's root (the folder of `book.toml`, which is the workspace root).
    snapshot_dir: Option<PathBuf>,
}

impl RevokeSpecPreprocessor {
    /// The preprocessor's name (its `[preprocessor.revoke-spec]` table, if configured).
    pub const NAME: &'static str = "revoke-spec";

    /// The preprocessor, reading snapshots from `conformance/tests/snapshots` of the book's
    /// root.
    pub fn new() -> Self {
        RevokeSpecPreprocessor::default()
    }

    /// The preprocessor, reading the blessed snapshots from `dir` instead.
    pub fn with_snapshot_dir(dir: impl Into<PathBuf>) -> Self {
        RevokeSpecPreprocessor {
            snapshot_dir: Some(dir.into()),
        }
    }

    /// The folder the snapshots are read from when the book's root is `book_root`.
    pub fn snapshot_dir(&self, book_root: &Path) -> PathBuf {
        self.snapshot_dir
            .clone()
            .unwrap_or_else(|| book_root.join(sequence::SNAPSHOT_DIR))
    }
}

impl Preprocessor for RevokeSpecPreprocessor {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// Loads the spec from the book's `src` folder and renders every chapter; fails with every
    /// diagnostic, one `file:line: message` per line, if the spec has any.
    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        let src_dir = ctx.root.join(&ctx.config.book.src);
        let (spec, diags) = Spec::load(&src_dir);
        if !diags.is_empty() {
            return Err(Error::msg(format_diagnostics(&diags)));
        }
        let chapters = BookChapters::from_book(&book);
        let snapshots = Snapshots::Dir(self.snapshot_dir(&ctx.root));
        book.for_each_chapter_mut(|chapter| {
            let Some(source) = chapter.source_path.as_deref().or(chapter.path.as_deref()) else {
                return;
            };
            let source = path_string(source);
            let page = Page::new(&spec, &chapters, &source).with_snapshots(&snapshots);
            chapter.content = render_chapter(&page, &chapter.content);
        });
        Ok(book)
    }

    /// The passes write HTML, so only the HTML renderer is supported.
    fn supports_renderer(&self, renderer: &str) -> Result<bool> {
        Ok(renderer == "html")
    }
}

/// Every diagnostic on its own line (`book/src/file.md:line: message`), under a count.
pub fn format_diagnostics(diags: &[Diagnostic]) -> String {
    let mut out = format!(
        "the book has {} problem{}; fix {} before it is rendered:",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" },
        if diags.len() == 1 { "it" } else { "them" },
    );
    for d in diags {
        out.push('\n');
        out.push_str(&d.to_string());
    }
    out
}

/// Runs every pass over one chapter: [`cases`] first (it matches cases to blocks by the
/// chapter's own line numbers), then [`rules`], then [`index`].
pub fn render_chapter(page: &Page<'_>, content: &str) -> String {
    let content = cases::render(page, content);
    let content = rules::render(page, &content);
    index::render(page, &content)
}

/// The chapters of the book in reading order: source path, rendered path and title.
#[derive(Debug, Default, Clone)]
pub struct BookChapters {
    entries: Vec<BookChapter>,
}

/// One chapter of [`BookChapters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookChapter {
    /// The Markdown file, relative to the book's `src`, with `/`.
    pub source: String,
    /// The rendered page's path with a `.md` extension (mdBook renames `README.md` to
    /// `index.md`).
    pub output: String,
    /// The title in `SUMMARY.md`.
    pub title: String,
}

impl BookChapters {
    /// The chapters of a book loaded by mdBook (draft chapters have no page and are left out).
    pub fn from_book(book: &Book) -> Self {
        let entries = book
            .chapters()
            .filter_map(|c| {
                let output = c.path.as_deref()?;
                let source = c.source_path.as_deref().unwrap_or(output);
                Some(BookChapter {
                    source: path_string(source),
                    output: path_string(output),
                    title: c.name.clone(),
                })
            })
            .collect();
        BookChapters { entries }
    }

    /// Chapters given in reading order.
    pub fn new(entries: Vec<BookChapter>) -> Self {
        BookChapters { entries }
    }

    /// The chapters in reading order.
    pub fn entries(&self) -> &[BookChapter] {
        &self.entries
    }

    /// Position of a source file in reading order; files the book does not list come last.
    pub fn position(&self, source: &str) -> usize {
        self.find(source).map_or(self.entries.len(), |(i, _)| i)
    }

    /// The title of a source file, or its path if the book does not list it.
    pub fn title(&self, source: &str) -> String {
        self.find(source)
            .map_or_else(|| source.to_string(), |(_, c)| c.title.clone())
    }

    /// The rendered path (`.md`) of a source file.
    pub fn output(&self, source: &str) -> String {
        self.find(source)
            .map_or_else(|| source.to_string(), |(_, c)| c.output.clone())
    }

    fn find(&self, source: &str) -> Option<(usize, &BookChapter)> {
        self.entries
            .iter()
            .enumerate()
            .find(|(_, c)| c.source == source)
    }
}

/// One chapter being rendered, with what the passes need to link to other chapters.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The whole spec, loaded from the book's `src`.
    pub spec: &'a Spec,
    /// The book's chapters, for titles, order and rendered paths.
    pub book: &'a BookChapters,
    /// The chapter's source file, relative to `src` (as in `CaseInfo::chapter`).
    pub chapter: &'a str,
    /// The blessed snapshots the case diagrams are drawn from; `None` draws no diagram.
    pub snapshots: Option<&'a Snapshots>,
}

impl<'a> Page<'a> {
    /// The page of `chapter`, without sequence diagrams.
    pub fn new(spec: &'a Spec, book: &'a BookChapters, chapter: &'a str) -> Self {
        Page {
            spec,
            book,
            chapter,
            snapshots: None,
        }
    }

    /// The same page, with a sequence diagram after each case block drawn from `snapshots`.
    pub fn with_snapshots(self, snapshots: &'a Snapshots) -> Self {
        Page {
            snapshots: Some(snapshots),
            ..self
        }
    }

    /// Link to the page of another chapter (by source path), relative to this page.
    pub fn chapter_href(&self, chapter: &str) -> String {
        let to = self.book.output(chapter);
        let from = self.book.output(self.chapter);
        let link = relative_link(&from, &to);
        if link.is_empty() {
            // The same page: link to its own file name.
            let file = to.rsplit('/').next().unwrap_or(&to);
            file.strip_suffix(".md")
                .map_or_else(|| file.to_string(), |stem| format!("{stem}.html"))
        } else {
            link
        }
    }

    /// Link to an anchor on the page of `chapter`: `other.html#anchor`, or `#anchor` here.
    pub fn anchor_href(&self, chapter: &str, anchor: &str) -> String {
        let link = relative_link(&self.book.output(self.chapter), &self.book.output(chapter));
        format!("{link}#{anchor}")
    }

    /// Link to a rule's anchor (`#r-ID` on its chapter's page); an unknown ID links to
    /// `#r-ID` on this page.
    pub fn rule_href(&self, id: &str) -> String {
        let chapter = self
            .spec
            .rule(id)
            .map_or(self.chapter, |r| r.chapter.as_str());
        let id = self.spec.rule(id).map_or(id, |r| r.id.as_str());
        self.anchor_href(chapter, &format!("r-{}", markdown::escape(id)))
    }

    /// Links to every case that checks `rule_id`, comma-separated; empty if none does.
    pub fn case_links(&self, rule_id: &str) -> String {
        self.spec
            .cases_for_rule(rule_id)
            .map(|c| {
                let name = markdown::escape(&c.name);
                format!(
                    "<a href=\"{}\">{name}</a>",
                    self.anchor_href(&c.chapter, &format!("case-{name}"))
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn path_string(path: &std::path::Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec made of chapters given as text, without diagnostics.
    pub(crate) fn spec(chapters: &[(&str, &str)]) -> Spec {
        let mut spec = Spec::default();
        let mut diags = Vec::new();
        for (path, source) in chapters {
            spec.add_chapter(path.to_string(), source.to_string(), &mut diags);
        }
        assert!(diags.is_empty(), "{}", format_diagnostics(&diags));
        spec
    }

    /// The spec's chapters as a book, in the order given, titled after their paths.
    pub(crate) fn book(spec: &Spec) -> BookChapters {
        BookChapters::new(
            spec.chapters
                .iter()
                .map(|c| BookChapter {
                    source: c.path.clone(),
                    output: c.path.clone(),
                    title: format!("Title of {}", c.path),
                })
                .collect(),
        )
    }

    #[test]
    fn diagnostics_are_all_listed() {
        let diags = vec![
            Diagnostic::new("a.md", 3, "first problem"),
            Diagnostic::new("b.md", 7, "second problem"),
        ];
        assert_eq!(
            format_diagnostics(&diags),
            "the book has 2 problems; fix them before it is rendered:\n\
             book/src/a.md:3: first problem\n\
             book/src/b.md:7: second problem"
        );
    }

    #[test]
    fn snapshots_are_read_under_the_book_root_unless_configured() {
        let root = std::path::Path::new("/ws");
        assert_eq!(
            RevokeSpecPreprocessor::new().snapshot_dir(root),
            root.join("conformance/tests/snapshots")
        );
        assert_eq!(
            RevokeSpecPreprocessor::with_snapshot_dir("/elsewhere").snapshot_dir(root),
            std::path::Path::new("/elsewhere")
        );
    }

    #[test]
    fn readme_renders_as_index() {
        let spec = spec(&[("README.md", "r[x.y]\nIt MUST.\n"), ("sub/c.md", "# C\n")]);
        let book = BookChapters::new(vec![
            BookChapter {
                source: "README.md".into(),
                output: "index.md".into(),
                title: "Intro".into(),
            },
            BookChapter {
                source: "sub/c.md".into(),
                output: "sub/c.md".into(),
                title: "C".into(),
            },
        ]);
        let page = Page::new(&spec, &book, "sub/c.md");
        assert_eq!(page.rule_href("x.y"), "../index.html#r-x.y");
        assert_eq!(page.chapter_href("README.md"), "../index.html");
        assert_eq!(page.chapter_href("sub/c.md"), "c.html");
        let here = Page::new(&spec, &book, "README.md");
        assert_eq!(here.rule_href("x.y"), "#r-x.y");
    }

    #[test]
    fn all_passes_together() {
        let md = "\
# Chapter

r[x.core.one]
The core MUST do one.

```rust,case
/// Checks one.
#[case(rules(\"x.core.one\"))]
fn checks_one(s: &mut Scenario) {
    s.check(\"x.core.one\", ok());
}
```

{{#coverage}}
";
        let spec = spec(&[("x.md", md)]);
        let book = book(&spec);
        let out = render_chapter(&Page::new(&spec, &book, "x.md"), md);
        assert!(
            out.contains(r#"<div class="rule" id="r-x.core.one">"#),
            "{out}"
        );
        assert!(
            out.contains(r##"Checked by: <a href="#case-checks_one">checks_one</a>"##),
            "{out}"
        );
        assert!(
            out.contains(r#"<a class="case-anchor" id="case-checks_one"></a>"#),
            "{out}"
        );
        assert!(out.contains("```rust,noplayground\n"), "{out}");
        assert!(out.contains(r#"<table class="coverage">"#), "{out}");
    }
}
