//! The introduction's generated parts: `{{#contract-at-a-glance}}` (what each role MUST do,
//! each obligation linked to its rule) and `{{#rule-example ID}}` (a copy of one rule's box),
//! and [`role`], the role a rule binds, which the rule index groups by.

use spec_chapters::{Rule, Strength};

use crate::Page;
use crate::markdown::{Rewrite, escape};
use crate::rules::{badge, since_badge};

/// The line replaced by each role's MUSTs.
pub const GLANCE: &str = "{{#contract-at-a-glance}}";
/// A line `{{#rule-example ID}}` is replaced by a copy of the box of rule ID.
pub const EXAMPLE: &str = "{{#rule-example ";

/// The side of the contract a rule binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The driver that owns the memory (`struct dma_buf_ops`).
    Exporter,
    /// A driver whose device uses the memory (`struct dma_buf_attach_ops`).
    Importer,
    /// The dma-buf core (`drivers/dma-buf/dma-buf.c` and `dma-resv.c`).
    Core,
}

impl Role {
    /// Every role, in the order the book presents them.
    pub const ALL: [Role; 3] = [Role::Exporter, Role::Importer, Role::Core];

    /// The role's name, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Exporter => "exporter",
            Role::Importer => "importer",
            Role::Core => "core",
        }
    }

    /// The role as a heading: "The exporter".
    pub fn title(self) -> &'static str {
        match self {
            Role::Exporter => "The exporter",
            Role::Importer => "The importer",
            Role::Core => "The core",
        }
    }

    fn from_word(word: &str) -> Option<Role> {
        match word.to_ascii_lowercase().as_str() {
            "exporter" | "exporters" | "exporter's" => Some(Role::Exporter),
            "importer" | "importers" | "importer's" => Some(Role::Importer),
            "core" => Some(Role::Core),
            _ => None,
        }
    }
}

/// The role a rule binds: the second part of its ID when that names a role
/// (`revoke.exporter.wait-bookkeep`); otherwise the subject of its sentence: the last role
/// named in the clause before its keyword; for a core function, its caller, the importer,
/// when the function "MUST be called" in some way (`dma_buf_pin()` MUST be called with the
/// lock held), else the core; else the last role named before the keyword, else the core.
pub fn role(rule: &Rule) -> Role {
    if let Some(role) = rule.id.split('.').nth(1).and_then(Role::from_word) {
        return role;
    }
    let text = rule.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let before = ["MUST", "SHOULD", "MAY"]
        .iter()
        .filter_map(|k| text.find(k))
        .min()
        .map_or(text.as_str(), |at| &text[..at]);
    let last_role = |s: &str| {
        s.split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter_map(Role::from_word)
            .next_back()
    };
    let clause = before.rsplit(", ").next().unwrap_or(before);
    let called = text[before.len()..].starts_with("MUST be called")
        || text[before.len()..].starts_with("MUST NOT be called");
    last_role(clause)
        .or_else(|| {
            clause
                .contains("dma_buf_")
                .then_some(if called { Role::Importer } else { Role::Core })
        })
        .or_else(|| last_role(before))
        .unwrap_or(Role::Core)
}

/// Replaces [`GLANCE`] and every `{{#rule-example ID}}` line outside code blocks.
pub fn render(page: &Page<'_>, content: &str) -> String {
    let mut rw = Rewrite::new(content);
    for i in 0..rw.lines().len() {
        if rw.in_code(i) {
            continue;
        }
        let line = rw.lines()[i].trim();
        let html = if line == GLANCE {
            at_a_glance(page)
        } else if let Some(id) = line
            .strip_prefix(EXAMPLE)
            .and_then(|rest| rest.strip_suffix("}}"))
        {
            example(page, id.trim())
        } else {
            continue;
        };
        rw.replace(i, html);
        rw.insert_before(i, [String::new()]);
        rw.insert_after(i, [String::new()]);
    }
    rw.finish()
}

/// Each role's MUST rules in book order, as the first sentence of the rule, linked to it.
pub fn at_a_glance(page: &Page<'_>) -> String {
    let mut rules: Vec<&Rule> = page
        .spec
        .rules
        .values()
        .filter(|r| r.strength == Strength::Must)
        .collect();
    rules.sort_by_key(|r| (page.book.position(&r.chapter), r.chapter.as_str(), r.line));
    let mut out = String::from("<div class=\"glance\">");
    for role in Role::ALL {
        let mine: Vec<&&Rule> = rules.iter().filter(|r| self::role(r) == role).collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "<section class=\"glance-role glance-{}\"><h3 class=\"glance-title\">{} MUST <span class=\"glance-count\">{} rule{}</span></h3><ul>",
            role.as_str(),
            role.title(),
            mine.len(),
            if mine.len() == 1 { "" } else { "s" }
        ));
        for rule in mine {
            out.push_str(&format!(
                "<li>{} <a class=\"glance-rule\" href=\"{}\">{}</a></li>",
                inline_markdown(&first_clause(&rule.text)),
                page.rule_href(&rule.id),
                escape(&rule.id),
            ));
        }
        out.push_str("</ul></section>");
    }
    out.push_str("</div>");
    out
}

/// A copy of rule `id`'s box, as the chapter shows it, linking to the rule; an unknown ID
/// says so in the page (the spec's checks have already refused a book citing one in a case).
pub fn example(page: &Page<'_>, id: &str) -> String {
    let Some(rule) = page.spec.rule(id) else {
        return format!(
            "<div class=\"rule-cases rule-uncovered\">No rule <code>{}</code> to show.</div>",
            escape(id)
        );
    };
    let href = page.rule_href(&rule.id);
    let since = rule
        .since
        .as_deref()
        .map(|s| format!(" {}", since_badge(s, rule.earlier_with.as_deref())))
        .unwrap_or_default();
    let links = page.case_links(&rule.id);
    let cases = if links.is_empty() {
        "Not yet checked by any case.".to_string()
    } else {
        format!("Checked by: {links}")
    };
    format!(
        "<div class=\"rule-example\"><div class=\"rule\"><span class=\"rule-id\"><a class=\"rule-link\" href=\"{href}\">[{}]</a></span> {}{since}</div>\n<p>{}</p>\n<div class=\"rule-cases\">{cases}</div></div>",
        escape(&rule.id),
        badge(rule.strength),
        inline_markdown(&rule.text.split_whitespace().collect::<Vec<_>>().join(" ")),
    )
}

/// The rule's first sentence, up to a colon or semicolon that follows its keyword.
fn first_clause(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut in_code = false;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let keyword = ["MUST", "SHOULD", "MAY"]
        .iter()
        .filter_map(|k| text.find(k))
        .min()
        .unwrap_or(0);
    for (n, &(at, c)) in chars.iter().enumerate() {
        if c == '`' {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let next = chars.get(n + 1).map(|&(_, c)| c);
        let after = chars.get(n + 2).map(|&(_, c)| c);
        let ends_sentence = c == '.'
            && next == Some(' ')
            && after.is_some_and(|a| a.is_uppercase() || a == '`' || a == '(');
        let ends_clause = (c == ':' || c == ';') && next == Some(' ') && at > keyword;
        if ends_sentence || ends_clause {
            let mut s = text[..at].to_string();
            s.push('.');
            return s;
        }
    }
    text
}

/// Rule text in HTML: `code` spans, `*emphasis*` and `**strong**`; a link `[text](url)` keeps
/// its text only (the rule it sits in is the link).
pub fn inline_markdown(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        out.push_str(&prose(&rest[..start]));
        let after = &rest[start + 1..];
        match after.find('`') {
            Some(end) => {
                out.push_str(&format!("<code>{}</code>", escape(&after[..end])));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&prose(&rest[start..]));
                rest = "";
            }
        }
    }
    out.push_str(&prose(rest));
    out
}

/// Text outside code spans: emphasis and links.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    let (mut em, mut strong) = (false, false);
    while let Some((at, c)) = chars.next() {
        match c {
            '*' if chars.peek().map(|&(_, c)| c) == Some('*') => {
                chars.next();
                out.push_str(if strong { "</strong>" } else { "<strong>" });
                strong = !strong;
            }
            '*' => {
                out.push_str(if em { "</em>" } else { "<em>" });
                em = !em;
            }
            '[' => {
                // `[text](url)`: the text only.
                let rest = &text[at..];
                if let Some(close) = rest.find("](")
                    && let Some(end) = rest[close..].find(')')
                {
                    out.push_str(&escape(&rest[1..close]));
                    let skip_to = at + close + end;
                    while chars.peek().is_some_and(|&(i, _)| i <= skip_to) {
                        chars.next();
                    }
                } else {
                    out.push('[');
                }
            }
            c => out.push_str(&escape(&c.to_string())),
        }
    }
    if em {
        out.push_str("</em>");
    }
    if strong {
        out.push_str("</strong>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{book, spec};

    const CHAPTER: &str = "\
# Revoke

r[revoke.exporter.wait]
After `invalidate()`, the exporter MUST wait: the fences guard it. More text.

r[revoke.importer.stop]
In its callback, a pinned importer MUST stop. Then more.

r[map.lock.held]
`dma_buf_map()` MUST be called with the lock held; the core calls `map` with it held.

r[cpu.revoked.enodev]
Once an exporter has revoked a buffer, its `vmap` MUST fail.

r[revoke.pinned.permanent]
A pinned importer MAY treat a revoke as permanent.
";

    #[test]
    fn roles_come_from_the_id_or_the_subject() {
        let spec = spec(&[("revoke.md", CHAPTER)]);
        let role_of = |id: &str| role(spec.rule(id).unwrap());
        assert_eq!(role_of("revoke.exporter.wait"), Role::Exporter);
        assert_eq!(role_of("revoke.importer.stop"), Role::Importer);
        assert_eq!(role_of("map.lock.held"), Role::Importer);
        assert_eq!(role_of("cpu.revoked.enodev"), Role::Exporter);
        assert_eq!(role_of("revoke.pinned.permanent"), Role::Importer);
    }

    #[test]
    fn glance_lists_each_roles_musts_with_links() {
        let spec = spec(&[("revoke.md", CHAPTER), ("intro.md", "# Intro\n")]);
        let book = book(&spec);
        let out = at_a_glance(&Page::new(&spec, &book, "intro.md"));
        assert_eq!(
            out,
            "<div class=\"glance\">\
             <section class=\"glance-role glance-exporter\"><h3 class=\"glance-title\">The exporter MUST <span class=\"glance-count\">2 rules</span></h3><ul>\
             <li>After <code>invalidate()</code>, the exporter MUST wait. <a class=\"glance-rule\" href=\"revoke.html#r-revoke.exporter.wait\">revoke.exporter.wait</a></li>\
             <li>Once an exporter has revoked a buffer, its <code>vmap</code> MUST fail. <a class=\"glance-rule\" href=\"revoke.html#r-cpu.revoked.enodev\">cpu.revoked.enodev</a></li>\
             </ul></section>\
             <section class=\"glance-role glance-importer\"><h3 class=\"glance-title\">The importer MUST <span class=\"glance-count\">2 rules</span></h3><ul>\
             <li>In its callback, a pinned importer MUST stop. <a class=\"glance-rule\" href=\"revoke.html#r-revoke.importer.stop\">revoke.importer.stop</a></li>\
             <li><code>dma_buf_map()</code> MUST be called with the lock held. <a class=\"glance-rule\" href=\"revoke.html#r-map.lock.held\">map.lock.held</a></li>\
             </ul></section></div>"
        );
    }

    #[test]
    fn example_copies_a_rule_box_and_directives_are_replaced() {
        let spec = spec(&[("revoke.md", CHAPTER), ("intro.md", "# Intro\n")]);
        let book = book(&spec);
        let page = Page::new(&spec, &book, "intro.md");
        let out = render(
            &page,
            "# Intro\n{{#rule-example revoke.pinned.permanent}}\n",
        );
        assert_eq!(
            out,
            "# Intro\n\n<div class=\"rule-example\"><div class=\"rule\"><span class=\"rule-id\"><a class=\"rule-link\" href=\"revoke.html#r-revoke.pinned.permanent\">[revoke.pinned.permanent]</a></span> <span class=\"rule-strength rule-may\">MAY</span></div>\n\
             <p>A pinned importer MAY treat a revoke as permanent.</p>\n\
             <div class=\"rule-cases\">Not yet checked by any case.</div></div>\n\n"
        );
        assert!(example(&page, "no.such.rule").contains("No rule"));
    }

    #[test]
    fn inline_markdown_renders_code_emphasis_and_link_text() {
        assert_eq!(
            inline_markdown("a `x<y>` *b* **c** [d](e.md#f) 1 < 2"),
            "a <code>x&lt;y&gt;</code> <em>b</em> <strong>c</strong> d 1 &lt; 2"
        );
    }
}
