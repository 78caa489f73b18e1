//! Text inside the book's mermaid diagrams: the book preprocessor draws case traces, and the
//! judge draws replayed schedules, with the same escaping.

/// Text that is safe in a mermaid message, note or alias: the characters mermaid's parser
/// reads as syntax (`;`, `#`, `{`, `}`, `<`, `>`, quotes) become mermaid entity codes
/// (`#59;`), and line breaks become spaces.
pub fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ';' => out.push_str("#59;"),
            '#' => out.push_str("#35;"),
            '{' => out.push_str("#123;"),
            '}' => out.push_str("#125;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '"' => out.push_str("#34;"),
            '\'' => out.push_str("#39;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
