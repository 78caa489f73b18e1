//! Normative code blocks: case anchors and captions above `rust,case` blocks, a label above
//! `rust,reference` blocks, and info strings mdBook renders without a playground.

use spec_chapters::{CaseInfo, rust_attributes};

use crate::Page;
use crate::markdown::{Rewrite, code_blocks, escape};
use crate::sequence;

/// What opens a collapsed `rust,reference` block (see [`reference_summary`]).
pub const REFERENCE_OPEN: &str =
    r#"<details class="reference"><summary><span class="reference-kind">Reference code</span> "#;

/// Renders the page's `rust,case` and `rust,reference` blocks.
///
/// Before a `rust,case` block come an anchor `<a class="case-anchor" id="case-NAME"></a>` for
/// every case defined in it (a case belongs to the block whose lines hold its `fn`, so this
/// pass must see the chapter's lines as written) and a caption naming each case and the rules
/// it checks. A `rust,reference` block is collapsed in a `<details>` whose summary says what
/// it does ([`reference_summary`]), out of the reading path. Both kinds of block
/// are retagged `rust,noplayground` (other mdBook attributes are kept), so mdBook still hides
/// their `# ` lines but offers no playground.
///
/// After a closed `rust,case` block come the sequence diagrams of its cases
/// ([`sequence::diagrams`]), if the page has snapshots.
pub fn render(page: &Page<'_>, content: &str) -> String {
    let mut rw = Rewrite::new(content);
    for block in code_blocks(content) {
        let Some(info) = &block.info else { continue };
        let Some(attrs) = rust_attributes(info) else {
            continue;
        };
        let is_case = attrs.contains(&"case");
        if !is_case && !attrs.contains(&"reference") {
            continue;
        }
        let fence_line = *block.lines.start();
        let fence = rw.lines()[fence_line];
        let Some(retagged) = retag(fence, &attrs) else {
            continue;
        };
        let indent = indent_of(fence);
        if !is_case {
            // Reference code is collapsed, under a summary of what it does.
            let last = *block.lines.end();
            let closed = last != fence_line && is_closing_fence(rw.lines()[last], fence);
            let body: Vec<&str> = if closed {
                rw.lines()[fence_line + 1..last].to_vec()
            } else {
                Vec::new()
            };
            if closed {
                rw.insert_after(last, [String::new(), format!("{indent}</details>")]);
            }
            rw.replace(fence_line, retagged);
            rw.insert_before(
                fence_line,
                [
                    String::new(),
                    format!("{indent}{}", reference_summary(&body, closed)),
                    String::new(),
                ],
            );
            continue;
        }
        let html = if is_case {
            // Chapter lines are 1-based; the block's code starts after its fence.
            let lines = fence_line + 2..=block.lines.end() + 1;
            let mut cases: Vec<&CaseInfo> = page
                .spec
                .cases
                .values()
                .filter(|c| c.chapter == page.chapter && lines.contains(&c.line))
                .collect();
            cases.sort_by_key(|c| c.line);
            let last = *block.lines.end();
            if last != fence_line && is_closing_fence(rw.lines()[last], fence) {
                rw.insert_after(last, sequence::diagrams(page, &cases, indent));
            }
            caption(page, &cases)
        } else {
            unreachable!("reference blocks are rendered above")
        };
        rw.replace(fence_line, retagged);
        rw.insert_before(
            fence_line,
            [String::new(), format!("{indent}{html}"), String::new()],
        );
    }
    rw.finish()
}

/// The caption of a case block: an anchor per case, then each case with the rules it names.
pub fn caption(page: &Page<'_>, cases: &[&CaseInfo]) -> String {
    if cases.is_empty() {
        return r#"<div class="case-caption"><span class="case-kind">Conformance case</span></div>"#
            .to_string();
    }
    let anchors: String = cases
        .iter()
        .map(|c| {
            format!(
                r#"<a class="case-anchor" id="case-{}"></a>"#,
                escape(&c.name)
            )
        })
        .collect();
    let lines: Vec<String> = cases
        .iter()
        .map(|c| {
            let rules: Vec<String> = c
                .rules
                .iter()
                .map(|r| {
                    let href = page.rule_href(&r.id);
                    let id = escape(&r.id);
                    format!(r#"<a class="rule-ref" href="{href}">{id}</a>"#)
                })
                .collect();
            let name = escape(&c.name);
            format!(
                r##"<span class="case-line"><span class="case-kind">Case</span> <a class="case-name" href="#case-{name}" title="{}">{name}</a> checks {}</span>"##,
                escape(&c.title),
                rules.join(", ")
            )
        })
        .collect();
    format!(
        r#"<div class="case-caption">{anchors}{}</div>"#,
        lines.join("<br>")
    )
}

/// The opening of a collapsed reference block: `<details class="reference">` with a summary
/// that is the first sentence of the block's first doc comment (`///` or `//!`, hidden `# `
/// lines skipped), or else its first visible line, and the count of visible lines. An
/// unclosed block gets a plain label instead, as there is no end to close the `<details>` at.
pub fn reference_summary(body: &[&str], closed: bool) -> String {
    let visible: Vec<&str> = body
        .iter()
        .map(|l| l.trim())
        .filter(|l| *l != "#" && !l.starts_with("# "))
        .collect();
    if !closed {
        return r#"<div class="reference-label">Reference code (compiled into <code>reference-impl</code>)</div>"#
            .to_string();
    }
    let doc: Vec<&str> = visible
        .iter()
        .skip_while(|l| !(l.starts_with("///") || l.starts_with("//!")))
        .take_while(|l| l.starts_with("///") || l.starts_with("//!"))
        .map(|l| l[3..].trim())
        .take_while(|l| !l.is_empty())
        .collect();
    let text = if doc.is_empty() {
        visible
            .iter()
            .find(|l| !l.is_empty() && !l.starts_with("#["))
            .map(|l| format!("`{}`", l.trim_end_matches('{').trim()))
            .unwrap_or_default()
    } else {
        first_sentence(&doc.join(" "))
    };
    let lines = visible.iter().filter(|l| !l.is_empty()).count();
    format!(
        r#"{REFERENCE_OPEN}{} <span class="reference-meta">{lines} line{}, compiled into <code>reference-impl</code></span></summary>"#,
        crate::glance::inline_markdown(&text),
        if lines == 1 { "" } else { "s" }
    )
}

/// Text up to the end of its first sentence (a `.` before a space, outside code spans).
fn first_sentence(text: &str) -> String {
    let mut in_code = false;
    let bytes: Vec<char> = text.chars().collect();
    let mut out = String::new();
    for (i, &c) in bytes.iter().enumerate() {
        out.push(c);
        if c == '`' {
            in_code = !in_code;
        } else if c == '.' && !in_code && bytes.get(i + 1).is_none_or(|n| *n == ' ') {
            return out;
        }
    }
    out
}

/// The opening fence line with its info string replaced by `rust,noplayground` and the
/// block's other mdBook attributes.
fn retag(fence_line: &str, attrs: &[&str]) -> Option<String> {
    let indent = indent_of(fence_line);
    let rest = &fence_line[indent.len()..];
    let fence_char = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let fence_len = rest.chars().take_while(|c| *c == fence_char).count();
    let fence = &rest[..fence_len];
    let mut info = vec!["rust", "noplayground"];
    info.extend(
        attrs
            .iter()
            .filter(|a| !matches!(**a, "case" | "reference" | "noplayground" | "noplaypen")),
    );
    Some(format!("{indent}{fence}{}", info.join(",")))
}

/// True if `line` closes the block opened by `fence_line` (same character, at least as
/// long, nothing after it); an unclosed block runs to the end of the chapter.
fn is_closing_fence(line: &str, fence_line: &str) -> bool {
    let open = fence_line.trim_start();
    let Some(fence_char) = open.chars().next() else {
        return false;
    };
    let open_len = open.chars().take_while(|c| *c == fence_char).count();
    let close = line.trim();
    close.chars().all(|c| c == fence_char) && close.chars().count() >= open_len
}

/// The whitespace before a line's first other character.
fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{book, spec};

    const RULES: &str = "\
# Rules

r[map.core.pin]
The core MUST pin.

r[map.core.log]
The core SHOULD log.
";

    const CASES: &str = "\
# Cases

Text before.
```rust,case
/// Pins on map.
#[case(rules(\"map.core.pin\"))]
fn pins(s: &mut Scenario) {
    s.check(\"map.core.pin\", ok());
}

/// Logs & pins.
#[case(rules(\"map.core.log\", \"map.core.pin\"))]
fn logs(s: &mut Scenario) {
#   let hidden = 1;
    s.check(\"map.core.log\", ok());
    s.check(\"map.core.pin\", ok());
}
```

```rust,reference,edition2021
# use crate::prelude::*;
fn reference() {}
```

```rust
fn untouched() {}
```
";

    #[test]
    fn case_and_reference_blocks_are_labelled_and_retagged() {
        let spec = spec(&[("map.md", RULES), ("cases.md", CASES)]);
        let book = book(&spec);
        let page = Page::new(&spec, &book, "cases.md");
        let out = render(&page, CASES);
        let expected = r##"# Cases

Text before.

<div class="case-caption"><a class="case-anchor" id="case-pins"></a><a class="case-anchor" id="case-logs"></a><span class="case-line"><span class="case-kind">Case</span> <a class="case-name" href="#case-pins" title="Pins on map.">pins</a> checks <a class="rule-ref" href="map.html#r-map.core.pin">map.core.pin</a></span><br><span class="case-line"><span class="case-kind">Case</span> <a class="case-name" href="#case-logs" title="Logs &amp; pins.">logs</a> checks <a class="rule-ref" href="map.html#r-map.core.log">map.core.log</a>, <a class="rule-ref" href="map.html#r-map.core.pin">map.core.pin</a></span></div>

```rust,noplayground
/// Pins on map.
#[case(rules("map.core.pin"))]
fn pins(s: &mut Scenario) {
    s.check("map.core.pin", ok());
}

/// Logs & pins.
#[case(rules("map.core.log", "map.core.pin"))]
fn logs(s: &mut Scenario) {
#   let hidden = 1;
    s.check("map.core.log", ok());
    s.check("map.core.pin", ok());
}
```


<details class="reference"><summary><span class="reference-kind">Reference code</span> <code>fn reference() {}</code> <span class="reference-meta">1 line, compiled into <code>reference-impl</code></span></summary>

```rust,noplayground,edition2021
# use crate::prelude::*;
fn reference() {}
```

</details>

```rust
fn untouched() {}
```
"##;
        assert_eq!(out, expected);
    }

    #[test]
    fn cases_of_other_blocks_are_not_anchored_here() {
        let spec = spec(&[("map.md", RULES), ("cases.md", CASES)]);
        let book = book(&spec);
        // The same text under another chapter's name defines none of the cases.
        let page = Page::new(&spec, &book, "map.md");
        let out = render(&page, CASES);
        assert!(!out.contains("case-anchor"), "{out}");
        assert!(out.contains(r#"<span class="case-kind">Conformance case</span>"#));
    }

    #[test]
    fn case_blocks_are_followed_by_their_diagrams() {
        let param = "\
# Param

```rust,case
/// Per importer.
#[case(rules(\"map.core.pin\"))]
fn per_importer(
    s: &mut Scenario,
    #[values(ImporterKind::Static, ImporterKind::Dynamic)] importer: ImporterKind,
) {
    s.check(\"map.core.pin\", ok());
}
```
After.
";
        let spec = spec(&[("map.md", RULES), ("cases.md", CASES), ("param.md", param)]);
        let book = book(&spec);
        let snapshot = "trace:\nstep 0: exporter.buf0 (Gpu): export\n\
                        #0    exporter.buf0 -> core: dma_buf_export(buf0) = 0\n\
                        checks:\n  pass map.core.pin: it pins\n";
        let snapshots = crate::Snapshots::Memory(
            [("per_importer__static".to_string(), snapshot.to_string())].into(),
        );
        let page = Page::new(&spec, &book, "param.md").with_snapshots(&snapshots);
        let out = render(&page, param);
        let after_block = out.split_once("```\n").unwrap().1;
        let expected = r##"
<details class="sequence" id="seq-per_importer-static"><summary>Sequence diagram: <code>per_importer[static]</code> <span class="sequence-meta">1 call · 1 check pass</span></summary>

```mermaid
---
config:
  sequence:
    messageFontSize: 13
    noteFontSize: 13
    actorFontSize: 13
    width: 110
    actorMargin: 24
    boxMargin: 6
    messageMargin: 30
---
sequenceDiagram
    participant exporter_buf0 as exporter buf0<br/>Gpu
    participant core as core
    rect rgba(127, 127, 127, 0.10)
    Note over exporter_buf0,core: step 0: exporter.buf0 (Gpu): export
    exporter_buf0->>core: dma_buf_export(buf0) = 0
    end
```

<p class="sequence-legend">Grey bands: the scenario's steps. Orange: the reservation lock held. Red: a call that never returns.</p>

<ul class="sequence-checks"><li class="check-pass"><span class="check-result">pass</span> <a class="rule-ref" href="map.html#r-map.core.pin">map.core.pin</a>: it pins</li></ul>

</details>

<div class="sequence-missing" id="seq-per_importer-dynamic">Sequence diagram: <code>per_importer[dynamic]</code>: no blessed trace yet (<code>conformance/tests/snapshots/per_importer__dynamic.snap</code> does not exist).</div>

After.
"##;
        assert_eq!(after_block, expected);
        // Without snapshots, the page has no diagrams.
        let plain = render(&Page::new(&spec, &book, "param.md"), param);
        assert!(!plain.contains("sequence"), "{plain}");
    }

    #[test]
    fn only_closed_blocks_get_diagrams() {
        assert!(is_closing_fence("```", "```rust,case"));
        assert!(is_closing_fence("  `````", "````rust,case"));
        assert!(!is_closing_fence("``", "```rust,case"));
        assert!(!is_closing_fence("~~~", "```rust,case"));
        assert!(!is_closing_fence("}", "```rust,case"));
    }

    #[test]
    fn reference_summaries_take_the_first_doc_sentence() {
        let body = [
            "# use x;",
            "/// `dma_buf_attach_revocable()`: can this importer give",
            "/// its mappings back? More text.",
            "///",
            "/// Another paragraph.",
            "impl ReferenceCore {",
            "}",
        ];
        assert_eq!(
            reference_summary(&body, true),
            "<details class=\"reference\"><summary><span class=\"reference-kind\">Reference code</span> \
             <code>dma_buf_attach_revocable()</code>: can this importer give its mappings back? More text. \
             <span class=\"reference-meta\">6 lines, compiled into <code>reference-impl</code></span></summary>"
        );
        assert_eq!(
            first_sentence("`a.b()` does it. Then more."),
            "`a.b()` does it."
        );
        assert!(reference_summary(&body, false).starts_with("<div class=\"reference-label\">"));
    }

    #[test]
    fn retagging_keeps_fence_and_indent() {
        assert_eq!(
            retag("  ~~~~rust,case,ignore", &["case", "ignore"]).as_deref(),
            Some("  ~~~~rust,noplayground,ignore")
        );
        assert_eq!(retag("not a fence", &[]), None);
    }
}
