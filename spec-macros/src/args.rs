//! Macro arguments and where the book is.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;

/// Parsed macro input.
pub(crate) struct Args {
    /// The chapter, for `reference!`.
    pub(crate) chapter: Option<syn::LitStr>,
    /// The book's `src` folder, absolute.
    pub(crate) src_dir: PathBuf,
    /// Span for errors.
    pub(crate) span: Span,
}

impl Args {
    /// `"chapter.md"` (when `with_chapter`), then optionally `book = "path"`.
    pub(crate) fn parse(input: TokenStream, with_chapter: bool) -> syn::Result<Args> {
        let span = Span::call_site();
        let parser = |stream: syn::parse::ParseStream<'_>| -> syn::Result<(Option<syn::LitStr>, Option<syn::LitStr>)> {
            let chapter = if with_chapter { Some(stream.parse::<syn::LitStr>()?) } else { None };
            if with_chapter && !stream.is_empty() {
                stream.parse::<syn::Token![,]>()?;
            }
            let mut book = None;
            if !stream.is_empty() {
                let key: syn::Ident = stream.parse()?;
                if key != "book" {
                    return Err(syn::Error::new(key.span(), "expected `book = \"path/to/book/src\"`"));
                }
                stream.parse::<syn::Token![=]>()?;
                book = Some(stream.parse::<syn::LitStr>()?);
            }
            Ok((chapter, book))
        };
        let (chapter, book) = parser.parse2(input)?;
        let root = workspace_root().ok_or_else(|| {
            syn::Error::new(span, "cannot find the workspace root (a folder holding book.toml) above CARGO_MANIFEST_DIR or the spec-macros crate")
        })?;
        let src_dir = match &book {
            Some(lit) => root.join(lit.value()),
            None => root.join("book").join("src"),
        };
        Ok(Args {
            chapter,
            src_dir,
            span,
        })
    }
}

/// The workspace whose book the macros read: the nearest folder at or above the invoking
/// crate's `CARGO_MANIFEST_DIR` that holds `book.toml` (so a crate of another workspace can
/// compile its own book), else the workspace these macros were built in.
///
/// The fallback matters where the invoking crate lives outside any workspace with a book:
/// trybuild compiles the UI tests as a crate under the build folder, which may be anywhere
/// (`CARGO_TARGET_DIR`). The macros' own source folder does not move with the build outputs.
fn workspace_root() -> Option<PathBuf> {
    let invoking = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    invoking
        .into_iter()
        .chain([own])
        .find_map(|start| book_root_above(&start))
}

/// The nearest folder at or above `start` holding `book.toml`.
fn book_root_above(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("book.toml").is_file())
        .map(Path::to_path_buf)
}
