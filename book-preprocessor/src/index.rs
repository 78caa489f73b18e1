//! Generated pages: `{{#rule-index}}` (the jump-to-rule box, then every rule by role) and
//! `{{#coverage}}` (cases per chapter).

use std::collections::BTreeMap;

use spec_chapters::Rule;

use crate::Page;
use crate::glance::{self, Role};
use crate::markdown::{Rewrite, escape};
use crate::rules::{badge, since_badge};

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
            RULE_INDEX => format!("{}\n{}", jump_box(page), rule_index(page)),
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

/// Every rule as a reviewer's checklist: grouped by the role it binds ([`glance::role`]), in
/// book order within a group, each with its ID (linked to the rule), strength, version, text,
/// source (chapter and file line) and the cases that check it; then the former IDs of
/// `rules-history.toml` ([`history`]).
pub fn rule_index(page: &Page<'_>) -> String {
    let rules = rules_in_book_order(page);
    let mut out = String::from("<div class=\"rule-checklist\">");
    for role in Role::ALL {
        let mine: Vec<&&Rule> = rules.iter().filter(|r| glance::role(r) == role).collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n<h2 class=\"rule-group\" id=\"rules-{0}\"><a class=\"header\" href=\"#rules-{0}\">{1}</a> <span class=\"rule-group-count\">{2} rule{3}</span></h2>\n<ol class=\"rule-list\">",
            role.as_str(),
            role.title(),
            mine.len(),
            if mine.len() == 1 { "" } else { "s" }
        ));
        for rule in mine {
            out.push_str(&entry(page, rule));
        }
        out.push_str("</ol>");
    }
    out.push_str(&history(page));
    out.push_str("\n</div>");
    out
}

/// One rule of the checklist.
fn entry(page: &Page<'_>, rule: &Rule) -> String {
    let links: Vec<String> = page
        .spec
        .cases_for_rule(&rule.id)
        .map(|c| {
            let href = page.anchor_href(&c.chapter, &format!("case-{}", escape(&c.name)));
            format!("<a href=\"{href}\">{}</a>", breakable(&c.name, '_'))
        })
        .collect();
    let cases = if links.is_empty() {
        r#"<span class="rule-uncovered">not yet checked by any case</span>"#.to_string()
    } else {
        format!("checked by {}", links.join(", "))
    };
    let since = rule
        .since
        .as_deref()
        .map(|s| format!(" {}", since_badge(s, rule.earlier_with.as_deref())))
        .unwrap_or_default();
    let text = rule.text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "<li class=\"rule-entry rule-entry-{}\"><div class=\"rule-entry-head\"><a class=\"rule-link\" href=\"{}\">{}</a> {}{since}</div>\
         <div class=\"rule-entry-text\">{}</div>\
         <div class=\"rule-entry-meta\">{} · <code>book/src/{}:{}</code> · {cases}</div></li>",
        rule.strength.as_str().to_ascii_lowercase(),
        page.rule_href(&rule.id),
        breakable(&rule.id, '.'),
        badge(rule.strength),
        glance::inline_markdown(&text),
        chapter_link(page, &rule.chapter),
        escape(&rule.chapter),
        rule.line,
    )
}

/// The former IDs: aliases, linked to the rule they became (whose header carries the old
/// `r-OLD` anchor, see [`crate::rules::alias_anchors`]; here the anchor is `former-OLD`), and
/// retired IDs with the reason, anchored `r-OLD`; empty when there are none.
fn history(page: &Page<'_>) -> String {
    let history = &page.spec.history;
    if history.aliases.is_empty() && history.retired.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n<h2 class=\"rule-group\" id=\"former-rule-ids\"><a class=\"header\" href=\"#former-rule-ids\">Former rule IDs</a></h2>\n<ul class=\"rule-former\">",
    );
    for (old, new) in &history.aliases {
        out.push_str(&format!(
            "<li id=\"former-{}\"><code>{}</code> is now <a class=\"rule-link\" href=\"{}\">{}</a></li>",
            escape(old),
            escape(old),
            page.rule_href(new),
            escape(new)
        ));
    }
    for (old, why) in &history.retired {
        out.push_str(&format!(
            "<li id=\"r-{}\"><code>{}</code> was retired: {}</li>",
            escape(old),
            escape(old),
            glance::inline_markdown(why)
        ));
    }
    out.push_str("</ul>");
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
    fn rule_index_groups_rules_by_role_in_book_order() {
        let spec = page_spec();
        let book = book(&spec);
        let page = Page::new(&spec, &book, "index/rules.md");
        let expected = r##"<div class="rule-checklist">
<h2 class="rule-group" id="rules-core"><a class="header" href="#rules-core">The core</a> <span class="rule-group-count">3 rules</span></h2>
<ol class="rule-list"><li class="rule-entry rule-entry-should"><div class="rule-entry-head"><a class="rule-link" href="../b.html#r-b.core.three">b.<wbr>core.<wbr>three</a> <span class="rule-strength rule-should">SHOULD</span></div><div class="rule-entry-text">The core SHOULD do three.</div><div class="rule-entry-meta"><a href="../b.html">Title of b.md</a> · <code>book/src/b.md:3</code> · checked by <a href="../b.html#case-one_and_three">one_<wbr>and_<wbr>three</a></div></li><li class="rule-entry rule-entry-must"><div class="rule-entry-head"><a class="rule-link" href="../a.html#r-a.core.one">a.<wbr>core.<wbr>one</a> <span class="rule-strength rule-must">MUST</span></div><div class="rule-entry-text">The core MUST do one.</div><div class="rule-entry-meta"><a href="../a.html">Title of a.md</a> · <code>book/src/a.md:3</code> · checked by <a href="../b.html#case-one_and_three">one_<wbr>and_<wbr>three</a></div></li><li class="rule-entry rule-entry-may"><div class="rule-entry-head"><a class="rule-link" href="../a.html#r-a.core.two">a.<wbr>core.<wbr>two</a> <span class="rule-strength rule-may">MAY</span></div><div class="rule-entry-text">The core MAY do two.</div><div class="rule-entry-meta"><a href="../a.html">Title of a.md</a> · <code>book/src/a.md:6</code> · <span class="rule-uncovered">not yet checked by any case</span></div></li></ol>
</div>"##;
        assert_eq!(rule_index(&page), expected);
    }

    #[test]
    fn former_ids_keep_an_anchor_in_the_index() {
        let mut spec = page_spec();
        spec.history
            .aliases
            .insert("a.old.one".into(), "a.core.one".into());
        spec.history
            .retired
            .insert("a.core.gone".into(), "merged into `a.core.one`".into());
        let book = book(&spec);
        let page = Page::new(&spec, &book, "index/rules.md");
        let out = rule_index(&page);
        assert!(
            out.contains(r#"<li id="former-a.old.one"><code>a.old.one</code> is now <a class="rule-link" href="../a.html#r-a.core.one">a.core.one</a></li>"#),
            "{out}"
        );
        assert!(
            out.contains(r#"<li id="r-a.core.gone"><code>a.core.gone</code> was retired: merged into <code>a.core.one</code></li>"#),
            "{out}"
        );
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
        assert!(out.ends_with("</div>\n\n"), "{out}");
    }
}
