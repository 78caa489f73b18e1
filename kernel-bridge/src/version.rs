//! Kernel versions, and what a target kernel (version and enabled options) holds of the book's
//! rules.

use reference_impl::{Step, Trace};

use judge::{CaseDef, RuleDef};

use super::*;

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

    /// Whether a case variant can be judged on this kernel, before looking at its trace: at
    /// least one rule it checks must hold here, and no unheld rule its profiles rely on may
    /// take away what it checks (see [`relied_on`]). The checks of the rules that do not hold
    /// are then left out: see [`drop_unheld_checks`].
    pub fn case_applies(&self, case: &CaseDef, steps: &[Step]) -> Result<(), String> {
        if let Some(why) = runner_cannot_run(steps) {
            return Err(why);
        }
        let mut unheld = Vec::new();
        for id in case.rules {
            if let Some(rule) = judge::spec().rule(id)
                && let Err(e) = self.rule_holds(rule)
            {
                unheld.push(e);
            }
        }
        if !unheld.is_empty() && unheld.len() == case.rules.len() {
            return Err(unheld.join("; "));
        }
        // Every reliance that takes something away, so that the reason is complete.
        let mut why = Vec::new();
        for r in relied_on(steps) {
            let Some(Err(e)) = judge::spec().rule(r.rule).map(|rule| self.rule_holds(rule)) else {
                continue;
            };
            match r.affects {
                Affects::Everything => why.push(format!("{}. {e}", r.why)),
                Affects::AllBut(_) | Affects::Only(_) => {
                    let hit: Vec<String> = case
                        .rules
                        .iter()
                        .filter(|id| r.affects.covers(id) && self.holds(id))
                        .map(|id| format!("`{id}`"))
                        .collect();
                    if !hit.is_empty() {
                        why.push(format!(
                            "{}. {e}. The case checks {}, which this changes",
                            r.why,
                            hit.join(", ")
                        ));
                    }
                }
                // Decided on the kernel's trace: see `exercised`.
                Affects::StopsIn(_) => {}
            }
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join(". Also, "))
        }
    }

    /// Whether the rule with this ID holds on this kernel (an unknown ID does).
    fn holds(&self, id: &str) -> bool {
        judge::spec()
            .rule(id)
            .is_none_or(|r| self.rule_holds(r).is_ok())
    }

    /// Whether a case variant whose scenario, by an unheld rule it relies on, never gets past
    /// a step on this kernel ([`Affects::StopsIn`]) was exercised by the kernel's trace. When
    /// the trace stopped exactly there, in the exporter's wait for unmaps, a check that fails
    /// only because a later step never ran, or only because that wait never returns, was not
    /// exercised; if such checks are the case's only failures, the case is not applicable.
    /// (A check that fails for any other reason keeps the case judged, and failing.)
    pub fn exercised(
        &self,
        case: &CaseDef,
        variant: &str,
        steps: &[Step],
        trace: &Trace,
    ) -> Result<(), String> {
        for r in relied_on(steps) {
            let Affects::StopsIn(step) = r.affects else {
                continue;
            };
            let Some(Err(e)) = judge::spec().rule(r.rule).map(|rule| self.rule_holds(rule)) else {
                continue;
            };
            let hang = trace
                .events
                .iter()
                .find(|ev| ev.ret == Some(reference_impl::Ret::Hang));
            let stopped_there = trace.hung_at == Some(step)
                && hang.is_some_and(|ev| ev.step == step && ev.call.name() == "wait_for_unmap");
            if !stopped_there {
                continue;
            }
            let Some(scenario) = judge::outcome::scenario_of(case, variant) else {
                continue;
            };
            let mut unexercised: Vec<&str> = Vec::new();
            let mut failed = false;
            for c in &scenario.checks {
                let Err(failure) = c.check.eval(trace) else {
                    continue;
                };
                if !self.holds(c.rule) {
                    continue; // Left out anyway: see drop_unheld_checks.
                }
                if judge::check::never_ran(&failure) || c.check.describe == judge::check::NO_HANG {
                    if !unexercised.contains(&c.rule) {
                        unexercised.push(c.rule);
                    }
                } else if judge::spec()
                    .rule(c.rule)
                    .is_none_or(|x| x.strength != judge::Strength::May)
                {
                    failed = true;
                }
            }
            if !unexercised.is_empty() && !failed {
                let list: Vec<String> = unexercised.iter().map(|id| format!("`{id}`")).collect();
                return Err(format!(
                    "{}. {e}. The kernel's trace stops in step {step} as this predicts, and the \
                     case's checks of {} need the steps after it, or that step's return",
                    r.why,
                    list.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Why the KUnit runner cannot run a scenario at all, whatever the kernel: a step that makes a
/// signal pending. The runner's test drivers run in KUnit's kernel thread, which takes no
/// signals, and every wait of theirs is uninterruptible as 7.2's VFIO's is, so the step would
/// change nothing there; the case is judged on the model and on shims.
pub(crate) fn runner_cannot_run(steps: &[Step]) -> Option<String> {
    steps
        .iter()
        .position(|s| matches!(s, Step::Signal { .. }))
        .map(|i| {
            format!(
                "step {i} makes a signal pending for an exporter's caller, which the KUnit runner \
                 cannot do (its test drivers run in KUnit's kernel thread and wait \
                 uninterruptibly, as 7.2's VFIO does); the case is judged on the model and on shims"
            )
        })
}
