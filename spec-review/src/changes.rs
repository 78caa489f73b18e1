//! The book's "Changes" page: what each release of the spec changed, rule by rule, generated
//! from the repository's tags and `book/rules-history.toml`.

use std::path::Path;
use std::process::Command;

use crate::diff::{RuleDiff, SpecDiff};
use crate::side::Side;

/// The tags of the repository that mark releases of the spec, oldest first.
fn release_tags(repo: &Path) -> Vec<String> {
    let out = Command::new("git")
        .args(["tag", "--list", "--sort=creatordate"])
        .current_dir(repo)
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .filter(|t| !t.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// The first commit of the history (the empty spec before it is the base of the first
/// release).
fn root_commit(repo: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["rev-list", "--max-parents=0", "HEAD"])
        .current_dir(repo)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(str::to_string)
}

/// A link to a rule of `side` where its chapter states it (plain code when it has none).
fn rule_link(side: &Side, id: &str) -> String {
    match side.rules.get(id) {
        Some(rule) => format!("[`{id}`]({}#r-{id})", rule.chapter),
        None => format!("`{id}`"),
    }
}

fn rule_lines(diff: &SpecDiff, head: &Side) -> String {
    let mut out = String::new();
    let link = |id: &str| rule_link(head, id);
    for r in &diff.rules {
        let line = match r {
            RuleDiff::Added { rule } => format!("- added {} ({})\n", link(&rule.id), rule.strength),
            RuleDiff::Removed { rule, retired } => format!(
                "- removed `{}`{}\n",
                rule.id,
                retired
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            RuleDiff::Renamed { from, to, .. } => format!("- renamed `{from}` to {}\n", link(to)),
            RuleDiff::Changed { id, changed } => format!(
                "- changed {}: {}\n",
                link(id),
                changed
                    .iter()
                    .map(|(f, _, _)| format!("{f:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push_str(&line);
    }
    if out.is_empty() {
        out.push_str("- no rule changed\n");
    }
    out
}

/// The page's Markdown: a section per release (newest first) and one for what is not
/// released yet, each listing its rule changes; then the renamed and retired IDs.
/// `cache` is where revisions are extracted (see [`Side::at_revision`]).
pub fn changes_page(repo: &Path, cache: &Path) -> Result<String, String> {
    let tags = release_tags(repo);
    let mut sections = Vec::new();
    let mut previous: Option<(String, Side)> = None;
    for tag in &tags {
        let side = Side::at_revision(repo, tag, cache)?;
        let diff = match &previous {
            Some((_, base)) => SpecDiff::between(base, &side),
            None => SpecDiff::between(&Side::default(), &side),
        };
        sections.push(format!(
            "## {tag}\n\n{} rules.\n\n{}",
            side.rules.len(),
            rule_lines(&diff, &side)
        ));
        previous = Some((tag.clone(), side));
    }
    let head = Side::load(repo, "work tree")?;
    let unreleased = match &previous {
        Some((tag, base)) => format!(
            "## Not yet released (since {tag})\n\n{} rules.\n\n{}",
            head.rules.len(),
            rule_lines(&SpecDiff::between(base, &head), &head)
        ),
        None => {
            let since = root_commit(repo)
                .map(|c| format!(" (history since commit {})", &c[..c.len().min(12)]))
                .unwrap_or_default();
            let diff = SpecDiff::between(&Side::default(), &head);
            let removed = diff
                .rules
                .iter()
                .filter(|r| !matches!(r, RuleDiff::Added { .. }))
                .count();
            format!(
                "## Not yet released\n\nNo release of the spec has been tagged yet{since}: all {} rules are new, and {} ID(s) were renamed or retired on the way (below).\n",
                head.rules.len(),
                removed + head.aliases.len() + head.retired.len()
            )
        }
    };
    sections.push(unreleased);
    sections.reverse();

    let mut page = sections.join("\n");
    page.push_str("\n## Renamed rules\n\n");
    if head.aliases.is_empty() {
        page.push_str("None.\n");
    } else {
        page.push_str("| old ID | new ID |\n|---|---|\n");
        for (old, new) in &head.aliases {
            page.push_str(&format!("| `{old}` | [`{new}`](rule-index.md#r-{new}) |\n"));
        }
    }
    page.push_str("\n## Retired rules\n\nA retired ID is never used again.\n\n");
    if head.retired.is_empty() {
        page.push_str("None.\n");
    } else {
        page.push_str("| ID | why |\n|---|---|\n");
        for (id, why) in &head.retired {
            page.push_str(&format!("| `{id}` | {} |\n", crate::markdown::cell(why)));
        }
    }
    Ok(page)
}
