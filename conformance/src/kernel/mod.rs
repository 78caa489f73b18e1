//! The bridge to real kernels: the book's scenarios run by the real dma-buf core.
//!
//! `revoke-conformance kernel` finds (or installs) a Linux source tree, adds the kernel runner
//! (`kernel/revoke_spec_kunit.c`: C exporters and importers playing the reference profiles,
//! a step interpreter, a trace emitter) and the scenarios as generated C tables, builds a
//! User-Mode Linux kernel with KUnit for each configuration, collects the traces the runner
//! prints, and judges them with the same checks as every other backend. Rules carry the first
//! kernel version they hold for (`since=` in the book): a case that checks a rule the kernel
//! predates is not applicable to it, with the reason; a rule the book says holds on the kernel
//! and the kernel breaks is a *finding*.

pub mod ctable;
pub mod parse;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use reference_impl::{ExporterKind, ImporterKind, Role, Step, Trace};

use crate::cli::RunFormat;
use crate::results::{
    CaseResult, FORMAT_VERSION, RunResults, ShimInfo, ShimResults, Status, Summary, Verdict,
};
use crate::runner::{Backend, Ran, RunOptions, run_backend, selected};
use crate::{CaseDef, RuleDef};

/// The kernel runner, built into this binary so the command works from any directory.
const RUNNER_C: &str = include_str!("../../../kernel/revoke_spec_kunit.c");
/// The interposition header compiled into `dma-buf.c` only.
const HOOKS_H: &str = include_str!("../../../kernel/revoke_spec_hooks.h");
/// Marks the lines the bridge adds to a tree's `Kconfig` and `Makefile`.
const MARKER: &str = "# revoke-spec kernel bridge (added by revoke-conformance kernel)";

/// A Linux version, `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion(pub u32, pub u32);

impl KernelVersion {
    /// Reads `7.1`.
    pub fn parse(s: &str) -> Option<KernelVersion> {
        let (a, b) = s.split_once('.')?;
        Some(KernelVersion(a.parse().ok()?, b.parse().ok()?))
    }

    /// Reads `VERSION` and `PATCHLEVEL` from a tree's top-level `Makefile`.
    pub fn of_makefile(text: &str) -> Option<KernelVersion> {
        let field = |name: &str| -> Option<u32> {
            text.lines().find_map(|l| {
                l.strip_prefix(name)?
                    .trim()
                    .strip_prefix('=')?
                    .trim()
                    .parse()
                    .ok()
            })
        };
        Some(KernelVersion(field("VERSION")?, field("PATCHLEVEL")?))
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// A kernel as the rules see it: its version and the options it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `MAJOR.MINOR`.
    pub version: KernelVersion,
    /// The options set (`CONFIG_DMABUF_MOVE_NOTIFY`) among those rules mention.
    pub enabled: Vec<String>,
}

impl Target {
    /// Whether `rule` holds on this kernel by its version marks: `Err` gives the reason.
    pub fn rule_holds(&self, rule: &RuleDef) -> Result<(), String> {
        let Some(since) = rule.since.and_then(KernelVersion::parse) else {
            return Ok(());
        };
        if self.version >= since {
            return Ok(());
        }
        match rule.earlier_with {
            Some(cfg) if self.enabled.iter().any(|e| e == cfg) => Ok(()),
            Some(cfg) => Err(format!(
                "`{}` holds since Linux {since} (earlier only with {cfg}=y); this is Linux {} without it",
                rule.id, self.version
            )),
            None => Err(format!(
                "`{}` holds since Linux {since}; this is Linux {}",
                rule.id, self.version
            )),
        }
    }

    /// Whether a case variant can be judged on this kernel: at least one rule it checks, and
    /// every rule its profiles rely on, must hold here. (The checks of the rules that do not
    /// hold are then left out: see [`drop_unheld_checks`].)
    pub fn case_applies(&self, case: &CaseDef, steps: &[Step]) -> Result<(), String> {
        let mut unheld = Vec::new();
        for id in case.rules {
            if let Some(rule) = crate::rule(id)
                && let Err(e) = self.rule_holds(rule)
            {
                unheld.push(e);
            }
        }
        if !unheld.is_empty() && unheld.len() == case.rules.len() {
            return Err(unheld.join("; "));
        }
        for (id, why) in relied_on(steps) {
            if let Some(rule) = crate::rule(id)
                && let Err(e) = self.rule_holds(rule)
            {
                return Err(format!("{why}, which relies on {e}"));
            }
        }
        Ok(())
    }
}

/// Rules a scenario relies on without checking them, because of the profiles it uses.
pub fn relied_on(steps: &[Step]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let rdma = steps.iter().any(|s| {
        matches!(
            s,
            Step::Attach {
                importer: ImporterKind::Rdma,
                ..
            } | Step::AttachDuringEviction {
                importer: ImporterKind::Rdma,
                ..
            }
        )
    });
    // Before Linux 7.0 the core maps and caches an attachment whose dynamic-ness differs from
    // the exporter's (dma_buf_is_dynamic(): the exporter has `pin`) at attach time.
    let exporters: BTreeMap<u32, ExporterKind> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Export { buf, exporter } => Some((buf.0, *exporter)),
            _ => None,
        })
        .collect();
    let mismatch = steps.iter().find_map(|s| match s {
        Step::Attach { buf, importer, .. } | Step::AttachDuringEviction { buf, importer, .. } => {
            let dynamic_exporter = exporters.get(&buf.0) == Some(&ExporterKind::Gpu);
            let dynamic_importer = *importer != ImporterKind::Static;
            (dynamic_exporter != dynamic_importer).then(|| {
                format!(
                    "the case attaches the {} importer profile to the {} exporter profile ({} `pin`)",
                    importer.name(),
                    exporters.get(&buf.0).map_or("?", |e| e.name()),
                    if dynamic_exporter { "with" } else { "without" }
                )
            })
        }
        _ => None,
    });
    if let Some(why) = mismatch {
        out.push(("map.core.no-cache", why));
    }
    // Before Linux 7.1, without CONFIG_DMABUF_MOVE_NOTIFY, the core pins every mapping of an
    // exporter that has `pin`, dynamic attachments included.
    let pinned_dynamic = steps.iter().find_map(|s| match s {
        Step::Attach { buf, importer, .. } | Step::AttachDuringEviction { buf, importer, .. }
            if *importer != ImporterKind::Static
                && exporters.get(&buf.0) == Some(&ExporterKind::Gpu) =>
        {
            Some(format!(
                "the case maps a dynamic attachment ({} importer profile) of an exporter with `pin`",
                importer.name()
            ))
        }
        _ => None,
    });
    if let Some(why) = pinned_dynamic {
        out.push(("map.dynamic.no-pin-no-wait", why));
    }
    if rdma {
        out.push((
            "attach.core.null-callback",
            "the case uses the rdma importer profile (a NULL invalidate_mappings)".to_string(),
        ));
    }
    out
}

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
    /// Use this kernel source tree in place (a developer's own tree): the runner is added to
    /// its drivers/dma-buf. Without it, the Debian source package is extracted under --work-dir.
    #[arg(long)]
    pub tree: Option<PathBuf>,
    /// The source tarball to extract (default: /usr/src/linux-source-6.12.tar.xz, installed
    /// with `apt-get install linux-source-6.12` if missing).
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
    /// Where rule links point.
    #[arg(long, default_value = "book/build/")]
    pub book_url: String,
    /// Write the results summary (the book's table is rendered from it) to this file.
    #[arg(long)]
    pub write_summary: Option<PathBuf>,
    /// Fail if the results differ from this committed summary.
    #[arg(long)]
    pub check_summary: Option<PathBuf>,
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
            },
            target,
            traces: traces
                .iter()
                .filter(|t| t.mutant == mutant)
                .map(|t| (t.name.clone(), t.trace.clone()))
                .collect(),
        }
    }
}

impl Backend for KernelBackend {
    fn info(&self) -> ShimInfo {
        self.info.clone()
    }
    fn applies_to(&self, case: &CaseDef, _variant: &str, steps: &[Step]) -> Result<(), String> {
        self.target.case_applies(case, steps)
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

/// Leaves out of each case's verdict the checks of rules that do not hold on the kernel, and
/// recomputes the statuses and counts.
pub fn drop_unheld_checks(results: &mut ShimResults, target: &Target) {
    for c in &mut results.cases {
        if c.status == Status::NotApplicable {
            continue;
        }
        c.failures
            .retain(|f| crate::rule(&f.rule).is_none_or(|r| target.rule_holds(r).is_ok()));
        c.status = if c.error.is_some() || c.failures.iter().any(|f| f.strength == "MUST") {
            Status::Fail
        } else if c.failures.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        };
    }
    results.summary = Summary::of(&results.cases);
}

/// Sets the per-rule reasons of a kernel's results: rules the kernel predates are not
/// applicable, with the reason; a violated rule that holds on the kernel is a finding.
pub fn explain_rules(results: &mut ShimResults, target: &Target) {
    for r in &mut results.rules {
        let Some(rule) = crate::rule(&r.rule) else {
            continue;
        };
        match target.rule_holds(rule) {
            Err(reason) => {
                r.verdict = Verdict::NotApplicable;
                r.reason = Some(reason);
            }
            Ok(()) if r.verdict == Verdict::Violated => {
                r.reason = Some(format!(
                    "finding: the book says this holds on Linux {} and the kernel breaks it",
                    target.version
                ));
            }
            Ok(()) => {}
        }
    }
}

/// A mutant C driver and the rule the suite must catch it on.
pub struct MutantSpec {
    /// The suite's mutant name.
    pub name: &'static str,
    /// What it gets wrong.
    pub bug: &'static str,
    /// The rule a case must fail on.
    pub rule: &'static str,
}

/// The mutants built into the kernel runner.
pub const MUTANTS: &[MutantSpec] = &[MutantSpec {
    name: "dynamic-keeps-dma",
    bug: "the dynamic importer's move_notify keeps its mapping, and its device keeps using it",
    rule: "invalidate.importer.repeated",
}];

/// The compact results of a bridge run: what the book's table is rendered from, and what CI
/// compares a fresh run against.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary2 {
    /// The kernel (`6.12`).
    pub kernel: String,
    /// Per configuration.
    pub configs: Vec<ConfigSummary>,
    /// Per configuration and mutant.
    pub mutants: Vec<MutantSummary>,
}

/// One configuration's results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSummary {
    /// `linux-6.12 (move-notify on)`.
    pub name: String,
    /// Case variants the kernel ran (a trace came back).
    pub ran: usize,
    /// Case variants judged (applicable to this kernel).
    pub judged: usize,
    /// Per case variant: `pass`, `FAIL`, `n/a`..., with the reason or the failed rules.
    pub cases: Vec<CaseLine>,
    /// Per rule.
    pub rules: Vec<RuleLine>,
}

/// One case variant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseLine {
    /// `name[variant]`.
    pub case: String,
    /// Its status word.
    pub status: String,
    /// Why it is not applicable, the rules it failed, or why it could not run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleLine {
    /// The rule.
    pub rule: String,
    /// `conformant`, `VIOLATED`, `warning` or `n/a`.
    pub verdict: String,
    /// Why it is not applicable, or that it is a finding.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Whether a mutant was caught.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MutantSummary {
    /// The configuration.
    pub config: String,
    /// The mutant.
    pub mutant: String,
    /// The rule it must be caught on.
    pub rule: String,
    /// The case variants that failed on that rule.
    pub caught_by: Vec<String>,
}

fn case_line(c: &CaseResult) -> CaseLine {
    let detail = match c.status {
        Status::NotApplicable => c.reason.clone().unwrap_or_default(),
        _ if c.error.is_some() => c.error.clone().unwrap_or_default(),
        _ => {
            let mut rules: Vec<&str> = c.failures.iter().map(|f| f.rule.as_str()).collect();
            rules.dedup();
            rules.join(", ")
        }
    };
    CaseLine {
        case: c.name.clone(),
        status: c.status.word().to_string(),
        detail,
    }
}

fn summarize(shim: &ShimResults, ran: usize) -> ConfigSummary {
    ConfigSummary {
        name: shim.shim.name.clone(),
        ran,
        judged: shim
            .cases
            .iter()
            .filter(|c| c.status != Status::NotApplicable)
            .count(),
        cases: shim.cases.iter().map(case_line).collect(),
        rules: shim
            .rules
            .iter()
            .map(|r| RuleLine {
                rule: r.rule.clone(),
                verdict: r.verdict.word().to_string(),
                reason: r.reason.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn run_cmd(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {what}: {e}"))
        .and_then(|o| {
            if o.status.success() {
                Ok(o)
            } else {
                Err(format!(
                    "{what} failed ({}):\n{}{}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ))
            }
        })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Finds the tarball, installing the Debian package if needed.
fn tarball(args: &KernelArgs) -> Result<PathBuf, String> {
    if let Some(t) = &args.tarball {
        return Ok(t.clone());
    }
    let default = PathBuf::from("/usr/src/linux-source-6.12.tar.xz");
    if default.exists() {
        return Ok(default);
    }
    eprintln!("kernel: installing linux-source-6.12 with apt-get");
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    cmd.args(["install", "-y", "linux-source-6.12"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_cmd(&mut cmd, "apt-get install linux-source-6.12")?;
    if default.exists() {
        Ok(default)
    } else {
        Err(format!(
            "{} is still missing after apt-get",
            default.display()
        ))
    }
}

/// The tree to build in: the one given, or the tarball extracted under the work folder
/// (reused when already extracted).
fn tree(args: &KernelArgs, work: &Path) -> Result<PathBuf, String> {
    if let Some(t) = &args.tree {
        return std::fs::canonicalize(t).map_err(|e| format!("{}: {e}", t.display()));
    }
    let tarball = tarball(args)?;
    let name = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split(".tar").next())
        .ok_or_else(|| format!("{} is not a tarball", tarball.display()))?
        .to_string();
    let dir = work.join(&name);
    if !dir.join("Makefile").exists() {
        eprintln!(
            "kernel: extracting {} into {}",
            tarball.display(),
            work.display()
        );
        run_cmd(
            Command::new("tar")
                .arg("-xf")
                .arg(&tarball)
                .arg("-C")
                .arg(work),
            "tar",
        )?;
    }
    if !dir.join("Makefile").exists() {
        return Err(format!("{} has no {name}/Makefile", tarball.display()));
    }
    Ok(dir)
}

/// Writes `text` to `path` unless it already holds it (so make rebuilds nothing needlessly).
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn append_once(path: &Path, block: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if old.contains(MARKER) {
        return Ok(());
    }
    write_if_changed(path, &format!("{}\n{MARKER}\n{block}", old.trim_end()))
}

/// The scenarios of the selected case variants.
pub fn scenarios(filter: Option<&str>) -> Vec<(String, Vec<Step>)> {
    selected(filter)
        .into_iter()
        .map(|(c, v)| {
            let steps = crate::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            (c.variant_name(v), steps)
        })
        .collect()
}

/// Adds the runner and the generated scenarios to a tree.
pub fn install(tree: &Path, features: ctable::Features) -> Result<(), String> {
    let dir = tree.join("drivers/dma-buf");
    write_if_changed(&dir.join("revoke_spec_kunit.c"), RUNNER_C)?;
    write_if_changed(&dir.join("revoke_spec_hooks.h"), HOOKS_H)?;
    write_if_changed(
        &dir.join("revoke_spec_scenarios.h"),
        &ctable::header(&scenarios(None), features),
    )?;
    append_once(
        &dir.join("Kconfig"),
        "config REVOKE_SPEC_KUNIT\n\tbool \"KUnit scenarios of the dma-buf revoke specification\" if !KUNIT_ALL_TESTS\n\tdepends on KUNIT=y\n\tselect DMA_SHARED_BUFFER\n\tdefault KUNIT_ALL_TESTS\n",
    )?;
    append_once(
        &dir.join("Makefile"),
        "obj-$(CONFIG_REVOKE_SPEC_KUNIT) += revoke_spec_kunit.o\nifdef CONFIG_REVOKE_SPEC_KUNIT\nCFLAGS_dma-buf.o += -include $(srctree)/drivers/dma-buf/revoke_spec_hooks.h\nendif\n",
    )
}

fn config_name(version: KernelVersion, mn: Option<MoveNotify>) -> String {
    match mn {
        Some(MoveNotify::On) => format!("linux-{version} (move-notify on)"),
        Some(MoveNotify::Off) => format!("linux-{version} (move-notify off)"),
        None => format!("linux-{version}"),
    }
}

/// Builds and runs one configuration; returns kunit.py's output.
fn build_and_run(
    tree: &Path,
    work: &Path,
    mn: Option<MoveNotify>,
    jobs: u32,
) -> Result<String, String> {
    let tag = match mn {
        Some(MoveNotify::On) => "on",
        Some(MoveNotify::Off) => "off",
        None => "default",
    };
    let kunitconfig = work.join(format!("revoke-{tag}.kunitconfig"));
    let mut cfg = String::from("CONFIG_KUNIT=y\nCONFIG_REVOKE_SPEC_KUNIT=y\n");
    match mn {
        Some(MoveNotify::On) => cfg.push_str("CONFIG_DMABUF_MOVE_NOTIFY=y\n"),
        Some(MoveNotify::Off) => cfg.push_str("# CONFIG_DMABUF_MOVE_NOTIFY is not set\n"),
        None => {}
    }
    write_if_changed(&kunitconfig, &cfg)?;
    let build = work.join("build");
    // kunit.py configures and builds; the kernel then runs with its console going to a file:
    // UML's console drops lines when a pipe reader falls behind, and no line may be lost.
    run_cmd(
        Command::new("python3")
            .current_dir(tree)
            .arg("tools/testing/kunit/kunit.py")
            .arg("build")
            .arg("--kunitconfig")
            .arg(&kunitconfig)
            .arg(format!("--jobs={jobs}"))
            .arg("--build_dir")
            .arg(&build),
        "kunit.py build",
    )?;
    let log = work.join(format!("kunit-{tag}.log"));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let status = Command::new(build.join("linux"))
        .current_dir(&build)
        .args([
            "kunit.enable=1",
            "mem=1G",
            "console=tty",
            "kunit_shutdown=halt",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run the UML kernel: {e}"))?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    if !text.contains("revoke-trace: begin") {
        return Err(format!(
            "the kernel ran no scenario ({status}); see {}",
            log.display()
        ));
    }
    Ok(text)
}

/// Runs the bridge; returns the exit status.
pub fn main(args: KernelArgs) -> Result<i32, String> {
    let start = Instant::now();
    let work = if args.work_dir.is_absolute() {
        args.work_dir.clone()
    } else {
        std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(&args.work_dir)
    };
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut logs: Vec<(Option<MoveNotify>, String)> = Vec::new();
    let version;
    if args.log.is_empty() {
        let tree = tree(&args, &work)?;
        let makefile = std::fs::read_to_string(tree.join("Makefile")).map_err(|e| e.to_string())?;
        version = KernelVersion::of_makefile(&makefile)
            .ok_or("cannot read the kernel version from the tree's Makefile")?;
        let header = std::fs::read_to_string(tree.join("include/linux/dma-buf.h"))
            .map_err(|e| format!("not a kernel tree: {e}"))?;
        let has_option = std::fs::read_to_string(tree.join("drivers/dma-buf/Kconfig"))
            .unwrap_or_default()
            .contains("config DMABUF_MOVE_NOTIFY");
        install(&tree, ctable::Features::detect(&header))?;
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
            let log = build_and_run(&tree, &work, mn, args.jobs)?;
            eprintln!(
                "kernel: {} took {:.0?}",
                config_name(version, mn),
                t.elapsed()
            );
            logs.push((mn, log));
        }
    } else {
        version = KernelVersion(6, 12);
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
    let opts = RunOptions {
        filter: args.filter.as_deref(),
        expectations: None,
        today: time::OffsetDateTime::now_utc().date(),
    };
    let mut shims = Vec::new();
    let mut configs = Vec::new();
    let mut mutants = Vec::new();
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
        let ran = backend.traces.values().filter(|t| t.is_ok()).count();
        let mut results = run_backend(&mut backend, &opts, &mut |_, _| {});
        drop_unheld_checks(&mut results, &target);
        explain_rules(&mut results, &target);
        configs.push(summarize(&results, ran));
        shims.push(results);
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
            let judged = results.cases.iter().any(|c| {
                c.status != Status::NotApplicable
                    && crate::case(&c.case)
                        .and_then(|d| crate::outcome::scenario_of(d, &c.variant))
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
    let mut summary = Summary::default();
    for s in &shims {
        summary.add(&s.summary);
    }
    let results = RunResults {
        version: FORMAT_VERSION,
        suite: env!("CARGO_PKG_VERSION").to_string(),
        shims,
        summary,
        partial: false,
    };
    let summary2 = Summary2 {
        kernel: version.to_string(),
        configs,
        mutants,
    };
    let mut text = match args.format {
        RunFormat::Human => crate::formats::human(&results, &args.book_url),
        RunFormat::Json => serde_json::to_string_pretty(&results).unwrap_or_default() + "\n",
        RunFormat::Junit => crate::formats::junit(&results, &args.book_url),
        RunFormat::Ktap => crate::formats::ktap(&results),
    };
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
    }
    let mut status = if results.failed() { 1 } else { 0 };
    for m in &summary2.mutants {
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
    }
    Ok(status)
}

/// The book's per-rule table, rendered from a summary (written next to it as `.md`).
pub fn table_md(s: &Summary2) -> String {
    let mut out = String::new();
    let _ = write!(out, "| rule |");
    for c in &s.configs {
        let _ = write!(out, " {} |", c.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in &s.configs {
        let _ = write!(out, "---|");
    }
    out.push('\n');
    let Some(first) = s.configs.first() else {
        return out;
    };
    for (i, r) in first.rules.iter().enumerate() {
        let _ = write!(out, "| `{}` |", r.rule);
        for c in &s.configs {
            let v = &c.rules[i];
            let _ = write!(out, " {} |", v.verdict);
        }
        out.push('\n');
    }
    for c in &s.configs {
        let _ = writeln!(
            out,
            "\n{}: {} case variants ran on the kernel, {} were judged.",
            c.name, c.ran, c.judged
        );
    }
    out
}

fn human_notes(s: &Summary2) -> String {
    let mut out = String::new();
    for c in &s.configs {
        let _ = writeln!(
            out,
            "{}: {} case variants ran on the kernel, {} judged",
            c.name, c.ran, c.judged
        );
        for r in c.rules.iter().filter(|r| !r.reason.is_empty()) {
            let _ = writeln!(out, "    {} {}: {}", r.rule, r.verdict, r.reason);
        }
    }
    for m in &s.mutants {
        let _ = writeln!(
            out,
            "mutant {} on {}: {}",
            m.mutant,
            m.config,
            if m.caught_by.is_empty() {
                format!("NOT caught on {}", m.rule)
            } else {
                format!("caught on {} by {}", m.rule, m.caught_by.join(", "))
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(v: (u32, u32), enabled: &[&str]) -> Target {
        Target {
            version: KernelVersion(v.0, v.1),
            enabled: enabled.iter().map(|s| s.to_string()).collect(),
        }
    }

    const RULE: RuleDef = RuleDef {
        id: "demo.core.rule",
        strength: crate::Strength::Must,
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
        for (c, v) in selected(None) {
            let steps = crate::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            assert!(
                new.case_applies(c, &steps).is_ok(),
                "{} applies to 7.1",
                c.variant_name(v)
            );
            if let Err(reason) = old.case_applies(c, &steps) {
                assert!(reason.contains("since Linux"), "{reason}");
                na += 1;
            }
            // A case using the rdma profile relies on NULL callbacks, accepted since 7.1.
            if !relied_on(&steps).is_empty() {
                assert!(
                    old.case_applies(c, &steps).is_err(),
                    "{}",
                    c.variant_name(v)
                );
            }
        }
        assert!(na > 0, "some cases rely on 7.1 behaviour");
    }
}
