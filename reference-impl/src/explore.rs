//! The interleaving explorer: every schedule of a scenario's threads up to a number of
//! preemptions, fewest first, then PCT samples beyond that bound.
//!
//! A schedule is a list of preemptions ([`Preemption`]): at a scheduling point of a running
//! step, another thread's next step runs to completion. Only points that concern the buffer
//! the other thread's step touches are offered (a step on another buffer commutes with
//! everything there), so only conflicting operations are reordered. Schedules are built in
//! the order their points are reached, each extension after the last preemption, so no
//! schedule is run twice. The first violation found at the lowest bound is a minimal
//! schedule: no schedule with fewer preemptions violates.
//!
//! Beyond the bound the explorer samples with PCT (probabilistic concurrency testing,
//! Burckhardt, Kothari, Musuvathi and Nagarakatte, ASPLOS 2010): each sample gives the
//! threads distinct random priorities and picks `d - 1` random change points among the
//! scheduling points; at every point the highest-priority thread that may run there runs,
//! and at the `i`th change point the running thread drops to priority `d - i`, below every
//! initial one. With `n` threads and `k` points, one sample finds a bug of depth `d` with
//! probability at least `1 / (n k^(d-1))`. Here `d` is the bound plus 2. The model's own
//! limit stays: a thread that takes over runs its step to completion (see the book's
//! chapter on the conformance suite, section "Threads, schedules and replay files"), except
//! the kernel's worker (`kworker`), which runs one stage of a queued work item at a time and
//! so can stop half-way while other threads' steps run.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::{Offered, Preemption, Roles, ScenarioFile, ScheduledRun, Thread, Trace, run_scheduled};

/// How far to explore.
#[derive(Debug, Clone, Copy)]
pub struct ExploreOptions {
    /// Every schedule with at most this many preemptions is run.
    pub bound: usize,
    /// PCT samples beyond the bound (of depth `bound + 2`).
    pub samples: usize,
    /// The seed of the samples: the same seed gives the same samples.
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

/// A small deterministic generator (SplitMix64) for the PCT samples.
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

/// One scheduled run, judged: the points it reached after its last preemption (where a
/// schedule can be extended), or the violation.
struct Step {
    offered: Vec<Offered>,
    violation: Option<Violation>,
}

impl Step {
    fn none() -> Self {
        Step {
            offered: Vec::new(),
            violation: None,
        }
    }

    /// Every way to extend the schedule by one preemption after its last one.
    fn extensions(&self) -> Vec<Preemption> {
        self.offered
            .iter()
            .flat_map(|o| o.threads.iter().map(|t| o.preemption(t)))
            .collect()
    }
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
    /// Scheduling points of the run without preemptions (PCT's `k`).
    points: usize,
}

impl Explorer<'_, '_> {
    fn run(&mut self, schedule: &[Preemption]) -> Step {
        let file = ScenarioFile {
            schedule: schedule.to_vec(),
            ..self.base.clone()
        };
        let run = (self.run)(&file);
        self.done.explored += 1;
        if schedule.is_empty() {
            self.points = run.offered.len();
        }
        if run.blocked.is_some() || !run.unused.is_empty() {
            self.done.blocked += 1;
            return Step::none();
        }
        let Ok(trace) = run.trace else {
            return Step::none();
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
        let offered = run.offered.into_iter().skip(after).collect();
        let violation = (self.judge)(&trace).map(|message| Violation {
            file,
            message,
            trace,
        });
        Step { offered, violation }
    }

    /// One PCT sample of depth `depth`: returns its violation, if any.
    fn pct(&mut self, rng: &mut SplitMix, depth: usize) -> Option<Violation> {
        let threads = self.base.threads();
        let mut distinct: Vec<Thread> = Vec::new();
        for t in &threads {
            if !distinct.contains(t) {
                distinct.push(t.clone());
            }
        }
        // Random distinct priorities depth.., one per thread (a shuffle).
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut prio: HashMap<Thread, usize> = distinct
            .iter()
            .zip(order)
            .map(|(t, o)| (t.clone(), depth + o))
            .collect();
        // depth - 1 change points among the scheduling points.
        let k = self.points.max(1);
        let changes: Vec<usize> = (1..depth).map(|_| rng.below(k)).collect();
        let mut schedule: Vec<Preemption> = Vec::new();
        let mut seen_points = 0;
        loop {
            let step = self.run(&schedule);
            if step.violation.is_some() {
                return step.violation;
            }
            let mut next = None;
            for o in &step.offered {
                let running = threads[o.step].clone();
                for (i, _) in changes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == seen_points)
                {
                    prio.insert(running.clone(), depth - 1 - i);
                }
                seen_points += 1;
                // The kernel's worker gets its random priority when it first may run (a
                // work item queued): drawn only then, so samples of scenarios without
                // work items are as they were.
                for t in &o.threads {
                    if !prio.contains_key(t) {
                        let above = rng.below(prio.len() + 1);
                        let p = depth + above;
                        for v in prio.values_mut() {
                            if *v >= p {
                                *v += 1;
                            }
                        }
                        prio.insert(t.clone(), p);
                    }
                }
                let mine = prio[&running];
                if let Some(best) = o.threads.iter().max_by_key(|t| prio[*t])
                    && prio[best] > mine
                {
                    next = Some(o.preemption(best));
                    break;
                }
            }
            match next {
                Some(p) if schedule.len() < threads.len() => schedule.push(p),
                _ => return None,
            }
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
        points: 0,
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
                for p in step.extensions() {
                    let mut s = schedule.clone();
                    s.push(p);
                    next.push(s);
                }
            }
        }
        level = next;
    }
    ex.done.exhaustive = true;
    // Beyond the bound: PCT samples of depth bound + 2, each with its own seed.
    let mut rng = SplitMix(opts.seed);
    for _ in 0..opts.samples {
        if let Some(v) = ex.pct(&mut rng, opts.bound + 2) {
            ex.done.violation = Some(v);
            break;
        }
    }
    ex.done
}
