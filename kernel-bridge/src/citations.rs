//! Where the rules come from in the kernel: citations of Linux 7.2 (a file, a function or
//! other symbol defined there, and optionally a kernel-doc sentence quoted word for word), kept
//! in `book/src/kernel/citations.json`, rendered as a table of the book, and checked against any
//! kernel tree: every cited file and symbol still there, every quoted sentence still said.

use std::fmt::Write as _;
use std::path::Path;

/// The citations file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Citations {
    /// The kernel the citations were taken from (`7.2`).
    pub kernel: String,
    /// One per (rule, source).
    pub citations: Vec<Citation>,
}

/// One source of one rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Citation {
    /// The rule.
    pub rule: String,
    /// The file, relative to the tree's root.
    pub file: String,
    /// A function, struct member, enum or enumerator defined in the file.
    pub symbol: String,
    /// A kernel-doc sentence of the file, word for word (comment leaders and line breaks
    /// aside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

/// What became of a citation in a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// File, symbol and quote are there.
    Holds,
    /// The file is gone.
    NoFile,
    /// The symbol is no longer defined in the file.
    NoSymbol,
    /// The quoted sentence is no longer in the file.
    NoQuote,
}

impl Status {
    fn word(&self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::NoFile => "FILE GONE",
            Status::NoSymbol => "SYMBOL GONE",
            Status::NoQuote => "SENTENCE CHANGED",
        }
    }
}

/// The text of a C file with comment leaders dropped and every run of white space made one
/// space, so that a quote matches across the line breaks of a kernel-doc comment.
pub fn prose(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("/**")
            .or_else(|| t.strip_prefix("/*"))
            .or_else(|| t.strip_prefix("*/"))
            .or_else(|| t.strip_prefix('*'))
            .unwrap_or(t);
        out.push(' ');
        out.push_str(t);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `symbol` is defined in this C text: a function (its name at the start of a line,
/// after nothing but a return type, followed by `(`; a prototype in a header counts), a
/// struct member or function pointer (`bool name;`, `(*name)(`), an enum (`enum name {`) or an
/// enumerator (`NAME,` or `NAME =` at the start of a line).
pub fn defines(text: &str, symbol: &str) -> bool {
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with('*') || code.starts_with("/*") || code.starts_with("//") {
            continue;
        }
        let mut from = 0;
        while let Some(i) = line[from..].find(symbol).map(|i| i + from) {
            from = i + symbol.len();
            let before = &line[..i];
            let after = &line[i + symbol.len()..];
            if before.chars().next_back().is_some_and(is_ident)
                || after.chars().next().is_some_and(is_ident)
            {
                continue;
            }
            let after = after.trim_start();
            // A function defined (or declared) at the start of a line.
            if after.starts_with('(')
                && !line.starts_with(char::is_whitespace)
                && before
                    .chars()
                    .all(|c| is_ident(c) || c == ' ' || c == '*' || c == '\t')
            {
                return true;
            }
            // A function pointer member.
            if before.ends_with("(*") && after.starts_with(')') {
                return true;
            }
            // A member, an enum, an enumerator.
            if before.trim_end().ends_with("enum") && after.starts_with('{') {
                return true;
            }
            if line.starts_with(char::is_whitespace)
                && (after.starts_with(';') || after.starts_with(',') || after.starts_with('='))
                && !before.contains('(')
                && !before.contains('=')
                && !before.trim().starts_with("return")
            {
                return true;
            }
        }
    }
    false
}

/// Checks one citation against a tree.
pub fn check_one(tree: &Path, c: &Citation) -> Status {
    let Ok(text) = std::fs::read_to_string(tree.join(&c.file)) else {
        return Status::NoFile;
    };
    if !defines(&text, &c.symbol) {
        return Status::NoSymbol;
    }
    if let Some(q) = &c.quote
        && !prose(&text).contains(&prose(q))
    {
        return Status::NoQuote;
    }
    Status::Holds
}

fn source_link(kernel: &str, c: &Citation) -> String {
    format!(
        "[`{}`](https://elixir.bootlin.com/linux/v{kernel}/C/ident/{}) in [`{}`](https://elixir.bootlin.com/linux/v{kernel}/source/{})",
        c.symbol, c.symbol, c.file, c.file
    )
}

fn rule_link(rule: &str) -> String {
    match judge::spec().rule(rule) {
        Some(def) => format!("[`{rule}`]({})", def.anchor()),
        None => format!("`{rule}`"),
    }
}

/// The book's table of the citations.
pub fn table_md(c: &Citations) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| rule | Linux {} source | kernel-doc |", c.kernel);
    let _ = writeln!(out, "|---|---|---|");
    for x in &c.citations {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            rule_link(&x.rule),
            source_link(&c.kernel, x),
            x.quote
                .as_deref()
                .map(|q| format!("\"{}\"", q.replace('|', "\\|")))
                .unwrap_or_default()
        );
    }
    let uncited: Vec<String> = judge::spec()
        .rules
        .iter()
        .filter(|r| !c.citations.iter().any(|x| x.rule == r.id))
        .map(|r| format!("`{}`", r.id))
        .collect();
    if !uncited.is_empty() {
        let _ = writeln!(
            out,
            "\nNot yet cited ({} of {} rules): {}.",
            uncited.len(),
            judge::spec().rules.len(),
            uncited.join(", ")
        );
    }
    out
}

/// Checks every citation against the tree of Linux `version`: the report, rule by rule, of
/// what changed since the kernel the citations were taken from, and whether all still hold.
pub fn report(tree: &Path, version: &str, c: &Citations) -> (String, bool) {
    let mut out = String::new();
    let results: Vec<(&Citation, Status)> = c
        .citations
        .iter()
        .map(|x| (x, check_one(tree, x)))
        .collect();
    let changed: Vec<&(&Citation, Status)> = results
        .iter()
        .filter(|(_, s)| *s != Status::Holds)
        .collect();
    let _ = writeln!(
        out,
        "What changed upstream since Linux {}, rule by rule. The {} citations of \
         `book/src/kernel/citations.json` (taken from Linux {}) checked against Linux {version} \
         (`{}`): {} hold, {} changed.\n",
        c.kernel,
        results.len(),
        c.kernel,
        tree.file_name().map_or_else(
            || tree.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        ),
        results.len() - changed.len(),
        changed.len()
    );
    if !changed.is_empty() {
        let _ = writeln!(out, "| rule | source | what changed |\n|---|---|---|");
        for (x, s) in &changed {
            let _ = writeln!(
                out,
                "| {} | `{}` in `{}` | {}{} |",
                rule_link(&x.rule),
                x.symbol,
                x.file,
                s.word(),
                if *s == Status::NoQuote {
                    format!(
                        ": \"{}\"",
                        x.quote.as_deref().unwrap_or_default().replace('|', "\\|")
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    (out, changed.is_empty())
}

/// The folders of a kernel tree where the book's linked symbols are looked for.
pub const SOURCE_LINK_DIRS: &[&str] = &[
    "drivers/dma-buf",
    "include/linux",
    "drivers/vfio",
    "drivers/iommu/iommufd",
    "drivers/infiniband/core",
    "drivers/gpu/drm",
];

/// The symbols of `symbols` that no C file or header under [`SOURCE_LINK_DIRS`] of `tree`
/// names as a whole word: links of the book's prose that would point at nothing.
pub fn missing_symbols(tree: &Path, symbols: &[String]) -> Vec<String> {
    let mut left: Vec<&String> = symbols.iter().collect();
    let mut stack: Vec<std::path::PathBuf> =
        SOURCE_LINK_DIRS.iter().map(|d| tree.join(d)).collect();
    while let Some(dir) = stack.pop() {
        if left.is_empty() {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "c" || x == "h") {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                left.retain(|s| !names_word(&text, s));
            }
        }
    }
    left.into_iter().cloned().collect()
}

/// Whether `text` has `word` with no identifier character on either side.
fn names_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(is_ident)
            && !text[i + word.len()..].chars().next().is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = r#"
/**
 * dma_buf_pin - Lock down the DMA-buf
 *
 * Only dynamic importers (who set up @attach with dma_buf_dynamic_attach()) may
 * call this, and only for limited use cases.
 */
int dma_buf_pin(struct dma_buf_attachment *attach)
{
	return dma_buf_unpin_helper(attach);
}

static bool
dma_buf_pin_on_map(struct dma_buf_attachment *attach)
{
}
struct dma_buf_attach_ops {
	bool allow_peer2peer;
	void (*invalidate_mappings)(struct dma_buf_attachment *attach);
};
enum dma_resv_usage {
	DMA_RESV_USAGE_KERNEL,
	DMA_RESV_USAGE_BOOKKEEP = 3
};
"#;

    #[test]
    fn linked_symbols_are_looked_for_as_whole_words_in_the_tree() {
        let tree = std::env::temp_dir().join(format!("source-links-{}", std::process::id()));
        std::fs::create_dir_all(tree.join("drivers/dma-buf")).unwrap();
        std::fs::write(tree.join("drivers/dma-buf/dma-buf.c"), C).unwrap();
        let syms = [
            "dma_buf_pin",
            "dma_buf_unpin",
            "dma_buf_unpin_helper",
            "buf_pin",
        ]
        .map(String::from);
        assert_eq!(missing_symbols(&tree, &syms), ["dma_buf_unpin", "buf_pin"]);
        std::fs::remove_dir_all(&tree).unwrap();
    }

    #[test]
    fn symbols_are_found_where_defined_only() {
        for s in [
            "dma_buf_pin",
            "dma_buf_pin_on_map",
            "allow_peer2peer",
            "invalidate_mappings",
            "dma_resv_usage",
            "DMA_RESV_USAGE_KERNEL",
            "DMA_RESV_USAGE_BOOKKEEP",
        ] {
            assert!(defines(C, s), "{s}");
        }
        // Called, mentioned in a comment, or a prefix of a defined name: not defined.
        for s in [
            "dma_buf_unpin_helper",
            "dma_buf_dynamic_attach",
            "dma_buf",
            "attach",
        ] {
            assert!(!defines(C, s), "{s}");
        }
    }

    #[test]
    fn quotes_match_across_comment_lines() {
        let q = "Only dynamic importers (who set up @attach with dma_buf_dynamic_attach()) may call this";
        assert!(prose(C).contains(&prose(q)));
        assert!(!prose(C).contains(&prose("Only static importers may call this")));
    }

    #[test]
    fn the_committed_citations_name_rules_of_the_book_and_render_as_committed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../book/src/kernel");
        let json = std::fs::read_to_string(format!("{dir}/citations.json")).expect("read");
        let c: Citations = serde_json::from_str(&json).expect("citations");
        for x in &c.citations {
            assert!(
                judge::spec().rule(&x.rule).is_some(),
                "{} is no rule",
                x.rule
            );
        }
        let md = std::fs::read_to_string(format!("{dir}/citations.md")).expect("read");
        assert!(
            md == table_md(&c),
            "book/src/kernel/citations.md is not rendered from citations.json (run `revoke-conformance kernel --render-summary book/src/kernel/citations.json`)"
        );
    }
}
