//! Rule markers: `r[rule.id]` becomes an anchored rule header, and the rule's paragraph is
//! followed by the cases that check it.

use spec_chapters::Strength;

use crate::Page;
use crate::markdown::{Rewrite, escape, rule_marker};

/// Renders every rule marker of the page outside code blocks.
///
/// A marker line becomes `<div class="rule" id="r-ID">…</div>` with the rule's strength, and
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
        if let Some(since) = &rule.since {
            head = head.trim_end_matches("</div>").to_string()
                + " "
                + &since_badge(since, rule.earlier_with.as_deref())
                + "</div>";
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
pub fn header(id: &str, strength: Strength) -> String {
    let id = escape(id);
    format!(
        r##"<div class="rule" id="r-{id}"><a class="rule-link" href="#r-{id}">[{id}]</a> {}</div>"##,
        badge(strength)
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

/// The line listing the cases that check `rule_id`, linked from `page`.
fn cases_line(page: &Page<'_>, rule_id: &str) -> String {
    let links = page.case_links(rule_id);
    if links.is_empty() {
        r#"<div class="rule-cases rule-uncovered">Not yet checked by any case.</div>"#.to_string()
    } else {
        format!(r#"<div class="rule-cases">Checked by: {links}</div>"#)
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

<div class="rule" id="r-attach.core.unlocked"><a class="rule-link" href="#r-attach.core.unlocked">[attach.core.unlocked]</a> <span class="rule-strength rule-must">MUST</span></div>

The core MUST call `attach`
without the lock.

<div class="rule-cases">Checked by: <a href="dir/cases.html#case-first">first</a>, <a href="dir/cases.html#case-second">second</a></div>


<div class="rule" id="r-attach.core.maybe"><a class="rule-link" href="#r-attach.core.maybe">[attach.core.maybe]</a> <span class="rule-strength rule-may">MAY</span></div>

The importer MAY retry.

<div class="rule-cases rule-uncovered">Not yet checked by any case.</div>

<div class="rule" id="r-attach.core.should"><a class="rule-link" href="#r-attach.core.should">[attach.core.should]</a> <span class="rule-strength rule-should">SHOULD</span></div>

The exporter SHOULD log.

<div class="rule-cases">Checked by: <a href="dir/cases.html#case-second">second</a></div>


```text
r[attach.core.unlocked]
```
"##;
        assert_eq!(out, expected);
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
