//! Reads the book's chapters and everything normative in them.
//!
//! One reader serves three consumers: `spec-macros` (which compiles the code blocks into the
//! crates), the book preprocessor (which renders rule anchors and case lists), and the
//! conformance runner (which reports verdicts per rule). Every problem found is a
//! [`Diagnostic`] naming the chapter file and line, so an author sees all mistakes at once.

mod blocks;
mod cases;
mod diag;
mod history;
pub mod mermaid;
mod rules;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use blocks::{BlockKind, CodeBlock, rust_attributes};
pub use cases::{CaseInfo, CaseParam, CheckedRule};
pub use diag::Diagnostic;
pub use history::History;
pub use rules::{Marker, Rule, Strength, is_valid_rule_id, parse_marker};

/// Everything normative read from one book: chapters, rules, code blocks and cases.
#[derive(Debug, Default)]
pub struct Spec {
    /// The folder holding `book.toml`'s `src` (normally `<workspace>/book/src`).
    pub src_dir: PathBuf,
    /// Chapters in file-name order, each with its rules and blocks.
    pub chapters: Vec<Chapter>,
    /// Every rule by ID.
    pub rules: BTreeMap<String, Rule>,
    /// Every conformance case by name.
    pub cases: BTreeMap<String, CaseInfo>,
    /// Renamed and retired rule IDs.
    pub history: History,
}

/// One Markdown chapter of the book.
#[derive(Debug, Clone)]
pub struct Chapter {
    /// Path relative to the book's `src` folder, with `/` separators.
    pub path: String,
    /// The chapter's text.
    pub source: String,
    /// IDs of the rules the chapter defines, in order.
    pub rule_ids: Vec<String>,
    /// `rust,reference` and `rust,case` blocks, in order.
    pub blocks: Vec<CodeBlock>,
}

impl Spec {
    /// Reads every `*.md` file under `src_dir` and `rules-history.toml` beside it.
    ///
    /// Returns the spec together with every problem found; the spec is usable for rendering
    /// even when there are diagnostics, but must not be compiled.
    pub fn load(src_dir: &Path) -> (Spec, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut spec = Spec {
            src_dir: src_dir.to_path_buf(),
            ..Spec::default()
        };
        let history_path = src_dir
            .parent()
            .unwrap_or(src_dir)
            .join("rules-history.toml");
        spec.history = History::load(&history_path, &mut diags);

        let mut files = Vec::new();
        collect_markdown(src_dir, &mut files, &mut diags);
        files.sort();
        for file in files {
            let rel = file
                .strip_prefix(src_dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let source = match std::fs::read_to_string(&file) {
                Ok(s) => s,
                Err(e) => {
                    diags.push(Diagnostic::new(
                        &rel,
                        1,
                        format!("cannot read chapter: {e}"),
                    ));
                    continue;
                }
            };
            spec.add_chapter(rel, source, &mut diags);
        }
        spec.check_cases(&mut diags);
        diags.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        let shown = src_dir
            .ancestors()
            .find(|d| d.join("book.toml").is_file())
            .and_then(|root| src_dir.strip_prefix(root).ok())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|| src_dir.to_string_lossy().into_owned());
        for d in &mut diags {
            d.src.clone_from(&shown);
        }
        (spec, diags)
    }

    /// Adds one chapter given as text (used by `load` and by tests).
    pub fn add_chapter(&mut self, path: String, source: String, diags: &mut Vec<Diagnostic>) {
        let ranges = blocks::fenced_ranges(&source);
        let found = rules::scan(&path, &source, &ranges, diags);
        let mut rule_ids = Vec::new();
        for rule in found {
            if let Some(prev) = self.rules.get(&rule.id) {
                diags.push(Diagnostic::new(
                    &path,
                    rule.line,
                    format!(
                        "duplicate rule ID `{}` (first defined at {}:{})",
                        rule.id, prev.chapter, prev.line
                    ),
                ));
                continue;
            }
            if let Some(reason) = self.history.retired.get(&rule.id) {
                diags.push(Diagnostic::new(
                    &path,
                    rule.line,
                    format!(
                        "rule ID `{}` was retired and is never reused ({reason})",
                        rule.id
                    ),
                ));
            }
            if let Some(new) = self.history.aliases.get(&rule.id) {
                diags.push(Diagnostic::new(
                    &path,
                    rule.line,
                    format!(
                        "rule ID `{}` is an alias of `{new}` in rules-history.toml and cannot be defined again",
                        rule.id
                    ),
                ));
            }
            rule_ids.push(rule.id.clone());
            self.rules.insert(rule.id.clone(), rule);
        }
        let blocks = blocks::extract(&path, &source, diags);
        for block in blocks.iter().filter(|b| b.kind == BlockKind::Reference) {
            cases::check_syntax(block, diags);
        }
        for block in blocks.iter().filter(|b| b.kind == BlockKind::Case) {
            for case in cases::parse_block(block, diags) {
                if let Some(prev) = self.cases.get(&case.name) {
                    diags.push(Diagnostic::new(
                        &path,
                        case.line,
                        format!(
                            "duplicate case name `{}` (first defined at {}:{})",
                            case.name, prev.chapter, prev.line
                        ),
                    ));
                    continue;
                }
                self.cases.insert(case.name.clone(), case);
            }
        }
        self.chapters.push(Chapter {
            path,
            source,
            rule_ids,
            blocks,
        });
    }

    /// Checks that every rule a case names exists (directly or through an alias).
    fn check_cases(&mut self, diags: &mut Vec<Diagnostic>) {
        for case in self.cases.values_mut() {
            for named in case.rules.iter_mut().chain(case.checks.iter_mut()) {
                if self.rules.contains_key(&named.id) {
                    continue;
                }
                if let Some(new) = self.history.aliases.get(&named.id) {
                    named.id = new.clone();
                    continue;
                }
                let hint = closest(&named.id, self.rules.keys())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                diags.push(Diagnostic::new(
                    &case.chapter,
                    named.line,
                    format!(
                        "case `{}` names unknown rule `{}`{hint}",
                        case.name, named.id
                    ),
                ));
            }
        }
    }

    /// Resolves a rule ID or one of its former names to the rule.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules
            .get(id)
            .or_else(|| self.history.aliases.get(id).and_then(|n| self.rules.get(n)))
    }

    /// Cases that check `rule_id`, in name order.
    pub fn cases_for_rule<'a>(&'a self, rule_id: &'a str) -> impl Iterator<Item = &'a CaseInfo> {
        self.cases
            .values()
            .filter(move |c| c.rules.iter().any(|r| r.id == rule_id))
    }

    /// Rules that no case checks: must be empty at every commit.
    pub fn uncovered_rules(&self) -> Vec<&Rule> {
        self.rules
            .values()
            .filter(|r| self.cases_for_rule(&r.id).next().is_none())
            .collect()
    }
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::new(
                &dir.to_string_lossy(),
                1,
                format!("cannot read book folder: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_markdown(&path, out, diags);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The known ID nearest to `id` by edit distance, if it is close enough to be a typo.
fn closest<'a>(id: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    known
        .map(|k| (edit_distance(id, k), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
