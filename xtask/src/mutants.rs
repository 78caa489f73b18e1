//! Mutation testing of the model (`cargo xtask mutants`): cargo-mutants over the model's
//! machine (`reference-impl/src`), judged by the conformance verdicts alone
//! (`judge/tests/verdicts.rs`, named by `.cargo/mutants.toml`). Too slow for CI; a maintainer
//! reruns it, file by file if need be.
//!
//! Each run's outcomes are merged into a committed record (`book/mutation-outcomes.txt`: one
//! line per mutant, and the date and commit each file was measured at); the book's page
//! `book/src/generated/mutation.md` (score by file, every survivor with its reason) is
//! generated from the record and the survivors' reasons (`book/mutation-survivors.toml`), and
//! a test keeps the page in step with both.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo-mutants release the record was made with.
pub(crate) const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// The record of outcomes, relative to the workspace root.
pub(crate) const RECORD: &str = "book/mutation-outcomes.txt";
/// The survivors' reasons, relative to the workspace root.
pub(crate) const REASONS: &str = "book/mutation-survivors.toml";
/// The generated page, relative to the workspace root.
pub(crate) const PAGE: &str = "book/src/generated/mutation.md";

/// What cargo-mutants concluded of one mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// A verdict failed: killed.
    Caught,
    /// The verdicts test did not finish in time (the mutant hangs the model): killed.
    Timeout,
    /// Every verdict held: survived.
    Missed,
    /// Does not compile: not counted.
    Unviable,
}

impl Outcome {
    const ALL: [(Outcome, &'static str); 4] = [
        (Outcome::Caught, "caught"),
        (Outcome::Timeout, "timeout"),
        (Outcome::Missed, "missed"),
        (Outcome::Unviable, "unviable"),
    ];

    fn name(self) -> &'static str {
        Outcome::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.iter().find(|(_, n)| *n == s).map(|(o, _)| *o)
    }
}

/// The committed record: when each file was measured, and every mutant's outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Record {
    /// File -> (date, commit) of the run that measured it.
    pub(crate) files: BTreeMap<String, (String, String)>,
    /// Mutant name (`file:line:col: replace ...`) -> outcome.
    pub(crate) mutants: BTreeMap<String, Outcome>,
}

/// The file a mutant's name starts with.
fn file_of(mutant: &str) -> &str {
    mutant.split(':').next().unwrap_or_default()
}

impl Record {
    pub(crate) fn parse(text: &str) -> Result<Record, String> {
        let mut r = Record::default();
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                [] | [""] => {}
                [c, ..] if c.starts_with('#') => {}
                ["file", file, date, commit] => {
                    r.files
                        .insert(file.to_string(), (date.to_string(), commit.to_string()));
                }
                [outcome, mutant] => {
                    let o = Outcome::parse(outcome).ok_or_else(|| {
                        format!("{RECORD}:{}: unknown outcome `{outcome}`", n + 1)
                    })?;
                    r.mutants.insert(mutant.to_string(), o);
                }
                _ => return Err(format!("{RECORD}:{}: cannot read `{line}`", n + 1)),
            }
        }
        for m in r.mutants.keys() {
            if !r.files.contains_key(file_of(m)) {
                return Err(format!("{RECORD}: `{m}` is in no measured file"));
            }
        }
        Ok(r)
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::from(
            "# The outcomes of `cargo xtask mutants` (written by it; the book's page\n\
             # \"Mutation testing of the model\" is generated from this file).\n\
             # file<TAB>path<TAB>date<TAB>commit, then outcome<TAB>mutant.\n",
        );
        for (file, (date, commit)) in &self.files {
            let _ = writeln!(out, "file\t{file}\t{date}\t{commit}");
        }
        for (m, o) in &self.mutants {
            let _ = writeln!(out, "{}\t{m}", o.name());
        }
        out
    }

    /// Replaces the outcomes of the files a run measured by that run's.
    fn merge(
        &mut self,
        run: BTreeMap<String, Outcome>,
        files: &[String],
        date: &str,
        commit: &str,
    ) {
        self.mutants
            .retain(|m, _| !files.iter().any(|f| f == file_of(m)));
        for f in files {
            self.files
                .insert(f.clone(), (date.to_string(), commit.to_string()));
        }
        self.mutants.extend(
            run.into_iter()
                .filter(|(m, _)| files.iter().any(|f| f == file_of(m))),
        );
    }
}

impl Record {
    /// The survivors of `file`.
    fn survivors_of(&self, file: &str) -> Vec<String> {
        self.mutants
            .iter()
            .filter(|(m, o)| **o == Outcome::Missed && file_of(m) == file)
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Replaces the outcomes of the mutants a run of earlier survivors measured, mutant by
    /// mutant; every other outcome of their files stays. The file's commit then names both
    /// runs: `FULL (survivors again at COMMIT)`.
    fn merge_survivors(
        &mut self,
        run: BTreeMap<String, Outcome>,
        files: &[String],
        date: &str,
        commit: &str,
    ) {
        for f in files {
            let earlier = self
                .files
                .get(f)
                .map(|(_, c)| c.split(' ').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            self.files.insert(
                f.clone(),
                (
                    date.to_string(),
                    format!("{earlier} (survivors again at {commit})"),
                ),
            );
        }
        self.mutants.extend(
            run.into_iter()
                .filter(|(m, _)| files.iter().any(|f| f == file_of(m))),
        );
    }
}

/// A regex that matches exactly `name` (cargo-mutants' `--re`, matched against the names
/// `--list` shows).
fn exactly(name: &str) -> String {
    let mut re = String::from("^");
    for c in name.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            re.push('\\');
        }
        re.push(c);
    }
    re.push('$');
    re
}

/// Reads the survivors' reasons: `"mutant name" = "why it is equivalent"`.
pub(crate) fn parse_reasons(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut reasons = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Only the subset of TOML the file uses: basic strings, one key per line.
        let strings = toml_strings(line).map_err(|e| format!("{REASONS}:{}: {e}", n + 1))?;
        match strings.as_slice() {
            [k, v] if line.contains("\" = \"") => {
                reasons.insert(k.clone(), v.clone());
            }
            _ => {
                return Err(format!(
                    "{REASONS}:{}: expected `\"mutant\" = \"reason\"`",
                    n + 1
                ));
            }
        }
    }
    Ok(reasons)
}

/// The basic strings of a line (`"..."`, with `\"` and `\\` escapes).
fn toml_strings(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        loop {
            match chars.next() {
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some(e @ ('"' | '\\')) => s.push(e),
                    other => return Err(format!("unsupported escape `\\{other:?}`")),
                },
                Some(c) => s.push(c),
                None => return Err("unterminated string".into()),
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// The page: the score by file, then every survivor with its reason. Errs if a survivor has
/// no reason or a reason names no survivor.
pub(crate) fn page(record: &Record, reasons: &BTreeMap<String, String>) -> Result<String, String> {
    let missed: Vec<&String> = record
        .mutants
        .iter()
        .filter(|(_, o)| **o == Outcome::Missed)
        .map(|(m, _)| m)
        .collect();
    let unexplained: Vec<&&String> = missed
        .iter()
        .filter(|m| !reasons.contains_key(**m))
        .collect();
    let stale: Vec<&String> = reasons.keys().filter(|k| !missed.contains(k)).collect();
    let unkinded: Vec<&String> = reasons
        .iter()
        .filter(|(_, r)| !r.starts_with("Equivalent: ") && !r.starts_with("Gap: "))
        .map(|(m, _)| m)
        .collect();
    if !unexplained.is_empty() || !stale.is_empty() || !unkinded.is_empty() {
        let mut e = String::new();
        for m in unkinded {
            let _ = writeln!(e, "a reason starts with `Equivalent: ` or `Gap: `: {m}");
        }
        for m in unexplained {
            let _ = writeln!(e, "survivor without a reason in {REASONS}: {m}");
        }
        for m in stale {
            let _ = writeln!(
                e,
                "reason for a mutant that did not survive (or was not run): {m}"
            );
        }
        return Err(e);
    }
    let mut out = String::from(
        "<!-- Generated by `cargo xtask mutants` from book/mutation-outcomes.txt and \
         book/mutation-survivors.toml: do not edit. -->\n\n\
         | file | measured | commit | mutants | unviable | killed | of which by a hang | survived | score |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let count = |file: Option<&str>, o: Outcome| {
        record
            .mutants
            .iter()
            .filter(|(m, x)| **x == o && file.is_none_or(|f| file_of(m) == f))
            .count()
    };
    let row = |out: &mut String, label: &str, date: &str, commit: &str, file: Option<&str>| {
        let (c, t, m, u) = (
            count(file, Outcome::Caught),
            count(file, Outcome::Timeout),
            count(file, Outcome::Missed),
            count(file, Outcome::Unviable),
        );
        let viable = c + t + m;
        let score = if viable == 0 {
            "-".to_string()
        } else {
            format!("{:.0} %", 100.0 * (c + t) as f64 / viable as f64)
        };
        let _ = writeln!(
            out,
            "| {label} | {date} | {commit} | {} | {u} | {} | {t} | {m} | {score} |",
            viable + u,
            c + t
        );
    };
    for (file, (date, commit)) in &record.files {
        row(&mut out, &format!("`{file}`"), date, commit, Some(file));
    }
    row(&mut out, "**all measured files**", "", "", None);
    out.push_str(
        "\nThe survivors, each with its reason: *equivalent* (no verdict can notice the change) \
         or *gap* (a scenario, shim or rule that would notice it, not written yet):\n\n",
    );
    if missed.is_empty() {
        out.push_str("None.\n");
    }
    for m in missed {
        let _ = writeln!(out, "- `{m}`: {}", reasons[m]);
    }
    Ok(out)
}

/// The cargo-mutants binary, installed under `target/tools/` when missing.
fn install(root: &Path) -> Result<PathBuf, String> {
    let tools = root.join("target/tools");
    let bin = tools.join("bin/cargo-mutants");
    let version = Command::new(&bin).args(["mutants", "--version"]).output();
    if version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_MUTANTS_VERSION)) {
        return Ok(bin);
    }
    let tools_arg = tools.to_string_lossy().to_string();
    super::jobs::run(
        root,
        "cargo",
        &[
            "install",
            "--locked",
            "cargo-mutants",
            "--version",
            CARGO_MUTANTS_VERSION,
            "--root",
            &tools_arg,
        ],
        &[],
    )?;
    Ok(bin)
}

/// Where a run's copy of the tree lives (its sources are HEAD's; its `target/` is kept
/// between runs so a run rebuilds only the workspace's crates), relative to the workspace root.
pub(crate) const TREE: &str = "target/mutants-tree";

/// The settings every run passes to cargo-mutants, besides those of `.cargo/mutants.toml`.
/// `--baseline skip`: cargo-mutants 27.1 runs its unmutated baseline with the mutated
/// package's tests (`reference-impl`'s), not the oracle's (`test_package` names `judge`), and
/// fails there; so the oracle is not timed and the timeouts are given: the verdicts test
/// takes a few seconds, a mutant that makes it run past `--timeout` hangs the model (killed), and
/// a build gets time for the first build of the copy. `--in-place` (one mutant at a time)
/// is in the copy of HEAD, never in the worktree.
pub(crate) const RUN_ARGS: [&str; 7] = [
    "--in-place",
    "--baseline",
    "skip",
    "--timeout",
    "60",
    "--build-timeout",
    "1800",
];

/// Makes `TREE` hold HEAD's sources (`git archive HEAD`, files dated now so cargo rebuilds
/// the workspace's crates) and nothing else but its build folder. Uncommitted changes are
/// not measured: the record names the commit measured.
fn snapshot_head(root: &Path) -> Result<PathBuf, String> {
    let tree = root.join(TREE);
    std::fs::create_dir_all(&tree).map_err(|e| format!("{TREE}: {e}"))?;
    for entry in std::fs::read_dir(&tree).map_err(|e| format!("{TREE}: {e}"))? {
        let path = entry.map_err(|e| format!("{TREE}: {e}"))?.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot start `git`: {e}"))?;
    if !dirty.stdout.is_empty() {
        eprintln!("note: uncommitted changes are not measured (the run mutates HEAD's sources)");
    }
    let archive = Command::new("git")
        .args(["archive", "--format=tar", "HEAD"])
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `git archive`: {e}"))?;
    let stdout = archive.stdout.ok_or("`git archive` gave no output")?;
    let status = Command::new("tar")
        .args(["-x", "-m", "-C"])
        .arg(&tree)
        .stdin(stdout)
        .status()
        .map_err(|e| format!("cannot start `tar`: {e}"))?;
    if !status.success() {
        return Err(format!("cannot extract HEAD into {TREE} ({status})"));
    }
    Ok(tree)
}

/// Today's date and HEAD's short commit.
fn date_and_commit(root: &Path) -> Result<(String, String), String> {
    let out = |program: &str, args: &[&str]| -> Result<String, String> {
        let o = Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .map_err(|e| format!("cannot start `{program}`: {e}"))?;
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    Ok((
        out("date", &["-u", "+%Y-%m-%d"])?,
        out("git", &["rev-parse", "--short=10", "HEAD"])?,
    ))
}

/// The files a run measures: those named, or every file of the model's machine.
fn files_of(root: &Path, named: &[&str]) -> Result<Vec<String>, String> {
    if !named.is_empty() {
        return Ok(named.iter().map(|s| s.to_string()).collect());
    }
    let mut files = Vec::new();
    let mut dirs = vec![root.join("reference-impl/src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).map_err(|e| e.to_string())?;
                files.push(rel.to_string_lossy().to_string());
            }
        }
    }
    files.retain(|f| f != "reference-impl/src/kernel/tests.rs");
    files.sort();
    Ok(files)
}

/// Reads a run's outcomes from cargo-mutants' output folder (`caught.txt` and the others).
fn read_run(out: &Path) -> Result<BTreeMap<String, Outcome>, String> {
    let mut run = BTreeMap::new();
    for (o, name) in Outcome::ALL {
        let path = out.join(format!("{name}.txt"));
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            run.insert(line.to_string(), o);
        }
    }
    Ok(run)
}

/// Writes the page from the record and the reasons.
pub(crate) fn write_page(root: &Path) -> Result<(), String> {
    let read = |p: &str| std::fs::read_to_string(root.join(p)).map_err(|e| format!("{p}: {e}"));
    let record = Record::parse(&read(RECORD)?)?;
    let reasons = parse_reasons(&read(REASONS)?)?;
    let page = page(&record, &reasons)?;
    std::fs::write(root.join(PAGE), page).map_err(|e| format!("{PAGE}: {e}"))
}

/// `cargo xtask mutants [--file F]... [--survivors] [--from DIR]... [--commit C] | --page`:
/// runs cargo-mutants on the files (all of `reference-impl/src` by default), merges the
/// outcomes into the record and writes the page. `--survivors` runs only the files' recorded
/// survivors again (after a kill) and replaces only their outcomes. `--from DIR` reads earlier runs' output folders
/// instead of running, a later one's outcomes winning (an `--iterate` run over an earlier
/// run's survivors); `--commit` names the commit they measured (HEAD by default); `--page`
/// only writes the page (after editing the reasons).
pub(crate) fn run(root: &Path, args: &[&str]) -> Result<(), String> {
    if args == ["--page"] {
        return write_page(root);
    }
    let mut named = Vec::new();
    let mut from: Vec<PathBuf> = Vec::new();
    let mut commit = None;
    let survivors_only = args.contains(&"--survivors");
    let mut it = args.iter().filter(|a| **a != "--survivors");
    while let Some(a) = it.next() {
        match (*a, it.next()) {
            ("--file" | "-f", Some(f)) => named.push(*f),
            ("--from", Some(d)) => from.push(root.join(d)),
            ("--commit", Some(c)) => commit = Some(c.to_string()),
            _ => return Err(format!("unknown or incomplete argument `{a}`")),
        }
    }
    let files = files_of(root, &named)?;
    let (date, head) = date_and_commit(root)?;
    let commit = commit.unwrap_or(head);
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
    let mut record = Record::parse(&read(RECORD))?;
    // With `--survivors`, only the recorded survivors of the files run again.
    let mut only: Vec<String> = Vec::new();
    if survivors_only {
        for f in &files {
            only.extend(record.survivors_of(f).iter().map(|m| exactly(m)));
        }
        if only.is_empty() {
            return Err("--survivors: the record holds no survivor of these files".into());
        }
    }
    if from.is_empty() {
        let bin = install(root)?;
        let tree = snapshot_head(root)?;
        let out = root.join("target/mutants");
        let (tree, out) = (tree.to_string_lossy(), out.to_string_lossy());
        let mut args = vec!["mutants", "--dir", &tree, "--output", &out];
        args.extend(RUN_ARGS);
        for f in &files {
            args.extend(["--file", f]);
        }
        for re in &only {
            args.extend(["--re", re]);
        }
        let bin = bin.to_string_lossy().to_string();
        // cargo-mutants exits 0 when every mutant was killed, 2 when some survived, 3 when
        // some timed out (killed): the page lists them. Anything else is a failed run.
        if let Err(e) = super::jobs::run(root, &bin, &args, &[])
            && !["exit status: 2", "exit status: 3"]
                .iter()
                .any(|code| e.contains(code))
        {
            return Err(e);
        }
        from.push(root.join("target/mutants"));
    }
    // Later runs (an `--iterate` run over the survivors of an earlier one) win.
    let mut run = BTreeMap::new();
    for dir in &from {
        run.extend(read_run(&dir.join("mutants.out"))?);
    }
    let measured: Vec<String> = files
        .into_iter()
        .filter(|f| run.keys().any(|m| file_of(m) == f))
        .collect();
    if survivors_only {
        record.merge_survivors(run, &measured, &date, &commit);
    } else {
        record.merge(run, &measured, &date, &commit);
    }
    std::fs::write(root.join(RECORD), record.render()).map_err(|e| format!("{RECORD}: {e}"))?;
    eprintln!("{RECORD}: {} file(s) measured", measured.len());
    write_page(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("in the workspace")
            .to_path_buf()
    }

    /// The book's page is what the committed record and reasons give: every survivor has
    /// a reason, no reason is left for a mutant that no longer survives.
    #[test]
    fn the_mutation_page_is_current() {
        let root = root();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
        let record = Record::parse(&read(RECORD)).expect("the record reads");
        assert_eq!(Record::parse(&record.render()), Ok(record.clone()));
        let reasons = parse_reasons(&read(REASONS)).expect("the reasons read");
        let page = page(&record, &reasons).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            read(PAGE) == page,
            "{PAGE} is stale: run `cargo xtask mutants --page` and read the diff"
        );
    }

    /// A run of a file's survivors replaces their outcomes only, and the file's commit names
    /// both runs; the names match exactly, whatever they hold.
    #[test]
    fn a_run_of_survivors_replaces_only_theirs() {
        let mut r = Record::parse(
            "file\ta.rs\t2026-01-01\tx\n\
             caught\ta.rs:1:1: replace f\nmissed\ta.rs:2:2: replace g -> Option<&'static str> with Some(\"\")\n",
        )
        .expect("reads");
        let survivors = r.survivors_of("a.rs");
        assert_eq!(survivors.len(), 1);
        assert_eq!(
            exactly(&survivors[0]),
            r#"^a\.rs:2:2: replace g \-> Option<\&'static str> with Some\(""\)$"#
        );
        let run = BTreeMap::from([(survivors[0].clone(), Outcome::Caught)]);
        r.merge_survivors(run, &["a.rs".to_string()], "2026-02-02", "y");
        assert_eq!(
            r.render()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            [
                "file\ta.rs\t2026-02-02\tx (survivors again at y)",
                "caught\ta.rs:1:1: replace f",
                "caught\ta.rs:2:2: replace g -> Option<&'static str> with Some(\"\")"
            ]
        );
    }

    /// A run replaces the outcomes of the files it measured and keeps the others'.
    #[test]
    fn a_run_replaces_only_the_files_it_measured() {
        let mut r = Record::parse(
            "file\ta.rs\t2026-01-01\tx\nfile\tb.rs\t2026-01-01\tx\n\
             caught\ta.rs:1:1: replace f\nmissed\tb.rs:2:2: replace g\n",
        )
        .expect("reads");
        let run = BTreeMap::from([("a.rs:3:3: replace h".to_string(), Outcome::Missed)]);
        r.merge(run, &["a.rs".to_string()], "2026-02-02", "y");
        assert_eq!(
            r.render()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            [
                "file\ta.rs\t2026-02-02\ty",
                "file\tb.rs\t2026-01-01\tx",
                "missed\ta.rs:3:3: replace h",
                "missed\tb.rs:2:2: replace g"
            ]
        );
        let reasons = parse_reasons("\"a.rs:3:3: replace h\" = \"Gap: why\"\n").expect("reads");
        let e = page(&r, &reasons).expect_err("b.rs's survivor has no reason");
        assert!(e.contains("b.rs:2:2: replace g"), "{e}");
    }
}
