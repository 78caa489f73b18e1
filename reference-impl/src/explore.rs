//! The interleaving explorer: every schedule of a scenario's threads up to a number of
//! preemptions, fewest first, then random schedules beyond that bound.
//!
//! A schedule is a list of preemptions ([`Preemption`]): at a scheduling point of a running
//! step, another thread's next step runs to completion. Only points that concern the buffer
//! the other thread's step touches are offered (a step on another buffer commutes with
//! everything there), so only conflicting operations are reordered. Schedules are built in
//! the order their points are reached, each extension after the last preemption, so no
//! schedule is run twice. The first violation found at the lowest bound is a minimal
//! schedule: no schedule with fewer preemptions violates.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::{Preemption, Roles, ScenarioFile, ScheduledRun, Trace, run_scheduled};

/// How far to explore.
#[derive(Debug, Clone, Copy)]
pub struct ExploreOptions {
    /// Every schedule with at most this many preemptions is run.
    pub bound: usize,
    /// Random schedules beyond the bound, each with up to `bound + 2` preemptions.
    pub samples: usize,
    /// The seed of the random schedules.
    pub seed: u64,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions {
            bound: 2,
            samples: 200,
            seed: 0,
        }
    }
}

/// A schedule that violates, with what the judge said and the trace.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The scenario with its schedule: replay it with `revoke-conformance replay`.
    pub file: ScenarioFile,
    /// What the judge found.
    pub message: String,
    /// The trace.
    pub trace: Trace,
}

/// What an exploration did.
#[derive(Debug, Clone, Default)]
pub struct Exploration {
    /// Schedules run (including those that could not run).
    pub explored: usize,
    /// Distinct traces among them.
    pub distinct: usize,
    /// Schedules the model cannot run (a step preempting the holder of its lock).
    pub blocked: usize,
    /// Whether every schedule up to the bound was run (no violation stopped it early).
    pub exhaustive: bool,
    /// The first violation, with the fewest preemptions.
    pub violation: Option<Violation>,
}

/// A small deterministic generator (SplitMix64) for the sampled schedules.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn trace_hash(t: &Trace) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}", t.events).hash(&mut h);
    t.hung_at.hash(&mut h);
    h.finish()
}

/// One scheduled run, judged: its possible extensions, or the violation.
struct Step {
    extensions: Vec<Preemption>,
    violation: Option<Violation>,
}

/// Runs one schedule of the scenario: in process ([`run_scheduled`] on roles), or on a shim
/// process that begins a fresh case first.
pub type RunSchedule<'r> = dyn FnMut(&ScenarioFile) -> ScheduledRun + 'r;

struct Explorer<'j, 'r> {
    run: &'r mut RunSchedule<'r>,
    base: ScenarioFile,
    judge: &'j dyn Fn(&Trace) -> Option<String>,
    seen: HashSet<u64>,
    done: Exploration,
}

impl Explorer<'_, '_> {
    fn run(&mut self, schedule: &[Preemption]) -> Step {
        let file = ScenarioFile {
            schedule: schedule.to_vec(),
            ..self.base.clone()
        };
        let run = (self.run)(&file);
        self.done.explored += 1;
        let none = Step {
            extensions: Vec::new(),
            violation: None,
        };
        if run.blocked.is_some() || !run.unused.is_empty() {
            self.done.blocked += 1;
            return none;
        }
        let Ok(trace) = run.trace else {
            return none;
        };
        if self.seen.insert(trace_hash(&trace)) {
            self.done.distinct += 1;
        }
        // Extensions: points reached after the last preemption's point.
        let after = match schedule.last() {
            None => 0,
            Some(last) => run
                .offered
                .iter()
                .position(|o| o.step == last.step && o.point == last.point && o.nth == last.nth)
                .map_or(usize::MAX, |i| i + 1),
        };
        let extensions = run
            .offered
            .iter()
            .skip(after)
            .flat_map(|o| o.threads.iter().map(|t| o.preemption(t)))
            .collect();
        let violation = (self.judge)(&trace).map(|message| Violation {
            file,
            message,
            trace,
        });
        Step {
            extensions,
            violation,
        }
    }
}

/// Explores `base` (its threads; its own schedule is ignored) with `roles`, judging every
/// trace with `judge` (`Some` says what is violated).
pub fn explore(
    roles: Rc<Roles>,
    base: &ScenarioFile,
    opts: ExploreOptions,
    judge: &dyn Fn(&Trace) -> Option<String>,
) -> Exploration {
    explore_with(&mut |f| run_scheduled(roles.clone(), f), base, opts, judge)
}

/// Explores `base` as [`explore`] does, running each schedule with `run` (a shim process's
/// backend runs it over the wire, in a fresh case).
pub fn explore_with<'r>(
    run: &'r mut RunSchedule<'r>,
    base: &ScenarioFile,
    opts: ExploreOptions,
    judge: &dyn Fn(&Trace) -> Option<String>,
) -> Exploration {
    let mut ex = Explorer {
        run,
        base: ScenarioFile {
            schedule: Vec::new(),
            ..base.clone()
        },
        judge,
        seen: HashSet::new(),
        done: Exploration::default(),
    };
    let mut level: Vec<Vec<Preemption>> = vec![Vec::new()];
    for depth in 0..=opts.bound {
        let mut next = Vec::new();
        for schedule in &level {
            let step = ex.run(schedule);
            if let Some(v) = step.violation {
                ex.done.violation = Some(v);
                return ex.done;
            }
            if depth < opts.bound {
                for p in step.extensions {
                    let mut s = schedule.clone();
                    s.push(p);
                    next.push(s);
                }
            }
        }
        level = next;
    }
    ex.done.exhaustive = true;
    // Beyond the bound: random walks of up to bound + 2 preemptions.
    let mut rng = SplitMix(opts.seed);
    for _ in 0..opts.samples {
        let mut schedule = Vec::new();
        let mut step = ex.run(&schedule);
        while step.violation.is_none()
            && !step.extensions.is_empty()
            && schedule.len() < opts.bound + 2
        {
            let pick = rng.below(step.extensions.len());
            schedule.push(step.extensions[pick].clone());
            step = ex.run(&schedule);
        }
        if let Some(v) = step.violation {
            ex.done.violation = Some(v);
            break;
        }
    }
    ex.done
}
