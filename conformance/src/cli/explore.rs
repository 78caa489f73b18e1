//! `explore --races`: every interleaving of the book's racy cases on an in-tree shim.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use reference_impl::ExploreOptions;
use shims::registry::{self, Runs};

use crate::races::{explore_case, racy_cases};
use crate::replay::render_in_order;

use super::exit::print;
use super::{CliError, Exit};

/// The arguments of `explore`.
#[derive(clap::Args, Debug)]
pub(crate) struct ExploreArgs {
    /// Explore the interleavings of the book's racy cases (steps on several threads).
    #[arg(long, required = true)]
    pub(super) races: bool,
    /// The in-tree shim to explore (default: `reference-core`).
    #[arg(long)]
    pub(super) shim: Option<String>,
    /// Every schedule with at most this many preemptions is run.
    #[arg(long, default_value_t = 2)]
    pub(super) bound: usize,
    /// Random schedules beyond the bound, per case.
    #[arg(long, default_value_t = 200)]
    pub(super) samples: usize,
    /// The seed of the random schedules.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Write each violating schedule here, as a scenario file `replay` runs.
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// Explore only part K of N of the racy cases (as `run --partition`: N CI jobs given 1/N
    /// to N/N explore every case exactly once between them).
    #[arg(long, value_name = "K/N")]
    pub(super) partition: Option<judge::partition::Partition>,
}

/// `revoke-conformance explore --races`.
pub(super) fn explore(args: ExploreArgs) -> Result<Exit, CliError> {
    let name = args.shim.as_deref().unwrap_or(super::replay::REFERENCE);
    let r =
        registry::by_name(name).ok_or_else(|| CliError::Fatal(format!("unknown shim `{name}`")))?;
    let Runs::InProcess { shim, .. } = r.runs else {
        return Err(CliError::Fatal(format!(
            "`{name}` runs as a process; a shim process runs one call at a time, so only \
             in-process shims are explored (replay a found schedule on it instead)"
        )));
    };
    let roles = Rc::new(shim.roles());
    let opts = ExploreOptions {
        bound: args.bound,
        samples: args.samples,
        seed: args.seed,
    };
    let mut failed = 0;
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
        if let Err(why) = shim.applies_to(&steps) {
            print(&format!("not-applicable {label}: {why}\n"))?;
            continue;
        }
        let t = Instant::now();
        let ex = explore_case(roles.clone(), case, variant, opts);
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
                if let Some(dir) = &args.out {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        CliError::Fatal(format!("cannot create {}: {e}", dir.display()))
                    })?;
                    let path = dir.join(format!("{}.{name}.json", case.name));
                    std::fs::write(&path, v.file.to_json()).map_err(|e| {
                        CliError::Fatal(format!("cannot write {}: {e}", path.display()))
                    })?;
                    print(&format!(
                        "      written to {} (revoke-conformance replay {} --shim {name})\n",
                        path.display(),
                        path.display()
                    ))?;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    print(&format!(
        "{name}: {failed} racy case(s) failed; {total} schedules in {secs:.2} s ({:.0} schedules/s)\n",
        total as f64 / secs.max(1e-9)
    ))?;
    Ok(Exit::passed_if(failed == 0))
}
