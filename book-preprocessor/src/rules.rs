//! Rule markers: `r[rule.id]` becomes an anchored rule header, and the rule's paragraph is
//! followed by the cases that check it.

use spec_chapters::Strength;

use crate::Page;
use crate::markdown::{Rewrite, escape, rule_marker};

/// Renders every rule marker of the page outside code blocks.
///
/// A marker line becomes `<h6 class="rule" id="r-ID">…</h6>` with the rule's strength, and
/// after the rule's paragraph (the lines up to the next blank line or marker) comes a
/// `rule-cases` line linking each case of [`spec_chapters::Spec::cases_for_rule`], or saying
/// that no case checks the rule yet. Markers naming no rule of the spec are left as written.
pub fn render(page: &Page<'_>, content: &str) -> String {
    let mut rw = Rewrite::new(content);
    let n = rw.lines().len();
    for i in 0..n {
        if rw.in_code(i) {
            continue;
        }
        let Some(id) = rule_marker(rw.lines()[i]) else {
            continue;
        };
        let Some(rule) = page.spec.rules.get(id) else {
            continue;
        };
        let mut head = header(id, rule.strength);
        let aliases = alias_anchors(page, id);
        if !aliases.is_empty() {
            head = head.replacen("</span> ", &format!("</span>{aliases} "), 1);
        }
        if let Some(since) = &rule.since {
            head = head.trim_end_matches("</h6>").to_string()
                + " "
                + &since_badge(since, rule.earlier_with.as_deref())
                + "</h6>";
        }
        rw.replace(i, head);
        rw.insert_after(i, [String::new()]);
        let mut last = i;
        while last + 1 < n
            && !rw.in_code(last + 1)
            && !rw.lines()[last + 1].trim().is_empty()
            && rule_marker(rw.lines()[last + 1]).is_none()
        {
            last += 1;
        }
        let cases = cases_line(page, id);
        rw.insert_after(last, [String::new(), cases, String::new()]);
    }
    rw.finish()
}

/// The anchored header that replaces a marker line.
///
/// It is an `<h6>` so that mdBook's search indexes each rule as its own section (the book
/// sets `heading-split-level = 6`) and a hit lands on the rule's anchor; the link sits in a
/// `<span>`, so mdBook's "on this page" list, which takes headings whose first child is a
/// link, leaves rules out.
pub fn header(id: &str, strength: Strength) -> String {
    let id = escape(id);
    format!(
        r##"<h6 class="rule" id="r-{id}"><span class="rule-id"><a class="rule-link" href="#r-{id}">[{id}]</a></span> {}</h6>"##,
        badge(strength)
    )
}

/// An empty anchor `<a class="rule-alias" id="r-OLD"></a>` for every former ID that
/// `rules-history.toml` keeps as an alias of `id`, so that links to the old ID still land on
/// the rule.
pub fn alias_anchors(page: &Page<'_>, id: &str) -> String {
    page.spec
        .history
        .aliases
        .iter()
        .filter(|(_, new)| new.as_str() == id)
        .map(|(old, _)| {
            format!(
                r#"<a class="rule-alias" id="r-{}" title="former ID"></a>"#,
                escape(old)
            )
        })
        .collect()
}

/// Hidden words that let mdBook's search find a rule by any part of its ID.
///
/// Search splits text at spaces and hyphens only, so `revoke.exporter.wait-bookkeep` is
/// indexed as `revoke.exporter.wait` and `bookkeep`, and a query matches a word or a prefix
/// of one. Adding every dotted suffix of each word (`exporter.wait`, `wait`) makes any run
/// of the ID's parts findable, such as `exporter.wait-bookkeep`.
pub fn search_terms(id: &str) -> String {
    let mut terms = Vec::new();
    for word in id.split('-') {
        let parts: Vec<&str> = word.split('.').collect();
        for start in 1..parts.len() {
            terms.push(parts[start..].join("."));
        }
    }
    if terms.is_empty() {
        return String::new();
    }
    format!(
        r#"<span class="rule-search-terms" hidden>{}</span>"#,
        escape(&terms.join(" "))
    )
}

/// The version badge of a versioned rule: `<span class="rule-since">since Linux 7.1</span>`.
pub fn since_badge(since: &str, earlier_with: Option<&str>) -> String {
    let title = match earlier_with {
        Some(cfg) => format!(
            " title=\"holds on Linux {} and later, and on earlier kernels built with {}=y\"",
            escape(since),
            escape(cfg)
        ),
        None => format!(" title=\"holds on Linux {} and later\"", escape(since)),
    };
    let extra = earlier_with
        .map(|cfg| format!(" (earlier: {}=y)", escape(cfg)))
        .unwrap_or_default();
    format!(
        r#"<span class="rule-since"{title}>since Linux {}{extra}</span>"#,
        escape(since)
    )
}

/// The strength badge: `<span class="rule-strength rule-must">MUST</span>`.
pub fn badge(strength: Strength) -> String {
    let word = strength.as_str();
    format!(
        r#"<span class="rule-strength rule-{}">{word}</span>"#,
        word.to_ascii_lowercase()
    )
}

/// The page listing every rule's monitor (`{{#monitors}}`), with an anchor `m-ID` per rule.
pub const MONITORS_PAGE: &str = "monitors.md";

/// The line listing the cases that check `rule_id`, linked from `page`, and the rule's monitor.
fn cases_line(page: &Page<'_>, rule_id: &str) -> String {
    let links = page.case_links(rule_id);
    let terms = search_terms(rule_id);
    // Every rule has a monitor, or a reason on the same page why no trace can show it (the
    // judge's tests require one or the other).
    let monitor = format!(
        r#" · <a class="rule-monitor" href="{}">monitor</a>"#,
        page.anchor_href(MONITORS_PAGE, &format!("m-{}", escape(rule_id)))
    );
    if links.is_empty() {
        format!(
            r#"<div class="rule-cases rule-uncovered">Not yet checked by any case.{monitor}{terms}</div>"#
        )
    } else {
        format!(r#"<div class="rule-cases">Checked by: {links}{monitor}{terms}</div>"#)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{book, spec};

    const CHAPTER: &str = "\
# Attaching

r[attach.core.unlocked]
The core MUST call `attach`
without the lock.

r[attach.core.maybe]
The importer MAY retry.
r[attach.core.should]
The exporter SHOULD log.

```text
r[attach.core.unlocked]
```
";

    const CASES: &str = "\
# Cases

```rust,case
/// One.
#[case(rules(\"attach.core.unlocked\"))]
fn first(s: &mut Scenario) {
    s.check(\"attach.core.unlocked\", ok());
}

/// Two.
#[case(rules(\"attach.core.unlocked\", \"attach.core.should\"))]
fn second(s: &mut Scenario) {
    s.check(\"attach.core.unlocked\", ok());
    s.check(\"attach.core.should\", ok());
}
```
";

    #[test]
    fn markers_become_anchored_rules_with_their_cases() {
        let spec = spec(&[("attach.md", CHAPTER), ("dir/cases.md", CASES)]);
        let book = book(&spec);
        let page = Page::new(&spec, &book, "attach.md");
        let out = render(&page, CHAPTER);
        let expected = r##"# Attaching

<h6 class="rule" id="r-attach.core.unlocked"><span class="rule-id"><a class="rule-link" href="#r-attach.core.unlocked">[attach.core.unlocked]</a></span> <span class="rule-strength rule-must">MUST</span></h6>

The core MUST call `attach`
without the lock.

<div class="rule-cases">Checked by: <a href="dir/cases.html#case-first">first</a>, <a href="dir/cases.html#case-second">second</a> · <a class="rule-monitor" href="monitors.html#m-attach.core.unlocked">monitor</a><span class="rule-search-terms" hidden>core.unlocked unlocked</span></div>


<h6 class="rule" id="r-attach.core.maybe"><span class="rule-id"><a class="rule-link" href="#r-attach.core.maybe">[attach.core.maybe]</a></span> <span class="rule-strength rule-may">MAY</span></h6>

The importer MAY retry.

<div class="rule-cases rule-uncovered">Not yet checked by any case. · <a class="rule-monitor" href="monitors.html#m-attach.core.maybe">monitor</a><span class="rule-search-terms" hidden>core.maybe maybe</span></div>

<h6 class="rule" id="r-attach.core.should"><span class="rule-id"><a class="rule-link" href="#r-attach.core.should">[attach.core.should]</a></span> <span class="rule-strength rule-should">SHOULD</span></h6>

The exporter SHOULD log.

<div class="rule-cases">Checked by: <a href="dir/cases.html#case-second">second</a> · <a class="rule-monitor" href="monitors.html#m-attach.core.should">monitor</a><span class="rule-search-terms" hidden>core.should should</span></div>


```text
r[attach.core.unlocked]
```
"##;
        assert_eq!(out, expected);
    }

    #[test]
    fn search_terms_are_the_dotted_suffixes_of_each_word() {
        assert_eq!(
            search_terms("revoke.exporter.wait-bookkeep"),
            r#"<span class="rule-search-terms" hidden>exporter.wait wait</span>"#
        );
        assert_eq!(
            search_terms("attach.dynamic.ops-attach-unlocked"),
            r#"<span class="rule-search-terms" hidden>dynamic.ops ops</span>"#
        );
        assert_eq!(search_terms("plain"), "");
    }

    #[test]
    fn aliases_keep_their_anchor_on_the_renamed_rule() {
        let mut spec = spec(&[("attach.md", CHAPTER)]);
        spec.history
            .aliases
            .insert("attach.dynamic.old".into(), "attach.core.maybe".into());
        let book = book(&spec);
        let out = render(&Page::new(&spec, &book, "attach.md"), CHAPTER);
        assert!(
            out.contains(r##"<h6 class="rule" id="r-attach.core.maybe"><span class="rule-id"><a class="rule-link" href="#r-attach.core.maybe">[attach.core.maybe]</a></span><a class="rule-alias" id="r-attach.dynamic.old" title="former ID"></a> <span class="rule-strength rule-may">MAY</span></h6>"##),
            "{out}"
        );
    }

    #[test]
    fn unknown_markers_and_markers_in_code_stay() {
        let spec = spec(&[("attach.md", CHAPTER)]);
        let book = book(&spec);
        let page = Page::new(&spec, &book, "other.md");
        let md = "r[not.defined]\nText MUST.\n\n```\nr[attach.core.unlocked]\n```\n";
        assert_eq!(render(&page, md), md);
    }

    #[test]
    fn links_are_relative_to_the_page() {
        let spec = spec(&[("attach.md", CHAPTER), ("dir/cases.md", CASES)]);
        let book = book(&spec);
        let page = Page::new(&spec, &book, "dir/cases.md");
        let out = render(&page, "r[attach.core.should]\nThe exporter SHOULD log.\n");
        assert!(
            out.contains(r##"Checked by: <a href="#case-second">second</a>"##),
            "{out}"
        );
    }
}
