//! One side of a review: the spec at a revision (or in the work tree), read from its files,
//! with the verdicts of the in-tree shims when they could be computed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use spec_chapters::Spec;

/// A rule as a reviewer compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// The rule's ID.
    pub id: String,
    /// MUST, SHOULD or MAY.
    pub strength: String,
    /// The rule's paragraph, as written.
    pub text: String,
    /// The chapter that states it.
    pub chapter: String,
    /// `since=` of the marker.
    pub since: Option<String>,
    /// `earlier-with=` of the marker.
    pub earlier_with: Option<String>,
    /// Where the rule comes from in the kernel (`book/src/kernel/citations.json`): one
    /// `file: symbol` (with its quoted kernel-doc, if any) per citation, sorted.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// A case as a reviewer compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseInfo {
    /// The first line of its doc comment.
    pub title: String,
    /// The chapter it is written in.
    pub chapter: String,
    /// The rules it names.
    pub rules: Vec<String>,
}

/// The verdicts of every in-tree shim at one side: for each shim, the status of each case and
/// the verdict on each rule. Broken shims (from `mutants`) list only the cases that catch them
/// (`fail`) and the rules they are found to violate (`violated`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdicts {
    /// Shim name -> case variant -> status (`pass`, `fail`, `n/a`, ...).
    pub cases: BTreeMap<String, BTreeMap<String, String>>,
    /// Shim name -> rule ID -> verdict (`conformant`, `violated`, ...).
    pub rules: BTreeMap<String, BTreeMap<String, String>>,
}

/// One revision of the spec.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// How the side is named in reports: a revision and its short hash, or `work tree`.
    pub label: String,
    /// Every rule by ID.
    pub rules: BTreeMap<String, RuleInfo>,
    /// Renamed rules: old ID -> new ID (`book/rules-history.toml`).
    pub aliases: BTreeMap<String, String>,
    /// Retired rule IDs with the reason.
    pub retired: BTreeMap<String, String>,
    /// Every case by name.
    pub cases: BTreeMap<String, CaseInfo>,
    /// Every blessed trace by case variant (`case[variant]`), numbers of events included.
    pub traces: BTreeMap<String, String>,
    /// The verdicts of the in-tree shims, or why they are missing.
    pub verdicts: Option<Result<Verdicts, String>>,
}

impl Side {
    /// Reads the spec of a checkout rooted at `root` (its `book/` and the snapshots under
    /// `conformance/tests/snapshots/`). A book with diagnostics is still read: a review shows
    /// what is there.
    pub fn load(root: &Path, label: &str) -> Result<Side, String> {
        let src = root.join("book/src");
        if !src.is_dir() {
            return Err(format!("{} has no book/src", root.display()));
        }
        let (spec, _diagnostics) = Spec::load(&src);
        let mut rules: BTreeMap<String, RuleInfo> = spec
            .rules
            .values()
            .map(|r| {
                (
                    r.id.clone(),
                    RuleInfo {
                        id: r.id.clone(),
                        strength: r.strength.as_str().to_string(),
                        text: r.text.clone(),
                        chapter: r.chapter.clone(),
                        since: r.since.clone(),
                        earlier_with: r.earlier_with.clone(),
                        sources: Vec::new(),
                    },
                )
            })
            .collect();
        for (rule, source) in read_citations(&src.join("kernel/citations.json"))? {
            if let Some(r) = rules.get_mut(&rule) {
                r.sources.push(source);
            }
        }
        for r in rules.values_mut() {
            r.sources.sort();
        }
        let cases = spec
            .cases
            .values()
            .map(|c| {
                (
                    c.name.clone(),
                    CaseInfo {
                        title: c.title.clone(),
                        chapter: c.chapter.clone(),
                        rules: c.rules.iter().map(|r| r.id.clone()).collect(),
                    },
                )
            })
            .collect();
        Ok(Side {
            label: label.to_string(),
            rules,
            aliases: spec.history.aliases.clone(),
            retired: spec.history.retired.clone(),
            cases,
            traces: read_snapshots(&root.join("conformance/tests/snapshots"))?,
            verdicts: None,
        })
    }

    /// Reads the spec at git revision `rev` of the repository `repo`, extracting the files it
    /// needs into `cache/<commit>/` once (a later review of the same commit reuses them).
    pub fn at_revision(repo: &Path, rev: &str, cache: &Path) -> Result<Side, String> {
        let sha = commit_of(repo, rev)?;
        let files = cache.join(&sha).join("files");
        if !files.join("book/src").is_dir() {
            extract(repo, &sha, &["book", "conformance/tests/snapshots"], &files)?;
        }
        let label = if sha.starts_with(rev) {
            sha[..12].to_string()
        } else {
            format!("{rev} ({})", &sha[..12])
        };
        Side::load(&files, &label)
    }

    /// Adds the verdicts of every in-tree shim at `rev`, computed once per commit in a full
    /// copy of that revision (`cache/<commit>/tree`, built into the shared `cache/target`) and
    /// kept in `cache/<commit>/verdicts.json`.
    pub fn with_verdicts_at(mut self, repo: &Path, rev: &str, cache: &Path) -> Side {
        let computed = (|| {
            let sha = commit_of(repo, rev)?;
            let saved = cache.join(&sha).join("verdicts.json");
            if let Ok(text) = std::fs::read_to_string(&saved)
                && let Ok(v) = serde_json::from_str(&text)
            {
                return Ok(v);
            }
            let tree = cache.join(&sha).join("tree");
            if !tree.join("Cargo.toml").is_file() {
                extract(repo, &sha, &[], &tree)?;
            }
            let verdicts = Verdicts::compute(&tree, Some(&cache.join("target")))?;
            let text = serde_json::to_string(&verdicts).map_err(|e| e.to_string())?;
            std::fs::write(&saved, text).map_err(|e| format!("{}: {e}", saved.display()))?;
            Ok(verdicts)
        })();
        self.verdicts = Some(computed);
        self
    }

    /// Adds the verdicts computed by `compute` (the work tree's, for instance).
    pub fn with_verdicts(mut self, verdicts: Result<Verdicts, String>) -> Side {
        self.verdicts = Some(verdicts);
        self
    }
}

impl Verdicts {
    /// Runs the suite of the checkout at `tree` (`run --format json` for the good shims,
    /// `mutants --format json` for the broken ones) with `cargo`, building into `target_dir`
    /// when given.
    pub fn compute(tree: &Path, target_dir: Option<&Path>) -> Result<Verdicts, String> {
        let run = runner_json(tree, target_dir, &["run", "--format", "json"])?;
        let mutants = runner_json(tree, target_dir, &["mutants", "--format", "json"])?;
        Verdicts::from_results(&run, &mutants)
    }

    /// Reads the verdicts from the JSON of `run --format json` and `mutants --format json`.
    pub fn from_results(
        run: &serde_json::Value,
        mutants: &serde_json::Value,
    ) -> Result<Verdicts, String> {
        let mut v = Verdicts::default();
        let shims = run["shims"]
            .as_array()
            .ok_or("the run's results have no `shims` array")?;
        for shim in shims {
            let name = shim["shim"]["name"]
                .as_str()
                .ok_or("a shim of the results has no name")?
                .to_string();
            let cases = v.cases.entry(name.clone()).or_default();
            for case in shim["cases"].as_array().into_iter().flatten() {
                if let (Some(n), Some(s)) = (case["name"].as_str(), case["status"].as_str()) {
                    cases.insert(n.to_string(), s.to_string());
                }
            }
            let rules = v.rules.entry(name).or_default();
            for rule in shim["rules"].as_array().into_iter().flatten() {
                if let (Some(r), Some(s)) = (rule["rule"].as_str(), rule["verdict"].as_str()) {
                    rules.insert(r.to_string(), s.to_string());
                }
            }
        }
        for m in mutants
            .as_array()
            .ok_or("the mutants' results are not an array")?
        {
            let name = m["shim"]
                .as_str()
                .ok_or("a mutant has no shim name")?
                .to_string();
            let cases = v.cases.entry(name.clone()).or_default();
            for c in m["caught_by"].as_array().into_iter().flatten() {
                if let Some(c) = c.as_str() {
                    cases.insert(c.to_string(), "fail".to_string());
                }
            }
            let rules = v.rules.entry(name).or_default();
            for r in m["violated"].as_array().into_iter().flatten() {
                if let Some(r) = r.as_str() {
                    rules.insert(r.to_string(), "violated".to_string());
                }
            }
        }
        Ok(v)
    }
}

/// Runs `revoke-conformance ARGS` of the checkout at `tree` and parses its standard output
/// as JSON. Exit status 1 (a case failed) still gives results.
fn runner_json(
    tree: &Path,
    target_dir: Option<&Path>,
    args: &[&str],
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["run", "--quiet", "-p", "conformance", "--"])
        .args(args)
        .current_dir(tree);
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    eprintln!(
        "spec-diff: running `revoke-conformance {}` in {}",
        args.join(" "),
        tree.display()
    );
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run cargo in {}: {e}", tree.display()))?;
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(format!(
            "`revoke-conformance {}` failed in {} ({}): {}",
            args.join(" "),
            tree.display(),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 20)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "`revoke-conformance {}` in {} did not print JSON: {e}",
            args.join(" "),
            tree.display()
        )
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The commit a revision names.
fn commit_of(repo: &Path, rev: &str) -> Result<String, String> {
    let out = Command::new("git")
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{rev}^{{commit}}"))
        .current_dir(repo)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || sha.len() < 12 {
        return Err(format!("`{rev}` is not a revision of {}", repo.display()));
    }
    Ok(sha)
}

/// Extracts `paths` (everything when empty) of commit `sha` into `dest`, through a temporary
/// folder renamed into place, so an interrupted extraction is never taken for a finished one.
fn extract(repo: &Path, sha: &str, paths: &[&str], dest: &Path) -> Result<(), String> {
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let archive = Command::new("git")
        .args(["archive", "--format=tar", sha])
        .args(paths)
        .current_dir(repo)
        .output()
        .map_err(|e| format!("cannot run git archive: {e}"))?;
    if !archive.status.success() {
        return Err(format!(
            "git archive {sha} failed: {}",
            String::from_utf8_lossy(&archive.stderr)
        ));
    }
    // `-m`: the files get the time of extraction, not of the commit. Revisions share one
    // build folder, and cargo decides what to rebuild by comparing times: with commit times,
    // an older revision extracted after a newer one was built would look up to date.
    let mut tar = Command::new("tar")
        .args(["-x", "-m", "-C"])
        .arg(&partial)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = tar.stdin.take().ok_or("tar has no standard input")?;
        stdin
            .write_all(&archive.stdout)
            .map_err(|e| format!("cannot feed tar: {e}"))?;
    }
    let status = tar.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("tar failed extracting {sha}"));
    }
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&partial, dest).map_err(|e| format!("{}: {e}", dest.display()))
}

/// Every `*.snap` file of `dir`: the case variant named by its `case:` line -> the snapshot's
/// body (after insta's header).
fn read_snapshots(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "snap") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let body = strip_header(&text);
        let name = body
            .lines()
            .find_map(|l| l.strip_prefix("case: "))
            .map(str::to_string)
            .unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        out.insert(name, body.to_string());
    }
    Ok(out)
}

/// The citations of `book/src/kernel/citations.json` (none when the file is not there, as
/// in revisions before it existed): rule ID -> `file: symbol "quote"`.
fn read_citations(path: &Path) -> Result<Vec<(String, String)>, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a citations file: {e}", path.display()))?;
    let kernel = json["kernel"].as_str().unwrap_or("?");
    Ok(json["citations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let rule = c["rule"].as_str()?;
            let mut source = format!(
                "Linux {kernel} {}: {}",
                c["file"].as_str()?,
                c["symbol"].as_str()?
            );
            if let Some(q) = c["quote"].as_str() {
                source.push_str(&format!(" \"{q}\""));
            }
            Some((rule.to_string(), source))
        })
        .collect())
}

/// The body of an insta snapshot: what follows its `---`-delimited header.
fn strip_header(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("---\n")
        && let Some(end) = rest.find("\n---\n")
    {
        return &rest[end + 5..];
    }
    text
}
