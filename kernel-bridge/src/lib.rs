//! The bridge to real kernels: the book's scenarios run by the real dma-buf core.
//!
//! `revoke-conformance kernel` fetches Debian's Linux source (7.2 by default, with a private apt
//! configuration; see `source.rs`) or takes a given tree, installs the host tools a build needs
//! (crate `host-tools`), adds the kernel runner
//! (`kernel/revoke_spec_kunit.c`: C exporters and importers playing the reference profiles,
//! a step interpreter, a trace emitter) and the scenarios as generated C tables, builds a
//! User-Mode Linux kernel with KUnit for each configuration, collects the traces the runner
//! prints, and judges them with the same checks as every other backend. Rules carry the first
//! kernel version they hold for (`since=` in the book): a case that checks a rule the kernel
//! predates is not applicable to it, with the reason; a rule the book says holds on the kernel
//! and the kernel breaks is a *finding*.

pub mod citations;
pub mod ctable;
/// The host tools the bridge installs (the `host-tools` crate, under its old path).
pub use host_tools as host;
pub mod parse;
mod reliance;
pub mod replays;
mod source;
mod summary;
mod version;

pub use reliance::{Affects, Reliance, drop_unheld_checks, explain_rules, relied_on};
pub use source::{DEBIAN_KERNELS, OLDEST, check_tree, debian_tarball, scenarios};
use source::{build_and_run, config_name, install, tree};
pub use summary::{
    BridgeSummary, ConfigSummary, JudgedOn, MUTANTS, MutantSpec, replays_table_md,
    replays_table_path, table_md,
};
use summary::{MutantSummary, human_notes, summarize};
pub use version::{KernelVersion, Target};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use reference_impl::{ImporterKind, Role, Step, Trace};

use judge::CaseDef;
use judge::formats::RunFormat;
use judge::results::{ShimInfo, ShimResults, Status};
use judge::runner::{Backend, Ran, RunOptions, run_backend, selected};

/// The kernel runner, built into this binary so the command works from any directory.
const RUNNER_C: &str = include_str!("../../kernel/revoke_spec_kunit.c");
/// The interposition header compiled into `dma-buf.c` only.
const HOOKS_H: &str = include_str!("../../kernel/revoke_spec_hooks.h");
/// Marks the lines the bridge adds to a tree's `Kconfig` and `Makefile`.
const MARKER: &str = "# revoke-spec kernel bridge (added by revoke-conformance kernel)";

/// A kernel configuration the bridge builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MoveNotify {
    /// `CONFIG_DMABUF_MOVE_NOTIFY=y`.
    On,
    /// `CONFIG_DMABUF_MOVE_NOTIFY` not set.
    Off,
}

/// `revoke-conformance kernel`.
#[derive(clap::Args, Debug)]
pub struct KernelArgs {
    /// The kernel: Debian's `linux-source-VERSION` is fetched (without changing the machine's
    /// apt configuration) and extracted under --work-dir. With --log, the kernel the logs are of.
    #[arg(long, default_value = "7.2")]
    pub kernel: String,
    /// Use this kernel source tree in place (a developer's own tree): the runner is added to
    /// its drivers/dma-buf.
    #[arg(long, conflicts_with = "tarball")]
    pub tree: Option<PathBuf>,
    /// The source tarball to extract (in place of Debian's for --kernel).
    #[arg(long)]
    pub tarball: Option<PathBuf>,
    /// Where to extract, build and keep logs.
    #[arg(long, default_value = "target/kernel")]
    pub work_dir: PathBuf,
    /// The configurations to build (default: both, if the tree has the option).
    #[arg(long, value_enum)]
    pub move_notify: Vec<MoveNotify>,
    /// Parallel build jobs.
    #[arg(long, default_value_t = 2)]
    pub jobs: u32,
    /// Judge saved kunit.py logs instead of building (`on=FILE`, `off=FILE`, or `FILE` for a
    /// tree without the option).
    #[arg(long)]
    pub log: Vec<String>,
    /// Only cases whose name, or one of whose rule IDs, starts with this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: RunFormat,
    /// Write the report here instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Where rule links point: the published book by default (`REVOKE_CONFORMANCE_BOOK_URL`
    /// changes the default).
    #[arg(long, default_value_t = judge::formats::book_url())]
    pub book_url: String,
    /// Write the results summary (the book's table is rendered from it) to this file.
    #[arg(long)]
    pub write_summary: Option<PathBuf>,
    /// Fail if the results differ from this committed summary.
    #[arg(long)]
    pub check_summary: Option<PathBuf>,
    /// Check the tree (--kernel, --tree or --tarball) against these citations, without
    /// building: every cited file and symbol still there, every quoted kernel-doc sentence
    /// still said. Prints what changed, rule by rule; exit 1 if anything did.
    #[arg(long, conflicts_with_all = ["log", "check_summary", "write_summary"])]
    pub check_citations: Option<PathBuf>,
    /// Render the book's table (`FILE.md`) from this committed summary (or citations file),
    /// without a kernel.
    #[arg(long, conflicts_with_all = ["tree", "tarball", "log", "check_summary", "write_summary"])]
    pub render_summary: Option<PathBuf>,
    /// Also run every in-tree shim (in process) and report it first, so that each rule's
    /// verdict on the kernel stands next to the shims' in the report and the rule matrix.
    #[arg(long)]
    pub with_shims: bool,
}

/// One configuration's collected traces, as a backend the runner judges.
pub struct KernelBackend {
    info: ShimInfo,
    target: Target,
    traces: BTreeMap<String, Result<Trace, String>>,
}

impl KernelBackend {
    /// A backend over traces collected from a kernel (`mutant` selects the suite: `none` for
    /// the reference profiles).
    pub fn new(name: &str, target: Target, traces: &[parse::KernelTrace], mutant: &str) -> Self {
        KernelBackend {
            info: ShimInfo {
                name: name.to_string(),
                role: Role::Core,
                plays: vec!["core".into()],
                capabilities: vec!["core".into()],
                description: format!(
                    "the real dma-buf core of Linux {}, run under KUnit on User-Mode Linux{}",
                    target.version,
                    if mutant == "none" {
                        String::new()
                    } else {
                        format!(" with the mutant C driver `{mutant}`")
                    }
                ),
                process: None,
                kernel: Some(format!("{} ({name})", target.version)),
            },
            target,
            traces: traces
                .iter()
                // The replays of schedules (`CASE~LABEL`) are judged apart (`replays`).
                .filter(|t| t.mutant == mutant && !t.name.contains('~'))
                .map(|t| (t.name.clone(), t.trace.clone()))
                .collect(),
        }
    }
}

impl Backend for KernelBackend {
    fn info(&self) -> ShimInfo {
        self.info.clone()
    }
    fn applies_to(&self, case: &CaseDef, variant: &str, steps: &[Step]) -> Result<(), String> {
        self.target.case_applies(case, steps)?;
        match self.traces.get(&case.variant_name(variant)) {
            Some(Ok(trace)) => self.target.exercised(case, variant, steps, trace),
            _ => Ok(()),
        }
    }
    fn run(&mut self, case: &CaseDef, variant: &str, _steps: &[Step]) -> Ran {
        let name = case.variant_name(variant);
        Ran {
            trace: self
                .traces
                .get(&name)
                .cloned()
                .unwrap_or_else(|| Err(format!("the kernel printed no trace for `{name}`"))),
            stderr: None,
        }
    }
}

/// The release the kernel gave in its boot banner (`Linux version 7.2.13 ...`), if the log
/// has it.
fn linux_release(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        let rest = &l[l.find("Linux version ")? + "Linux version ".len()..];
        rest.split_whitespace().next().map(str::to_string)
    })
}

/// Runs the bridge; returns the exit status.
pub fn main(args: KernelArgs) -> Result<i32, String> {
    let start = Instant::now();
    if let Some(path) = &args.render_summary {
        let json = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let md = match serde_json::from_str::<BridgeSummary>(&json) {
            Ok(summary) => {
                let out = replays_table_path(path);
                std::fs::write(&out, replays_table_md(&summary))
                    .map_err(|e| format!("{}: {e}", out.display()))?;
                table_md(&summary)
            }
            Err(e) => citations::table_md(&serde_json::from_str(&json).map_err(|_| {
                format!(
                    "{}: neither a bridge summary ({e}) nor a citations file",
                    path.display()
                )
            })?),
        };
        let out = path.with_extension("md");
        std::fs::write(&out, md).map_err(|e| format!("{}: {e}", out.display()))?;
        return Ok(0);
    }
    let work = if args.work_dir.is_absolute() {
        args.work_dir.clone()
    } else {
        std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(&args.work_dir)
    };
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    // A summary of another kernel than --kernel's is refused before anything is built.
    if let Some(path) = &args.check_summary
        && args.tree.is_none()
        && args.tarball.is_none()
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(c) = serde_json::from_str::<BridgeSummary>(&text)
        && c.kernel != args.kernel
    {
        return Err(format!(
            "{} is the summary of Linux {}, and this run is of Linux {} (give --kernel {})",
            path.display(),
            c.kernel,
            args.kernel,
            c.kernel
        ));
    }
    if let Some(path) = &args.check_citations {
        let json = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cites: citations::Citations = serde_json::from_str(&json)
            .map_err(|e| format!("{}: not a citations file: {e}", path.display()))?;
        let tree = tree(&args, &work)?;
        let version = check_tree(&tree)?;
        let (mut text, mut holds) = citations::report(&tree, &version.to_string(), &cites);
        let links_path = path.with_file_name("source-links.json");
        if links_path.exists() {
            #[derive(serde::Deserialize)]
            struct SourceLinks {
                symbols: Vec<String>,
            }
            let json = std::fs::read_to_string(&links_path)
                .map_err(|e| format!("{}: {e}", links_path.display()))?;
            let links: SourceLinks = serde_json::from_str(&json)
                .map_err(|e| format!("{}: not a source-links file: {e}", links_path.display()))?;
            let missing = citations::missing_symbols(&tree, &links.symbols);
            if missing.is_empty() {
                text.push_str(&format!(
                    "The {} further kernel symbols the chapters link to (`{}`) are all named in \
                     Linux {version}.\n",
                    links.symbols.len(),
                    links_path.file_name().unwrap_or_default().to_string_lossy()
                ));
            } else {
                holds = false;
                text.push_str(&format!(
                    "\nKernel symbols the chapters link to that Linux {version} does not name \
                     (`{}`): {}.\n",
                    links_path.display(),
                    missing.join(", ")
                ));
            }
        }
        match &args.output {
            Some(p) => std::fs::write(p, &text).map_err(|e| format!("{}: {e}", p.display()))?,
            None => print!("{text}"),
        }
        return Ok(if holds { 0 } else { 1 });
    }
    let mut logs: Vec<(Option<MoveNotify>, String)> = Vec::new();
    let version;
    if args.log.is_empty() {
        let tree = tree(&args, &work)?;
        version = check_tree(&tree)?;
        let has_option = std::fs::read_to_string(tree.join("drivers/dma-buf/Kconfig"))
            .unwrap_or_default()
            .contains("config DMABUF_MOVE_NOTIFY");
        host::ensure(
            "building a User-Mode Linux kernel with KUnit",
            host::KUNIT_UML,
        )?;
        install(&tree)?;
        let configs: Vec<Option<MoveNotify>> = if !has_option {
            vec![None]
        } else if args.move_notify.is_empty() {
            vec![Some(MoveNotify::On), Some(MoveNotify::Off)]
        } else {
            args.move_notify.iter().copied().map(Some).collect()
        };
        for mn in configs {
            let t = Instant::now();
            eprintln!(
                "kernel: building and running {} in {}",
                config_name(version, mn),
                tree.display()
            );
            let log = build_and_run(&tree, &work, version, mn, args.jobs)?;
            eprintln!(
                "kernel: {} took {:.0?}",
                config_name(version, mn),
                t.elapsed()
            );
            logs.push((mn, log));
        }
    } else {
        version = KernelVersion::parse(&args.kernel)
            .ok_or_else(|| format!("--kernel {}: not a version (MAJOR.MINOR)", args.kernel))?;
        for l in &args.log {
            let (mn, path) = match l.split_once('=') {
                Some(("on", p)) => (Some(MoveNotify::On), p),
                Some(("off", p)) => (Some(MoveNotify::Off), p),
                _ => (None, l.as_str()),
            };
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            logs.push((mn, text));
        }
    }
    let filter =
        judge::filter::CaseFilter::new(args.filter.as_slice(), &[]).map_err(|e| e.to_string())?;
    let opts = RunOptions {
        spec: judge::spec(),
        filter: &filter,
        expectations: None,
        today: time::OffsetDateTime::now_utc().date(),
        cancel: Default::default(),
    };
    let mut shims = Vec::new();
    let mut configs = Vec::new();
    let mut mutants = Vec::new();
    let mut replay_mutants = Vec::new();
    let all_replays: Vec<replays::Replay> = match &args.filter {
        None => replays::replays(),
        Some(f) => replays::replays()
            .into_iter()
            .filter(|r| r.case.starts_with(f.as_str()))
            .collect(),
    };
    for (mn, log) in &logs {
        let traces = parse::parse(log);
        let target = Target {
            version,
            enabled: if *mn == Some(MoveNotify::On) {
                vec!["CONFIG_DMABUF_MOVE_NOTIFY".into()]
            } else {
                vec![]
            },
        };
        let name = config_name(version, *mn);
        let mut backend = KernelBackend::new(&name, target.clone(), &traces, "none");
        if let Some(release) = linux_release(log) {
            backend.info.kernel = Some(format!("{release} ({name})"));
        }
        let ran = backend.traces.values().filter(|t| t.is_ok()).count();
        let mut results = run_backend(&mut backend, &opts, &mut |_, _| {});
        drop_unheld_checks(&mut results, &target);
        explain_rules(&mut results, &target);
        let mut config = summarize(&results, ran);
        config.replays = replays::judge_replays(&all_replays, &traces, &target, "none");
        configs.push(config);
        shims.push(results);
        let (mutant, rule, _) = replays::REPLAY_MUTANT;
        let lines = replays::judge_replays(&all_replays, &traces, &target, mutant);
        // Required only where a schedule of a case checking the mutant's rule is judged.
        let judged = all_replays.iter().zip(&lines).any(|(r, l)| {
            (l.status == "pass" || l.status == "fail")
                && judge::spec()
                    .case(r.case.split('[').next().unwrap_or(&r.case))
                    .is_some_and(|c| c.rules.contains(&rule))
        });
        if judged {
            replay_mutants.push(MutantSummary {
                config: name.clone(),
                mutant: mutant.to_string(),
                rule: rule.to_string(),
                caught_by: all_replays
                    .iter()
                    .zip(&lines)
                    .filter(|(_, l)| l.status == "fail" && l.detail.split(", ").any(|d| d == rule))
                    .map(|(r, _)| r.name.clone())
                    .collect(),
            });
        }
        for m in MUTANTS {
            let mut backend = KernelBackend::new(&name, target.clone(), &traces, m.name);
            let mut results = run_backend(&mut backend, &opts, &mut |_, _| {});
            drop_unheld_checks(&mut results, &target);
            let caught_by = results
                .cases
                .iter()
                .filter(|c| c.failures.iter().any(|f| f.rule == m.rule))
                .map(|c| c.name.clone())
                .collect();
            // Required only where a case checking the mutant's rule with its profile is judged.
            let judged = results.cases.iter().any(|c| {
                c.status != Status::NotApplicable
                    && c.rules.iter().any(|r| r == m.rule)
                    && judge::spec()
                        .case(&c.case)
                        .and_then(|d| judge::outcome::scenario_of(d, &c.variant))
                        .is_some_and(|s| {
                            s.steps.iter().any(|st| {
                                matches!(
                                    st,
                                    Step::Attach {
                                        importer: ImporterKind::Dynamic,
                                        ..
                                    }
                                )
                            })
                        })
            });
            if !judged {
                continue; // No case with the mutant's profile is judged on this configuration.
            }
            mutants.push(MutantSummary {
                config: name.clone(),
                mutant: m.name.to_string(),
                rule: m.rule.to_string(),
                caught_by,
            });
        }
    }
    if args.with_shims {
        let mut all: Vec<ShimResults> = shims::in_tree()
            .iter()
            .map(|s| judge::runner::run_shim(s, &opts, &mut |_, _| {}))
            .collect();
        all.append(&mut shims);
        shims = all;
    }
    let results = judge::runner::collect(&opts.spec, shims, false);
    let summary2 = BridgeSummary {
        kernel: version.to_string(),
        configs,
        mutants,
        replay_mutants,
    };
    let mut text = args.format.render(&results, &args.book_url);
    if args.format == RunFormat::Human {
        text.push_str(&human_notes(&summary2));
        let _ = writeln!(text, "bridge run: {:.0?}", start.elapsed());
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => print!("{text}"),
    }
    let json = serde_json::to_string_pretty(&summary2).unwrap_or_default() + "\n";
    let table = table_md(&summary2);
    if let Some(path) = &args.write_summary {
        std::fs::write(path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
        let md = path.with_extension("md");
        std::fs::write(&md, &table).map_err(|e| format!("{}: {e}", md.display()))?;
        let md = replays_table_path(path);
        std::fs::write(&md, replays_table_md(&summary2))
            .map_err(|e| format!("{}: {e}", md.display()))?;
    }
    let mut status = if results.failed() { 1 } else { 0 };
    for c in &summary2.configs {
        for r in c
            .replays
            .iter()
            .filter(|r| r.status == "fail" || r.status == "error")
        {
            eprintln!(
                "kernel: the replay of {} ({}) on `{}`: {}: {}",
                r.case, r.label, c.name, r.status, r.detail
            );
            status = 1;
        }
    }
    for m in summary2.mutants.iter().chain(&summary2.replay_mutants) {
        if m.caught_by.is_empty() {
            eprintln!(
                "kernel: the mutant `{}` was not caught on `{}` ({})",
                m.mutant, m.rule, m.config
            );
            status = 1;
        }
    }
    if let Some(path) = &args.check_summary {
        let committed =
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Ok(c) = serde_json::from_str::<BridgeSummary>(&committed)
            && c.kernel != summary2.kernel
        {
            return Err(format!(
                "{} is the summary of Linux {}, and this run is of Linux {} (give --kernel {})",
                path.display(),
                c.kernel,
                summary2.kernel,
                c.kernel
            ));
        }
        if committed != json {
            let diff = similar::TextDiff::from_lines(&committed, &json)
                .unified_diff()
                .header("committed", "this run")
                .to_string();
            eprintln!(
                "kernel: the results differ from {} (regenerate it with --write-summary and update the book):\n{diff}",
                path.display()
            );
            status = 1;
        }
        let md = path.with_extension("md");
        if std::fs::read_to_string(&md).ok().as_deref() != Some(table.as_str()) {
            eprintln!("kernel: {} is not the table of this run", md.display());
            status = 1;
        }
        let md = replays_table_path(path);
        if std::fs::read_to_string(&md).unwrap_or_default() != replays_table_md(&summary2) {
            eprintln!(
                "kernel: {} is not the replays' table of this run",
                md.display()
            );
            status = 1;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use judge::RuleDef;

    /// The runner's C spells every errno the model names as the trace schema does (the
    /// kernel's name), names no other, and gives any other errno by number in the
    /// form of the model's `Errno::Other`, so an errno outside the list is judged by the
    /// rules instead of failing the trace's parse.
    #[test]
    fn the_runner_spells_every_errno_as_the_trace_schema() {
        use reference_impl::Errno;
        let table = RUNNER_C
            .split("errnames[] = {")
            .nth(1)
            .and_then(|t| t.split("};").next())
            .expect("the runner's errno table");
        let rows: Vec<(&str, &str)> = table
            .lines()
            .filter_map(|l| {
                let l = l.trim().strip_prefix("{ ")?.strip_suffix(" },")?;
                let (name, spelled) = l.split_once(", ")?;
                Some((name, spelled.trim_matches('"')))
            })
            .collect();
        let named: Vec<Errno> = (1..=4095)
            .filter_map(|n| Errno::from_kernel(-n))
            .filter(|e| !matches!(e, Errno::Other(_)))
            .collect();
        assert_eq!(rows.len(), named.len(), "{rows:?}");
        for e in named {
            let spelled = serde_json::to_string(&e).expect("serialises");
            assert!(
                rows.iter()
                    .any(|(name, s)| *name == e.name() && format!("\"{s}\"") == spelled),
                "{} ({spelled}) is not in the runner's table",
                e.name()
            );
        }
        assert!(RUNNER_C.contains(r#"scnprintf(buf, len, "{\"other\":%d}", -err);"#));
        let other: Errno = serde_json::from_str(r#"{"other":133}"#).expect("parses");
        assert_eq!(other, Errno::Other(133));
    }

    fn target(v: (u32, u32), enabled: &[&str]) -> Target {
        Target {
            version: KernelVersion(v.0, v.1),
            enabled: enabled.iter().map(|s| s.to_string()).collect(),
        }
    }

    const RULE: RuleDef = RuleDef {
        id: "demo.core.rule",
        strength: judge::Strength::Must,
        text: "",
        chapter: "a.md",
        line: 1,
        hash: "",
        since: Some("7.1"),
        earlier_with: Some("CONFIG_DMABUF_MOVE_NOTIFY"),
    };

    #[test]
    fn versions_read_and_compare() {
        let mk = "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n";
        assert_eq!(KernelVersion::of_makefile(mk), Some(KernelVersion(6, 12)));
        assert!(KernelVersion(6, 12) < KernelVersion::parse("7.1").unwrap_or(KernelVersion(0, 0)));
        assert!(KernelVersion(7, 1) >= KernelVersion(7, 0));
    }

    #[test]
    fn a_rule_holds_by_version_or_by_option() {
        assert!(target((7, 1), &[]).rule_holds(&RULE).is_ok());
        assert!(
            target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"])
                .rule_holds(&RULE)
                .is_ok()
        );
        let e = target((6, 12), &[]).rule_holds(&RULE).unwrap_err();
        assert!(
            e.contains("since Linux 7.1") && e.contains("CONFIG_DMABUF_MOVE_NOTIFY"),
            "{e}"
        );
        let plain = RuleDef {
            earlier_with: None,
            ..RULE
        };
        assert!(
            target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"])
                .rule_holds(&plain)
                .is_err()
        );
        let always = RuleDef {
            since: None,
            earlier_with: None,
            ..RULE
        };
        assert!(target((6, 12), &[]).rule_holds(&always).is_ok());
    }

    #[test]
    fn applicability_by_version_on_the_books_cases() {
        let old = target((6, 12), &[]);
        let new = target((7, 1), &[]);
        let mut na = 0;
        for (c, v) in selected(&judge::spec(), None) {
            let steps = judge::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            if let Some(why) = version::runner_cannot_run(&steps) {
                let on_old = old.case_applies(c, &steps).unwrap_err();
                assert_eq!(new.case_applies(c, &steps).unwrap_err(), why);
                assert_eq!(on_old, why, "the same reason on every kernel");
                continue;
            }
            assert!(
                new.case_applies(c, &steps).is_ok(),
                "{} applies to 7.1",
                c.variant_name(v)
            );
            if let Err(reason) = old.case_applies(c, &steps) {
                assert!(reason.contains("since Linux"), "{reason}");
                na += 1;
            }
            // On 7.1 nothing a scenario relies on is missing, whatever its trace.
            if let Ok(trace) = reference_impl::run_reference(&steps) {
                assert!(new.exercised(c, v, &steps, &trace).is_ok());
            }
        }
        assert!(na > 0, "some cases rely on 7.1 behaviour");
    }

    #[test]
    fn on_7_2_every_rule_holds_and_every_case_applies() {
        let t = target((7, 2), &[]);
        let since_7_1: Vec<&str> = judge::spec()
            .rules
            .iter()
            .filter(|r| r.since == Some("7.1"))
            .map(|r| r.id)
            .collect();
        assert!(since_7_1.contains(&"attach.core.null-callback"));
        assert!(since_7_1.contains(&"map.dynamic.no-pin-no-wait"));
        for r in judge::spec().rules {
            assert!(t.rule_holds(r).is_ok(), "{} holds on 7.2", r.id);
        }
        let mut unrunnable = Vec::new();
        for (c, v) in selected(&judge::spec(), None) {
            let steps = judge::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            // Only a scenario the KUnit runner cannot run at all (a signal) is left out, and
            // then not for its kernel.
            if let Some(why) = version::runner_cannot_run(&steps) {
                assert!(why.contains("KUnit runner cannot"), "{why}");
                unrunnable.push(c.variant_name(v));
                continue;
            }
            assert!(
                t.case_applies(c, &steps).is_ok(),
                "{} applies to 7.2",
                c.variant_name(v)
            );
        }
        assert_eq!(unrunnable, ["a_signal_does_not_cut_a_revoke_short"]);
        assert!(
            source::scenarios(None)
                .iter()
                .all(|(name, _)| !unrunnable.contains(name)),
            "the runner's tables leave them out"
        );
    }

    fn variant(name: &str) -> (&'static CaseDef, &'static str, Vec<Step>) {
        let (c, v) = selected(&judge::spec(), None)
            .into_iter()
            .find(|(c, v)| c.variant_name(v) == name)
            .unwrap_or_else(|| panic!("no case {name}"));
        let steps = judge::outcome::scenario_of(c, v)
            .map(|s| s.steps)
            .unwrap_or_default();
        (c, v, steps)
    }

    fn applies(t: &Target, name: &str) -> Result<(), String> {
        let (c, _, steps) = variant(name);
        t.case_applies(c, &steps)
    }

    #[test]
    fn what_a_reliance_takes_away_on_6_12() {
        let on = target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"]);
        let off = target((6, 12), &[]);
        // The rdma profile's attachment does not exist: nothing is left.
        let e = applies(&on, "hot_unplug_with_a_non_revocable_importer").unwrap_err();
        assert!(
            e.contains("`attach.core.null-callback` holds since Linux 7.1"),
            "{e}"
        );
        // A static importer of an exporter with `pin`: pinned and mapped at attach, so its
        // mapping rules cannot be judged, its teardown rules can.
        let e = applies(&on, "static_import_pins_and_waits").unwrap_err();
        assert!(e.contains("`map.static.pin-on-map`"), "{e}");
        assert!(applies(&on, "orderly_teardown[static]").is_ok());
        // ... and neither is its own use of the unlocked helpers; the core's pin around its
        // mapping, which 6.12 takes at attach, is.
        assert!(applies(&on, "static_importer_uses_unlocked_helpers").is_ok());
        let e = applies(&on, "pins_reach_the_exporter_locked[static]").unwrap_err();
        assert!(e.contains("`lock.core.pin-ops-locked`"), "{e}");
        assert!(applies(&on, "pins_reach_the_exporter_locked[iommufd]").is_ok());
        // The gpu exporter's revoke (hot unplug) relies on nothing 6.12 lacks.
        assert!(applies(&on, "map_after_revoke_fails[gpu]").is_ok());
        assert!(applies(&off, "map_after_revoke_fails[gpu]").is_ok());
        // The vfio profile has no `pin`: the cached mapping does not touch pinning rules.
        assert!(applies(&on, "pin_without_a_pin_op").is_ok());
        let e = applies(&on, "map_after_revoke_fails[vfio]").unwrap_err();
        assert!(e.contains("`revoke.exporter.reject-map`"), "{e}");
        // A move while the dynamic importer's mapping is held needs the option.
        assert!(applies(&on, "repeated_moves").is_ok());
        let e = applies(&off, "repeated_moves").unwrap_err();
        assert!(e.contains("step 3 moves the buffer"), "{e}");
        assert!(applies(&off, "invalidation_between_unmap_and_detach[dynamic]").is_ok());
        // A vfio revoke with a dynamic attachment is decided on the trace.
        let (_, _, steps) = variant("revoke_around_reset[iommufd]");
        assert!(
            relied_on(&steps)
                .iter()
                .any(|r| r.rule == "map.core.no-cache" && r.affects == Affects::StopsIn(4))
        );
        assert!(applies(&on, "revoke_around_reset[iommufd]").is_ok());
    }

    /// The reference trace of a case, cut as 6.12 cuts it: the vfio revoke's wait for unmaps
    /// in `step` never returns.
    fn hung_in_unmap_wait(steps: &[Step], step: usize) -> Trace {
        let mut t = reference_impl::run_reference(steps).expect("the model runs it");
        let at = t
            .events
            .iter()
            .position(|e| e.step == step && e.call.name() == "wait_for_unmap")
            .expect("a wait for unmaps");
        t.events.truncate(at + 1);
        t.events[at].ret = Some(reference_impl::Ret::Hang);
        t.hung_at = Some(step);
        t
    }

    #[test]
    fn a_stop_the_version_predicts_leaves_out_only_what_never_ran() {
        let on = target((6, 12), &["CONFIG_DMABUF_MOVE_NOTIFY"]);
        // The checks of steps after the revoke never ran: not applicable, with the reason.
        let (c, v, steps) = variant("revoke_around_reset[iommufd]");
        let t = hung_in_unmap_wait(&steps, 4);
        let e = on.exercised(c, v, &steps, &t).unwrap_err();
        assert!(
            e.contains("stops in step 4") && e.contains("`revoke.importer.stop-access`"),
            "{e}"
        );
        // Every check of this one looks at the revoke itself, or at the whole run: judged.
        let (c, v, steps) = variant("revoke_waits_for_queued_work");
        let t = hung_in_unmap_wait(&steps, 3);
        assert!(on.exercised(c, v, &steps, &t).is_ok());
        let (c, v, steps) = variant("attach_links_after_exporter_accepts[static]");
        let t = hung_in_unmap_wait(&steps, 4);
        assert!(on.exercised(c, v, &steps, &t).is_ok());
        // A check that fails for another reason keeps the case judged (and failing): here the
        // exporter's BOOKKEEP wait is missing.
        let (c, v, steps) = variant("revoke_around_reset[iommufd]");
        let mut t = hung_in_unmap_wait(&steps, 4);
        t.events
            .retain(|e| !(e.step == 4 && e.call.name() == "dma_resv_wait_timeout"));
        assert!(on.exercised(c, v, &steps, &t).is_ok());
        // A trace that stops elsewhere than predicted is judged as it is.
        let (c, v, steps) = variant("revoke_blocks_on_a_stuck_fence");
        let t = reference_impl::run_reference(&steps).expect("the model runs it");
        assert!(on.exercised(c, v, &steps, &t).is_ok());
    }
}
