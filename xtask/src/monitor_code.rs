//! The monitors' code on the book's page "Monitors": each rule's judgement, read from
//! `judge/src/monitor/` when the book is built, so what a reviewer reads is what judges.

use std::path::Path;

/// One monitor as its chapter file declares it.
#[derive(Debug, PartialEq)]
struct Declared {
    rule: String,
    judge: String,
}

/// The monitors declared in one file's `MONITORS` list: `rule: "..."` and `judge: name` of
/// each `Monitor { ... }` literal, in order.
fn declared(text: &str) -> Vec<Declared> {
    let mut out = Vec::new();
    let mut rule = None;
    for line in text.lines().map(str::trim) {
        if let Some(r) = line.strip_prefix("rule: \"") {
            rule = r.strip_suffix("\",").map(str::to_string);
        } else if let Some(j) = line.strip_prefix("judge: ")
            && let Some(r) = rule.take()
        {
            out.push(Declared {
                rule: r,
                judge: j.trim_end_matches(',').to_string(),
            });
        }
    }
    out
}

/// The source of the top-level `fn name`, with its doc comment: from the doc comment's first
/// line to the `}` that closes it at column 0 (the layout `rustfmt` gives every item).
fn function_source(text: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        let l = l.strip_prefix("pub(super) ").unwrap_or(l);
        l.starts_with(&format!("fn {name}(")) || l.starts_with(&format!("fn {name}<"))
    })?;
    let mut first = start;
    while first > 0 && lines[first - 1].starts_with("///") {
        first -= 1;
    }
    let end = start + lines[start..].iter().position(|l| *l == "}")?;
    Some(lines[first..=end].join("\n"))
}

/// The markdown of the monitors' code: one folded block per monitor, anchored `code-RULE`,
/// in the order of the files. Fails when a declared monitor's function cannot be found, or
/// when a rule of `rules` (the table's rows with a monitor) has no code here.
pub(crate) fn monitor_code(workspace: &Path, rules: &[String]) -> Result<String, String> {
    let dir = workspace.join("judge/src/monitor");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut out = String::new();
    let mut shown = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file = path
            .strip_prefix(workspace)
            .unwrap_or(&path)
            .display()
            .to_string();
        for d in declared(&text) {
            let code = function_source(&text, &d.judge).ok_or_else(|| {
                format!(
                    "{file}: the monitor of `{}` names `{}`, which is not a function there",
                    d.rule, d.judge
                )
            })?;
            out.push_str(&format!(
                "<details id=\"code-{rule}\"><summary><code>{rule}</code>: <code>fn {judge}</code> in <code>{file}</code></summary>\n\n```rust,ignore\n{code}\n```\n\n</details>\n\n",
                rule = d.rule,
                judge = d.judge,
            ));
            shown.push(d.rule);
        }
    }
    let missing: Vec<_> = rules.iter().filter(|r| !shown.contains(r)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "the monitors page lists rules whose monitor code was not found in {}: {missing:?}",
            dir.display()
        ));
    }
    Ok(out)
}

/// The rules of the monitors table (`revoke-conformance monitors --format markdown`) that
/// have a monitor (rows whose last cell names a source file).
pub(crate) fn rules_with_monitors(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|l| l.trim_end().ends_with(".rs` |"))
        .filter_map(|l| {
            let start = l.find("id=\"m-")? + "id=\"m-".len();
            let end = start + l[start..].find('"')?;
            Some(l[start..end].to_string())
        })
        .collect()
}

/// The monitors table with each row's file cell turned into a link to its code, named by the
/// file's name.
pub(crate) fn link_rows(table: &str) -> String {
    let rules = rules_with_monitors(table);
    let mut out = String::new();
    for line in table.lines() {
        let rule = rules
            .iter()
            .find(|r| line.contains(&format!("id=\"m-{r}\"")));
        match (rule, line.trim_end().rfind("| `")) {
            (Some(rule), Some(cell)) if line.trim_end().ends_with(".rs` |") => {
                // The file's name only: the page says they are in `judge/src/monitor/`, and a
                // narrow last column keeps the table within the page.
                let file = line[cell + 3..].trim_end().trim_end_matches("` |");
                let name = file.rsplit('/').next().unwrap_or(file);
                out.push_str(&format!("{}| [`{name}`](#code-{rule}) |", &line[..cell]));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "x.core.one",
        source: file!(),
        judge: one,
    },
    Monitor {
        rule: "x.core.two",
        source: file!(),
        judge: two,
    },
];

/// Judges one.
/// Second line.
fn one(o: &Observed<'_>) -> Judgement {
    if o.x() {
        return held();
    }
    silent()
}

fn two<'o>(o: &Observed<'o>) -> Judgement {
    silent()
}
"#;

    #[test]
    fn each_declared_monitor_is_found_with_its_doc_comment() {
        assert_eq!(
            declared(FILE),
            vec![
                Declared {
                    rule: "x.core.one".into(),
                    judge: "one".into()
                },
                Declared {
                    rule: "x.core.two".into(),
                    judge: "two".into()
                },
            ]
        );
        let one = function_source(FILE, "one").expect("found");
        assert!(
            one.starts_with("/// Judges one.\n/// Second line.\nfn one("),
            "{one}"
        );
        assert!(one.ends_with("    silent()\n}"), "{one}");
        assert!(!one.contains("fn two"), "{one}");
        assert!(
            function_source(FILE, "two")
                .expect("found")
                .starts_with("fn two<")
        );
        assert_eq!(function_source(FILE, "three"), None);
    }

    #[test]
    fn table_rows_link_to_their_code() {
        let table = "| rule | monitor |\n|---|---|\n| <a id=\"m-x.core.one\"></a>[`x.core.one`](x.html) | `judge/src/monitor/x.rs` |\n| <a id=\"m-x.core.none\"></a>[`x.core.none`](x.html) | none |\n";
        assert_eq!(rules_with_monitors(table), vec!["x.core.one".to_string()]);
        let linked = link_rows(table);
        assert!(
            linked.contains("| [`x.rs`](#code-x.core.one) |"),
            "{linked}"
        );
        assert!(linked.contains("| none |"), "{linked}");
    }
}
