//! The `mdbook-revoke-spec` binary as mdBook runs it (`book.toml` registers it for `mdbook
//! build` and `mdbook serve`): it answers `supports`, and turns mdBook's `[context, book]` JSON
//! into the preprocessed book's JSON.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mdbook_preprocessor::PreprocessorContext;
use mdbook_preprocessor::book::{Book, BookItem, Chapter};
use mdbook_preprocessor::config::Config;

const BIN: &str = env!("CARGO_BIN_EXE_mdbook-revoke-spec");

/// The workspace root: the folder of `book.toml`.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // A binary that refuses its arguments may exit before reading: ignore a closed pipe.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("the binary ends")
}

/// The input mdBook gives a preprocessor: the context of this book and one chapter.
fn input(chapter: &str, content: &str) -> String {
    let config = Config::from_disk(root().join("book.toml")).expect("book.toml");
    let ctx = PreprocessorContext::new(root(), config, "html".to_string());
    let mut book = Book::new();
    book.push_item(Chapter::new(
        chapter,
        content.to_string(),
        chapter,
        Vec::new(),
    ));
    serde_json::to_string(&(&ctx, &book)).expect("JSON")
}

fn chapter_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let book: Book = serde_json::from_slice(&out.stdout).expect("a book on stdout");
    match book.iter().next() {
        Some(BookItem::Chapter(c)) => c.content.clone(),
        other => panic!("expected one chapter, got {other:?}"),
    }
}

/// mdBook asks `supports RENDERER` first: the book's passes write HTML, mermaid's too.
#[test]
fn answers_supports_for_the_html_renderer_only() {
    assert!(run(&["supports", "html"], "").status.success());
    assert!(!run(&["supports", "markdown"], "").status.success());
    assert!(run(&["--mermaid", "supports", "html"], "").status.success());
    let out = run(&["frobnicate"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument `frobnicate`"));
}

/// A chapter of the book comes back with its rule markers turned into anchored rule headers
/// and the placeholders of `cargo xtask book` explained.
#[test]
fn preprocesses_a_chapter_of_the_book() {
    let attach = std::fs::read_to_string(root().join("book/src/attach.md")).expect("attach.md");
    assert!(attach.contains("\nr[attach.core.error-passthrough]\n"));
    let out = chapter_of(&run(&[], &input("attach.md", &attach)));
    assert!(
        out.contains(r#"<h6 class="rule" id="r-attach.core.error-passthrough">"#),
        "{out}"
    );
    assert!(!out.contains("\nr[attach.core.error-passthrough]\n"));

    let page = "# Broken shims\n\n{{#mutants}}\n";
    let out = chapter_of(&run(&[], &input("mutants.md", page)));
    assert!(!out.contains("{{#mutants}}"), "{out}");
    assert!(out.contains("generated from the suite's own runs by `cargo xtask book`"));
}

/// With `--mermaid`, a diagram block becomes what mermaid's script draws.
#[test]
fn the_mermaid_pass_renders_diagrams() {
    let page = "# A\n\n```mermaid\nsequenceDiagram\n    A->>B: hello\n```\n";
    let out = chapter_of(&run(&["--mermaid"], &input("a.md", page)));
    assert!(out.contains(r#"<pre class="mermaid">"#), "{out}");
    assert!(!out.contains("```mermaid"));
}

/// Input that is not mdBook's is refused with a message, not a panic.
#[test]
fn bad_input_is_an_error_with_a_message() {
    let out = run(&[], "{\"not\": \"a book\"}");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expected mdBook's [context, book] JSON"),
        "{err}"
    );
}
