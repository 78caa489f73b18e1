//! `explore`: generated scenarios on any shim (`--scenarios N`), or every interleaving of the
//! book's racy cases on an in-tree shim (`--races`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use judge::generate::{Profiles, generate};
use reference_impl::ExploreOptions;
use shims::registry::{self, Runs};

use crate::races::{explore_case, explore_case_with, racy_cases};
use crate::remote::RemoteBackend;
use crate::replay::render_in_order;
use crate::runner::Backend;

use super::exit::print;
use super::{CliError, Exit};

/// The arguments of `explore`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["races", "scenarios"])))]
pub(crate) struct ExploreArgs {
    /// Explore the interleavings of the book's racy cases (steps on several threads).
    #[arg(long)]
    pub(super) races: bool,
    /// Run this many generated scenarios (a state machine over the step language, every
    /// combination of the profiles the shim plays), shrinking the first failure.
    #[arg(long, value_name = "N")]
    pub(super) scenarios: Option<u32>,
    /// The in-tree shim to explore (default: `reference-core`).
    #[arg(long, conflicts_with = "shim_cmd")]
    pub(super) shim: Option<String>,
    /// A shim in another process. With `--races` it must speak protocol version 2
    /// (concurrent calls); a shim of version 1 is told which racy cases it cannot run.
    #[arg(long = "shim-cmd", value_name = "COMMAND")]
    pub(super) shim_cmd: Option<String>,
    /// Seconds one scenario may take against a shim process.
    #[arg(long, default_value_t = crate::remote::DEFAULT_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
    pub(super) timeout: f64,
    /// Every schedule with at most this many preemptions is run.
    #[arg(long, default_value_t = 2)]
    pub(super) bound: usize,
    /// Random schedules beyond the bound, per case.
    #[arg(long, default_value_t = 200)]
    pub(super) samples: usize,
    /// The seed of the generated scenarios and of the random schedules.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Write each violating scenario here, as a scenario file `replay` runs.
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// Explore only part K of N of the racy cases (as `run --partition`: N CI jobs given 1/N
    /// to N/N explore every case exactly once between them).
    #[arg(long, value_name = "K/N")]
    pub(super) partition: Option<judge::partition::Partition>,
}

/// `revoke-conformance explore`.
pub(super) fn explore(args: ExploreArgs) -> Result<Exit, CliError> {
    match args.scenarios {
        Some(n) => generated(&args, n),
        None => races(&args),
    }
}

/// Writes a failing scenario under `--out` and says how to replay it.
fn write_found(
    out: Option<&PathBuf>,
    stem: &str,
    file: &reference_impl::ScenarioFile,
    how: &str,
) -> Result<(), CliError> {
    let Some(dir) = out else {
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Fatal(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{stem}.json"));
    std::fs::write(&path, file.to_json())
        .map_err(|e| CliError::Fatal(format!("cannot write {}: {e}", path.display())))?;
    print(&format!(
        "      written to {} (revoke-conformance replay {} {how})\n",
        path.display(),
        path.display()
    ))
}

/// `explore --scenarios N`: generated scenarios on one backend.
fn generated(args: &ExploreArgs, count: u32) -> Result<Exit, CliError> {
    let mut backend =
        super::replay::backend(args.shim.as_deref(), args.shim_cmd.as_deref(), args.timeout)?;
    let info = backend.info();
    let plays: Vec<&str> = info.plays.iter().map(String::as_str).collect();
    let profiles = Profiles::for_role(info.role, &plays);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(u64::from(count));
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} scenarios {per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let mut index = 0u64;
    let g = generate(
        &profiles,
        count,
        args.seed,
        &mut |steps| {
            index += 1;
            if backend.scenario_applies(steps).is_err() {
                return Ok(None);
            }
            let file = reference_impl::ScenarioFile::sequential(steps);
            backend
                .run_file(&format!("generated-{}-{index}", args.seed), &file)
                .trace
                .map(Some)
        },
        &|n| {
            if n <= u64::from(count) {
                bar.set_position(n);
            } else {
                bar.set_message("shrinking");
            }
        },
    );
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    print(&format!(
        "{}: {} generated scenarios (seed {}; {} did not apply) in {secs:.2} s ({:.0} per minute)\n",
        info.name,
        g.run,
        args.seed,
        g.not_applicable,
        g.run as f64 * 60.0 / secs.max(1e-9)
    ))?;
    let Some(f) = g.failing else {
        print("no violation\n")?;
        return Ok(Exit::Pass);
    };
    print(&format!("FAIL  {}\n      minimal scenario:\n", f.message))?;
    for (i, s) in f.file.steps.iter().enumerate() {
        print(&format!("        {i}: {}\n", s.step))?;
    }
    let how = match (&args.shim, &args.shim_cmd) {
        (_, Some(cmd)) => format!("--shim-cmd '{cmd}'"),
        (Some(n), None) => format!("--shim {n}"),
        (None, None) => String::new(),
    };
    let stem = format!("generated-{}-seed{}", info.name, args.seed);
    write_found(args.out.as_ref(), &stem, &f.file, &how)?;
    Ok(Exit::Fail)
}

/// Where `explore --races` runs the schedules: an in-tree shim in process, or a shim process.
enum Target {
    InProcess {
        shim: reference_impl::Shim,
        roles: Rc<reference_impl::Roles>,
    },
    Process(Box<RemoteBackend>),
}

impl Target {
    fn applies_to(&self, steps: &[reference_impl::Step]) -> Result<(), String> {
        match self {
            Target::InProcess { shim, .. } => shim.applies_to(steps),
            Target::Process(b) => b.scenario_applies(steps),
        }
    }

    fn explore(
        &self,
        case: &'static judge::CaseDef,
        variant: &'static str,
        opts: ExploreOptions,
    ) -> reference_impl::Exploration {
        match self {
            Target::InProcess { roles, .. } => explore_case(roles.clone(), case, variant, opts),
            Target::Process(b) => {
                let label = case.variant_name(variant);
                explore_case_with(&mut |f| b.run_schedule(&label, f), case, variant, opts)
            }
        }
    }
}

/// `explore --races`: the racy cases' interleavings on an in-tree shim, or on a shim process
/// that speaks concurrent calls (protocol version 2).
fn races(args: &ExploreArgs) -> Result<Exit, CliError> {
    let (name, how, target) = match &args.shim_cmd {
        Some(cmd) => {
            let timeout = std::time::Duration::from_secs_f64(args.timeout.max(0.001));
            let b = RemoteBackend::start(cmd, timeout, None)?;
            (
                b.identity().name.clone(),
                format!("--shim-cmd '{cmd}'"),
                Target::Process(Box::new(b)),
            )
        }
        None => {
            let name = args.shim.as_deref().unwrap_or(super::replay::REFERENCE);
            let r = registry::by_name(name)
                .ok_or_else(|| CliError::Fatal(format!("unknown shim `{name}`")))?;
            match r.runs {
                Runs::InProcess { shim, .. } => {
                    let roles = Rc::new(shim.roles());
                    (
                        name.to_string(),
                        format!("--shim {name}"),
                        Target::InProcess { shim, roles },
                    )
                }
                // An in-tree shim process (the C shims): over the wire, as --shim-cmd.
                Runs::Process { command } => {
                    let timeout = std::time::Duration::from_secs_f64(args.timeout.max(0.001));
                    let argv = vec![command().display().to_string()];
                    let b = RemoteBackend::start_argv(name, argv, timeout, None)?;
                    (
                        name.to_string(),
                        format!("--shim {name}"),
                        Target::Process(Box::new(b)),
                    )
                }
            }
        }
    };
    // A shim of protocol version 1 cannot run a step of another thread while a call waits:
    // said once, then each racy case is not applicable.
    let sequential = match &target {
        Target::Process(b) if !b.concurrent() => {
            let why = crate::remote::sequential_only(b.identity().version);
            print(&format!("{name}: {why}\n"))?;
            Some(format!(
                "needs concurrent calls (protocol version {})",
                shim_protocol::CONCURRENT
            ))
        }
        _ => None,
    };
    let opts = ExploreOptions {
        bound: args.bound,
        samples: args.samples,
        seed: args.seed,
    };
    let mut failed = 0;
    let mut explored_cases = 0;
    let (mut total, start) = (0, Instant::now());
    let part = args.partition.unwrap_or_default();
    for (case, variant) in racy_cases(&crate::spec()) {
        let label = case.variant_name(variant);
        if !part.takes(&label) {
            continue;
        }
        let steps = crate::outcome::scenario_of(case, variant)
            .map(|s| s.steps)
            .unwrap_or_default();
        if let Err(why) = target.applies_to(&steps) {
            print(&format!("not-applicable {label}: {why}\n"))?;
            continue;
        }
        if let Some(why) = &sequential {
            print(&format!("not-applicable {label}: {why}\n"))?;
            continue;
        }
        let t = Instant::now();
        let ex = target.explore(case, variant, opts);
        explored_cases += 1;
        total += ex.explored;
        let counts = format!(
            "{} schedules ({} distinct traces, {} not runnable) in {:.0?}",
            ex.explored,
            ex.distinct,
            ex.blocked,
            t.elapsed()
        );
        match ex.violation {
            None => print(&format!("pass  {label}: {counts}\n"))?,
            Some(v) => {
                failed += 1;
                print(&format!("fail  {label}: {counts}\n      {}\n", v.message))?;
                print("      minimal schedule:\n")?;
                for p in &v.file.schedule {
                    print(&format!("        {p}\n"))?;
                }
                print(&render_in_order(&v.trace, &v.file))?;
                let stem = format!("{}.{name}", case.name);
                write_found(args.out.as_ref(), &stem, &v.file, &how)?;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if explored_cases == 0 {
        // Nothing was tried: say so, so that a pass is not read as "no race found".
        print(&format!(
            "{name}: no racy case applies to this shim, so no interleaving was explored \
             (the book's racy cases and the profiles each needs: `revoke-conformance list`); \
             its verdicts come from `run` and `explore --scenarios` alone\n"
        ))?;
        return Ok(Exit::passed_if(true));
    }
    print(&format!(
        "{name}: {failed} of {explored_cases} racy case(s) failed; {total} schedules in {secs:.2} s ({:.0} schedules/s)\n",
        total as f64 / secs.max(1e-9)
    ))?;
    Ok(Exit::passed_if(failed == 0))
}
