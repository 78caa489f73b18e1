//! Diagnostics that name a chapter file and line.

use std::fmt;

/// A problem in the book, located at a chapter file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Chapter path relative to the book's `src` folder.
    pub file: String,
    /// The `src` folder as shown to the author (relative to the workspace root).
    pub src: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, lower-case, quoting the text the author wrote.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at `file:line`.
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            src: "book/src".to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}:{}: {}",
            self.src, self.file, self.line, self.message
        )
    }
}
