//! Generated pages: `{{#rule-index}}` (every rule) and `{{#coverage}}` (cases per chapter).

use std::collections::BTreeMap;

use spec_chapters::Rule;

use crate::Page;
use crate::markdown::{Rewrite, escape};
use crate::rules::badge;

/// The line replaced by the rule index.
pub const RULE_INDEX: &str = "{{#rule-index}}";
/// The line replaced by the coverage summary.
pub const COVERAGE: &str = "{{#coverage}}";

/// Replaces every line that is exactly [`RULE_INDEX`] or [`COVERAGE`] (outside code blocks)
/// with the generated table.
pub fn render(page: &Page<'_>, content: &str) -> String {
    let mut rw = Rewrite::new(content);
    for i in 0..rw.lines().len() {
        if rw.in_code(i) {
            continue;
        }
        let html = match rw.lines()[i].trim() {
            RULE_INDEX => format!("{}\n{}", jump_box(page), wrapped(&rule_index(page))),
            COVERAGE => wrapped(&coverage(page)),
            _ => continue,
        };
        rw.replace(i, html);
        rw.insert_before(i, [String::new()]);
        rw.insert_after(i, [String::new()]);
    }
    rw.finish()
}

/// The jump-to-rule box: a form whose input suggests every rule ID (and every former ID of
/// `rules-history.toml`'s aliases), each option carrying the link to its rule;
/// `book/theme/rules.js` follows it.
pub fn jump_box(page: &Page<'_>) -> String {
    let mut out = String::from(
        "<form class=\"rule-jump\" role=\"search\" action=\"#\">\
         <label for=\"rule-jump-id\">Jump to rule</label> \
         <input id=\"rule-jump-id\" name=\"rule\" list=\"rule-ids\" \
         placeholder=\"revoke.exporter.wait-bookkeep\" autocomplete=\"off\" spellcheck=\"false\" \
         autocapitalize=\"off\"> <button type=\"submit\">Go</button> \
         <span class=\"rule-jump-status\" role=\"status\"></span></form>\n<datalist id=\"rule-ids\">",
    );
    let mut options: Vec<(&str, String)> = rules_in_book_order(page)
        .into_iter()
        .map(|r| (r.id.as_str(), page.rule_href(&r.id)))
        .collect();
    options.extend(
        page.spec
            .history
            .aliases
            .iter()
            .map(|(old, new)| (old.as_str(), page.rule_href(new))),
    );
    for (id, href) in options {
        out.push_str(&format!(
            "<option value=\"{}\" data-href=\"{href}\"></option>",
            escape(id)
        ));
    }
    out.push_str("</datalist>");
    out
}

/// A table of every rule in book order: ID linked to its anchor, strength, chapter, and the
/// cases that check it.
pub fn rule_index(page: &Page<'_>) -> String {
    let mut out = String::from(
        "<table class=\"rule-index\">\n<thead><tr><th>Rule</th><th>Strength</th><th>Chapter</th><th>Checked by</th></tr></thead>\n<tbody>\n",
    );
    for rule in rules_in_book_order(page) {
        let links: Vec<String> = page
            .spec
            .cases_for_rule(&rule.id)
            .map(|c| {
                let href = page.anchor_href(&c.chapter, &format!("case-{}", escape(&c.name)));
                format!("<a href=\"{href}\">{}</a>", breakable(&c.name, '_'))
            })
            .collect();
        let cases = if links.is_empty() {
            r#"<span class="rule-uncovered">none</span>"#.to_string()
        } else {
            links.join(", ")
        };
        out.push_str(&format!(
            "<tr><td><a class=\"rule-link\" href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"rule-cases-cell\">{cases}</td></tr>\n",
            page.rule_href(&rule.id),
            breakable(&rule.id, '.'),
            badge(rule.strength),
            chapter_link(page, &rule.chapter),
        ));
    }
    out.push_str("</tbody>\n</table>");
    out
}

/// A table with, per chapter, its rules, its cases and the rules no case checks yet.
pub fn coverage(page: &Page<'_>) -> String {
    #[derive(Default)]
    struct Row<'a> {
        rules: usize,
        cases: usize,
        uncovered: Vec<&'a str>,
    }
    let mut rows: BTreeMap<(usize, &str), Row<'_>> = BTreeMap::new();
    for rule in page.spec.rules.values() {
        let row = rows
            .entry((page.book.position(&rule.chapter), &rule.chapter))
            .or_default();
        row.rules += 1;
        if page.spec.cases_for_rule(&rule.id).next().is_none() {
            row.uncovered.push(&rule.id);
        }
    }
    for case in page.spec.cases.values() {
        rows.entry((page.book.position(&case.chapter), &case.chapter))
            .or_default()
            .cases += 1;
    }
    let mut out = String::from(
        "<table class=\"coverage\">\n<thead><tr><th>Chapter</th><th>Rules</th><th>Cases</th><th>Uncovered rules</th></tr></thead>\n<tbody>\n",
    );
    let (mut rules, mut cases, mut uncovered) = (0, 0, 0);
    for ((_, chapter), row) in &rows {
        rules += row.rules;
        cases += row.cases;
        uncovered += row.uncovered.len();
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}</tr>\n",
            chapter_link(page, chapter),
            row.rules,
            row.cases,
            uncovered_cell(page, &row.uncovered),
        ));
    }
    out.push_str(&format!(
        "<tr class=\"coverage-total\"><td>Total</td><td>{rules}</td><td>{cases}</td><td{}>{uncovered}</td></tr>\n</tbody>\n</table>",
        if uncovered > 0 {
            " class=\"rule-uncovered\""
        } else {
            ""
        }
    ));
    out
}

/// A table inside mdBook's `.table-wrapper`, which scrolls sideways on a narrow screen
/// instead of widening the page.
fn wrapped(table: &str) -> String {
    format!("<div class=\"table-wrapper\">{table}</div>")
}

fn uncovered_cell(page: &Page<'_>, ids: &[&str]) -> String {
    if ids.is_empty() {
        return "<td>0</td>".to_string();
    }
    let links: Vec<String> = ids
        .iter()
        .map(|id| format!("<a href=\"{}\">{}</a>", page.rule_href(id), escape(id)))
        .collect();
    format!(
        "<td class=\"rule-uncovered\">{}: {}</td>",
        ids.len(),
        links.join(", ")
    )
}

/// Escaped `text` that may wrap after each `sep`: long IDs in narrow columns break between
/// words, not inside them.
fn breakable(text: &str, sep: char) -> String {
    escape(text).replace(sep, &format!("{sep}<wbr>"))
}

/// Rules ordered by the book's chapter order, then by line.
fn rules_in_book_order<'a>(page: &Page<'a>) -> Vec<&'a Rule> {
    let mut rules: Vec<&Rule> = page.spec.rules.values().collect();
    rules.sort_by(|a, b| {
        (page.book.position(&a.chapter), &a.chapter, a.line).cmp(&(
            page.book.position(&b.chapter),
            &b.chapter,
            b.line,
        ))
    });
    rules
}

fn chapter_link(page: &Page<'_>, chapter: &str) -> String {
    format!(
        "<a href=\"{}\">{}</a>",
        page.chapter_href(chapter),
        escape(&page.book.title(chapter))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{book, spec};

    const A: &str =
        "# A\n\nr[a.core.one]\nThe core MUST do one.\n\nr[a.core.two]\nThe core MAY do two.\n";
    const B: &str = "\
# B

r[b.core.three]
The core SHOULD do three.

```rust,case
/// Checks one and three.
#[case(rules(\"a.core.one\", \"b.core.three\"))]
fn one_and_three(s: &mut Scenario) {
    s.check(\"a.core.one\", ok());
    s.check(\"b.core.three\", ok());
}
```
";

    fn page_spec() -> spec_chapters::Spec {
        // File order puts `b.md` first only if the book says so: the book lists B before A.
        spec(&[("b.md", B), ("a.md", A), ("index/rules.md", "# Rules\n")])
    }

    #[test]
    fn rule_index_lists_every_rule_in_book_order() {
        let spec = page_spec();
        let book = book(&spec);
        let page = Page::new(&spec, &book, "index/rules.md");
        let expected = r##"<table class="rule-index">
<thead><tr><th>Rule</th><th>Strength</th><th>Chapter</th><th>Checked by</th></tr></thead>
<tbody>
<tr><td><a class="rule-link" href="../b.html#r-b.core.three">b.<wbr>core.<wbr>three</a></td><td><span class="rule-strength rule-should">SHOULD</span></td><td><a href="../b.html">Title of b.md</a></td><td class="rule-cases-cell"><a href="../b.html#case-one_and_three">one_<wbr>and_<wbr>three</a></td></tr>
<tr><td><a class="rule-link" href="../a.html#r-a.core.one">a.<wbr>core.<wbr>one</a></td><td><span class="rule-strength rule-must">MUST</span></td><td><a href="../a.html">Title of a.md</a></td><td class="rule-cases-cell"><a href="../b.html#case-one_and_three">one_<wbr>and_<wbr>three</a></td></tr>
<tr><td><a class="rule-link" href="../a.html#r-a.core.two">a.<wbr>core.<wbr>two</a></td><td><span class="rule-strength rule-may">MAY</span></td><td><a href="../a.html">Title of a.md</a></td><td class="rule-cases-cell"><span class="rule-uncovered">none</span></td></tr>
</tbody>
</table>"##;
        assert_eq!(rule_index(&page), expected);
    }

    #[test]
    fn jump_box_offers_every_rule_with_its_link() {
        let spec = page_spec();
        let book = book(&spec);
        let page = Page::new(&spec, &book, "index/rules.md");
        let out = jump_box(&page);
        assert!(out.starts_with("<form class=\"rule-jump\""), "{out}");
        assert!(
            out.ends_with(
                "<datalist id=\"rule-ids\">\
                 <option value=\"b.core.three\" data-href=\"../b.html#r-b.core.three\"></option>\
                 <option value=\"a.core.one\" data-href=\"../a.html#r-a.core.one\"></option>\
                 <option value=\"a.core.two\" data-href=\"../a.html#r-a.core.two\"></option>\
                 </datalist>"
            ),
            "{out}"
        );
    }

    #[test]
    fn coverage_counts_per_chapter() {
        let spec = page_spec();
        let book = book(&spec);
        let page = Page::new(&spec, &book, "a.md");
        let expected = r##"<table class="coverage">
<thead><tr><th>Chapter</th><th>Rules</th><th>Cases</th><th>Uncovered rules</th></tr></thead>
<tbody>
<tr><td><a href="b.html">Title of b.md</a></td><td>1</td><td>1</td><td>0</td></tr>
<tr><td><a href="a.html">Title of a.md</a></td><td>2</td><td>0</td><td class="rule-uncovered">1: <a href="#r-a.core.two">a.core.two</a></td></tr>
<tr class="coverage-total"><td>Total</td><td>3</td><td>1</td><td class="rule-uncovered">1</td></tr>
</tbody>
</table>"##;
        assert_eq!(coverage(&page), expected);
    }

    #[test]
    fn directives_are_replaced_outside_code_only() {
        let spec = page_spec();
        let book = book(&spec);
        let page = Page::new(&spec, &book, "a.md");
        let md = "# Index\n{{#coverage}}\n\n```text\n{{#rule-index}}\n```\n{{#rule-index}}\n";
        let out = render(&page, md);
        assert!(
            out.starts_with("# Index\n\n<div class=\"table-wrapper\"><table class=\"coverage\">"),
            "{out}"
        );
        assert!(
            out.contains("```text\n{{#rule-index}}\n```\n\n<form class=\"rule-jump\""),
            "{out}"
        );
        assert!(out.ends_with("</table></div>\n\n"), "{out}");
    }
}
