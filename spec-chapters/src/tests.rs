use super::*;

fn spec_of(chapters: &[(&str, &str)]) -> (Spec, Vec<Diagnostic>) {
    let mut spec = Spec::default();
    let mut diags = Vec::new();
    for (path, text) in chapters {
        spec.add_chapter(path.to_string(), text.to_string(), &mut diags);
    }
    spec.check_cases(&mut diags);
    (spec, diags)
}

fn messages(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| d.to_string()).collect()
}

const CASE: &str = "```rust,case\n/// Title.\n#[case(rules(\"a.b\"))]\nfn c1(s: &mut Scenario) {\n    s.check(\"a.b\", ok());\n}\n```\n";

#[test]
fn reads_rule_with_strength_text_and_hash() {
    let (spec, diags) = spec_of(&[(
        "x.md",
        "# X\n\nr[a.b]\nThe exporter MUST wait.\nMore text.\n\nAfter.\n",
    )]);
    assert!(diags.is_empty(), "{diags:?}");
    let rule = &spec.rules["a.b"];
    assert_eq!(rule.strength, Strength::Must);
    assert_eq!(rule.line, 3);
    assert_eq!(rule.text, "The exporter MUST wait.\nMore text.");
    assert_eq!(rule.hash.len(), 8);
}

#[test]
fn rewording_changes_the_hash_but_rewrapping_does_not() {
    let (a, _) = spec_of(&[("x.md", "r[a.b]\nThe exporter MUST wait.\n")]);
    let (b, _) = spec_of(&[("x.md", "r[a.b]\nThe exporter\nMUST wait.\n")]);
    let (c, _) = spec_of(&[("x.md", "r[a.b]\nThe exporter MUST not wait.\n")]);
    assert_eq!(a.rules["a.b"].hash, b.rules["a.b"].hash);
    assert_ne!(a.rules["a.b"].hash, c.rules["a.b"].hash);
}

#[test]
fn markers_inside_code_blocks_are_not_rules() {
    let (spec, diags) = spec_of(&[("x.md", "```text\nr[a.b]\nMUST\n```\n")]);
    assert!(spec.rules.is_empty());
    assert!(diags.is_empty());
}

#[test]
fn rejects_duplicate_rules_across_chapters() {
    let (_, diags) = spec_of(&[
        ("x.md", "r[a.b]\nX MUST.\n"),
        ("y.md", "\n\nr[a.b]\nY MUST.\n"),
    ]);
    assert_eq!(
        messages(&diags),
        ["book/src/y.md:3: duplicate rule ID `a.b` (first defined at x.md:1)"]
    );
}

#[test]
fn rejects_marker_without_text_and_text_without_strength() {
    let (_, diags) = spec_of(&[(
        "x.md",
        "r[a.b]\n\nr[a.c]\nno keyword here.\n\nr[a.d]\nMUST and MAY.\n",
    )]);
    let m = messages(&diags);
    assert!(
        m[0].starts_with("book/src/x.md:1: rule marker `r[a.b]` has no text"),
        "{m:?}"
    );
    assert!(
        m[1].starts_with("book/src/x.md:3: rule `a.c` has no strength"),
        "{m:?}"
    );
    assert!(
        m[2].starts_with("book/src/x.md:6: rule `a.d` mixes strengths MUST and MAY"),
        "{m:?}"
    );
}

#[test]
fn rejects_malformed_ids() {
    for bad in ["r[Upper.case]", "r[single]", "r[a..b]", "r[a.b_c]"] {
        let (_, diags) = spec_of(&[("x.md", &format!("{bad}\nMUST.\n"))]);
        assert!(
            messages(&diags)[0].contains("malformed rule ID"),
            "{bad}: {diags:?}"
        );
    }
}

#[test]
fn reads_a_case_and_links_it_to_its_rule() {
    let (spec, diags) = spec_of(&[("x.md", &format!("r[a.b]\nMUST.\n\n{CASE}"))]);
    assert!(diags.is_empty(), "{diags:?}");
    let case = &spec.cases["c1"];
    assert_eq!(case.title, "Title.");
    assert_eq!(case.line, 7);
    assert_eq!(
        case.rules,
        [CheckedRule {
            id: "a.b".into(),
            line: 6
        }]
    );
    assert_eq!(spec.cases_for_rule("a.b").count(), 1);
    assert!(spec.uncovered_rules().is_empty());
}

#[test]
fn reports_unknown_rule_with_suggestion_and_line() {
    let (_, diags) = spec_of(&[(
        "x.md",
        &format!("r[a.bc]\nMUST.\n\n{}", CASE.replace("\"a.b\"", "\"a.bd\"")),
    )]);
    let m = messages(&diags);
    assert!(
        m.contains(
            &"book/src/x.md:6: case `c1` names unknown rule `a.bd` (did you mean `a.bc`?)"
                .to_string()
        ),
        "{m:?}"
    );
}

#[test]
fn reports_case_without_rules_and_unchecked_rules() {
    let text = "r[a.b]\nMUST.\n\n```rust,case\n#[case(rules())]\nfn c2(s: &mut Scenario) {}\n```\n";
    let (_, diags) = spec_of(&[("x.md", text)]);
    assert_eq!(
        messages(&diags)[0],
        "book/src/x.md:6: case `c2` names no rule: add `#[case(rules(\"rule.id\"))]` naming the rules it checks"
    );
}

#[test]
fn reports_syntax_errors_at_their_chapter_line() {
    let text = "intro\n\n```rust,reference\nfn ok() {}\n```\n\n```rust,case\n#[case(rules(\"a.b\"))]\nfn c3(s: &mut Scenario) {\n    let x = ;\n}\n```\n";
    let (_, diags) = spec_of(&[("x.md", text)]);
    let m = messages(&diags);
    assert!(
        m[0].starts_with("book/src/x.md:10: malformed block:"),
        "{m:?}"
    );
}

#[test]
fn rejects_unknown_block_attributes() {
    let (_, diags) = spec_of(&[("x.md", "```rust,cases\nfn x() {}\n```\n")]);
    assert!(
        messages(&diags)[0]
            .starts_with("book/src/x.md:1: malformed block: unknown code block attribute `cases`")
    );
}

#[test]
fn hidden_lines_are_compiled() {
    let (spec, _) = spec_of(&[(
        "x.md",
        "```rust,reference\n# use std::fmt;\nfn f() {}\n```\n",
    )]);
    assert_eq!(spec.chapters[0].blocks[0].code, "use std::fmt;\nfn f() {}");
}

#[test]
fn parameterised_cases_expand_to_named_variants() {
    let text = "r[a.b]\nMUST.\n\n```rust,case\n#[case(rules(\"a.b\"))]\nfn c4(s: &mut Scenario, #[values(Kind::PinnedImporter, Kind::Dynamic)] k: Kind) {\n    s.check(\"a.b\", ok());\n}\n```\n";
    let (spec, diags) = spec_of(&[("x.md", text)]);
    assert!(diags.is_empty(), "{diags:?}");
    let labels: Vec<String> = spec.cases["c4"]
        .variants()
        .into_iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(labels, ["pinned_importer", "dynamic"]);
}

#[test]
fn aliases_resolve_and_retired_ids_are_never_reused() {
    let mut spec = Spec::default();
    spec.history.aliases.insert("a.old".into(), "a.b".into());
    spec.history
        .retired
        .insert("a.gone".into(), "merged into a.b".into());
    let mut diags = Vec::new();
    let text = format!(
        "r[a.b]\nMUST.\n\nr[a.gone]\nMUST.\n\n{}",
        CASE.replace("\"a.b\"", "\"a.old\"")
    );
    spec.add_chapter("x.md".into(), text, &mut diags);
    spec.check_cases(&mut diags);
    let m = messages(&diags);
    assert_eq!(
        m,
        ["book/src/x.md:4: rule ID `a.gone` was retired and is never reused (merged into a.b)"]
    );
    assert_eq!(
        spec.cases["c1"].rules[0].id, "a.b",
        "the old ID resolves to the new one"
    );
    assert_eq!(spec.rule("a.old").map(|r| r.id.as_str()), Some("a.b"));
}
