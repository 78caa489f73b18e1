//! Generated scenarios: a state machine over the step language, driven by proptest so that a
//! failing scenario shrinks to a minimal one. A scenario is generated as a list of choices
//! (an operation and two operands) and interpreted against the state built so far (which
//! buffers are exported, which attachments live), so every generated or shrunk list is a
//! valid scenario: a choice with no valid target is skipped.
//!
//! Seeded and reproducible: the same seed and count give the same scenarios. Judged by the
//! rules' monitors ([`crate::monitor`]), then the scenario-independent checks
//! ([`crate::invariants`]).

use std::cell::{Cell, RefCell};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use reference_impl::{
    AttId, BufId, DmaResvUsage, ExporterKind, ImporterKind, Role, ScenarioFile, Shim, Step, Trace,
};

use crate::check::RuleCheck;

/// The profiles a generated scenario may use.
#[derive(Debug, Clone)]
pub struct Profiles {
    /// Exporter profiles.
    pub exporters: Vec<ExporterKind>,
    /// Importer profiles.
    pub importers: Vec<ImporterKind>,
    /// Whether the first buffer and the first attachment take the first profile listed
    /// (the shim's), so that the scenario exercises the shim.
    pub lead: bool,
}

const EXPORTERS: [ExporterKind; 2] = [ExporterKind::Vfio, ExporterKind::Gpu];
const IMPORTERS: [ImporterKind; 4] = [
    ImporterKind::Static,
    ImporterKind::Dynamic,
    ImporterKind::Iommufd,
    ImporterKind::Rdma,
];

impl Profiles {
    /// Every profile.
    pub fn all() -> Profiles {
        Profiles {
            exporters: EXPORTERS.to_vec(),
            importers: IMPORTERS.to_vec(),
            lead: false,
        }
    }

    /// The profiles that exercise a shim playing `role` as `plays` (names): every profile,
    /// the shim's first, and the first buffer or attachment of every scenario in one of the
    /// shim's (the reference plays the others, so the shim meets every other driver).
    pub fn for_role(role: Role, plays: &[&str]) -> Profiles {
        let mut p = Profiles::all();
        match role {
            Role::Exporter => {
                p.exporters.sort_by_key(|k| !plays.contains(&k.name()));
                p.lead = true;
            }
            Role::Importer => {
                p.importers.sort_by_key(|k| !plays.contains(&k.name()));
                p.lead = true;
            }
            Role::Core | Role::Unknown => {}
        }
        p
    }

    /// The profiles of an in-tree shim.
    pub fn for_shim(shim: &Shim) -> Profiles {
        let plays = shim.plays();
        Profiles::for_role(shim.role(), &plays)
    }
}

/// One choice: an operation and two operands, read against the scenario's state.
pub type Choice = (u8, u8, u8);

/// The longest scenario generated, in choices.
pub const MAX_CHOICES: usize = 24;

const MAX_BUFS: usize = 2;
const MAX_ATTS: usize = 4;

/// A buffer of a scenario being built.
struct Buf {
    id: BufId,
    kind: ExporterKind,
    live: bool,
    /// Revoked and not restored: its memory may be reused (a VFIO reset).
    revoked: bool,
}

/// An attachment of a scenario being built.
struct Att {
    id: AttId,
    buf: BufId,
    kind: ImporterKind,
    live: bool,
    /// Mapped and not unmapped (a pinned importer maps once).
    mapped: bool,
    /// vmaps it holds (`VmapHold` without its `Vunmap` yet; its detach gives them back).
    vmaps: u32,
}

fn has(caps: &[&str], cap: &str) -> bool {
    caps.contains(&cap)
}

/// The steps a list of choices makes. Each step is addressed to a driver whose profile does
/// what the step asks (capabilities, `revoke-conformance shims`): a revoke, a restore and a
/// reuse of memory to an exporter that revokes (VFIO), a move and an exporter's own fence to
/// one that moves (GPU), an mmap to one that offers it; a vmap (in one step, or held until a
/// later vunmap) and a fenced submission to an importer that does them; a pinned importer
/// maps once until it unmaps; the last reference to a buffer goes only when no importer is
/// attached (each holds one).
pub fn build(profiles: &Profiles, choices: &[Choice]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut bufs: Vec<Buf> = Vec::new();
    let mut atts: Vec<Att> = Vec::new();
    let pick = |n: usize, x: u8| usize::from(x) % n;
    for &(op, a, b) in choices {
        let none_live = bufs.iter().all(|x| !x.live);
        if none_live && bufs.len() >= MAX_BUFS {
            break;
        }
        let op = if none_live { 0 } else { op % 17 };
        // A live buffer (attachment) that can take the step, chosen by `a`.
        let buf_for = |ok: &dyn Fn(&Buf) -> bool| -> Option<usize> {
            let c: Vec<usize> = (0..bufs.len())
                .filter(|&i| bufs[i].live && ok(&bufs[i]))
                .collect();
            (!c.is_empty()).then(|| c[pick(c.len(), a)])
        };
        let att_for = |ok: &dyn Fn(&Att) -> bool| -> Option<usize> {
            let c: Vec<usize> = (0..atts.len())
                .filter(|&i| atts[i].live && ok(&atts[i]))
                .collect();
            (!c.is_empty()).then(|| c[pick(c.len(), a)])
        };
        let exp = |x: &Buf, cap: &str| has(x.kind.capabilities(), cap);
        let imp = |x: &Att, cap: &str| has(x.kind.capabilities(), cap);
        let step = match op {
            0 if bufs.len() < MAX_BUFS && !profiles.exporters.is_empty() => {
                let id = BufId(bufs.len() as u32);
                let kind = if profiles.lead && bufs.is_empty() {
                    profiles.exporters[0]
                } else {
                    profiles.exporters[pick(profiles.exporters.len(), b)]
                };
                bufs.push(Buf {
                    id,
                    kind,
                    live: true,
                    revoked: false,
                });
                Some(Step::Export {
                    buf: id,
                    exporter: kind,
                })
            }
            1 | 2 if atts.len() < MAX_ATTS && !profiles.importers.is_empty() => {
                let kind = if profiles.lead && atts.is_empty() {
                    profiles.importers[0]
                } else {
                    profiles.importers[pick(profiles.importers.len(), b)]
                };
                // iommufd reaches a buffer only through VFIO's private interconnect
                // (`vfio_pci_dma_buf_iommufd_map()`): it imports VFIO buffers only.
                let reaches =
                    |x: &Buf| kind != ImporterKind::Iommufd || x.kind == ExporterKind::Vfio;
                buf_for(&reaches).map(|i| {
                    let id = AttId(atts.len() as u32);
                    let buf = bufs[i].id;
                    atts.push(Att {
                        id,
                        buf,
                        kind,
                        live: true,
                        mapped: false,
                        vmaps: 0,
                    });
                    Step::Attach {
                        att: id,
                        buf,
                        importer: kind,
                    }
                })
            }
            3 => att_for(&|x| !x.mapped || imp(x, "remaps")).map(|i| {
                atts[i].mapped = true;
                Step::Map { att: atts[i].id }
            }),
            4 => att_for(&|_| true).map(|i| Step::Access {
                att: atts[i].id,
                write: b % 2 == 1,
            }),
            5 => att_for(&|x| imp(x, "fences-work")).map(|i| Step::Submit {
                att: atts[i].id,
                write: b % 2 == 1,
            }),
            6 => att_for(&|_| true).map(|i| {
                atts[i].mapped = false;
                Step::Unmap { att: atts[i].id }
            }),
            7 => att_for(&|_| true).map(|i| {
                atts[i].live = false;
                atts[i].vmaps = 0;
                Step::Detach { att: atts[i].id }
            }),
            // A vmap in one step, or held across the steps that follow (a move, a revoke, a
            // pin elsewhere) until a vunmap.
            8 => att_for(&|x| imp(x, "vmap")).map(|i| {
                let att = atts[i].id;
                match b % 3 {
                    1 => {
                        atts[i].vmaps += 1;
                        Step::VmapHold { att }
                    }
                    2 if atts[i].vmaps > 0 => {
                        atts[i].vmaps -= 1;
                        Step::Vunmap { att }
                    }
                    _ => Step::Vmap { att },
                }
            }),
            9 => buf_for(&|x| exp(x, "mmap")).map(|i| Step::Mmap { buf: bufs[i].id }),
            10 => buf_for(&|x| exp(x, "revokes-pinned")).map(|i| {
                bufs[i].revoked = true;
                Step::Revoke { buf: bufs[i].id }
            }),
            11 => buf_for(&|x| exp(x, "restores")).map(|i| {
                bufs[i].revoked = false;
                Step::Restore { buf: bufs[i].id }
            }),
            12 => buf_for(&|x| exp(x, "moves-unpinned")).map(|i| Step::Move { buf: bufs[i].id }),
            // The memory is reused (the reset behind a BAR) only where the contract lets an
            // exporter reuse it: after its revoke. (A move reuses the old memory itself.)
            13 => buf_for(&|x| x.revoked).map(|i| Step::Reclaim { buf: bufs[i].id }),
            // An exporter's own clear or copy, before the buffer is shared (on shared memory
            // it would be a move, which invalidates first).
            14 => buf_for(&|x| exp(x, "moves-unpinned") && !atts.iter().any(|y| y.buf == x.id))
                .map(|i| Step::ExporterFence {
                    buf: bufs[i].id,
                    usage: [
                        DmaResvUsage::Kernel,
                        DmaResvUsage::Write,
                        DmaResvUsage::Read,
                        DmaResvUsage::Bookkeep,
                    ][usize::from(b % 4)],
                    stuck: b >= 240,
                }),
            15 => Some(Step::Complete),
            16 if b % 4 == 0 => {
                let attached: Vec<BufId> = atts.iter().filter(|x| x.live).map(|x| x.buf).collect();
                buf_for(&|x| !attached.contains(&x.id)).map(|i| {
                    bufs[i].live = false;
                    Step::Put { buf: bufs[i].id }
                })
            }
            // A signal for the caller of the exporter's next step (a reset whose process is
            // being killed).
            16 if b % 4 == 1 => buf_for(&|_| true).map(|i| Step::Signal { buf: bufs[i].id }),
            _ => None,
        };
        steps.extend(step);
    }
    steps
}

/// The strategy of choice lists.
pub fn choices() -> impl Strategy<Value = Vec<Choice>> {
    vec(any::<Choice>(), 1..=MAX_CHOICES)
}

/// The first violated scenario-independent check, as `rule: what happened`.
pub fn first_violation(checks: &[RuleCheck], trace: &Trace) -> Option<String> {
    checks.iter().find_map(|c| {
        c.check
            .eval(trace)
            .err()
            .map(|e| format!("{}: {e}", c.rule))
    })
}

/// What runs one generated scenario: its trace, `Ok(None)` when the scenario does not apply
/// to the backend, or why it could not run.
pub type RunScenario<'a> = dyn FnMut(&[Step]) -> Result<Option<Trace>, String> + 'a;

/// A generated scenario that fails, shrunk.
#[derive(Debug, Clone)]
pub struct Failing {
    /// The minimal scenario found, as a file (with the seed).
    pub file: ScenarioFile,
    /// What failed.
    pub message: String,
}

/// What a generation run did.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// Scenarios run (shrinking included).
    pub run: u64,
    /// Scenarios that did not apply to the backend (a profile it does not play).
    pub not_applicable: u64,
    /// The first failure, shrunk.
    pub failing: Option<Failing>,
}

/// Runs `count` generated scenarios from `seed`, each with `run` (which gives the trace, or
/// `Ok(None)` when the scenario does not apply), and shrinks the first failure.
/// `progress` is told of every scenario run.
pub fn generate(
    profiles: &Profiles,
    count: u32,
    seed: u64,
    run: &mut RunScenario<'_>,
    progress: &dyn Fn(u64),
) -> Generated {
    let checks = crate::invariants::checks();
    let config = Config {
        cases: count,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    };
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let (ran, na) = (Cell::new(0u64), Cell::new(0u64));
    let run = RefCell::new(run);
    let result = runner.run(&choices(), |choices| {
        let steps = build(profiles, &choices);
        ran.set(ran.get() + 1);
        progress(ran.get());
        match (run.borrow_mut())(&steps) {
            Ok(None) => {
                na.set(na.get() + 1);
                Ok(())
            }
            Ok(Some(trace)) => match crate::monitor::first_violation(&steps, &trace)
                .or_else(|| first_violation(&checks, &trace))
                .or_else(|| crate::hangs::first_violation(&steps, &trace))
            {
                None => Ok(()),
                Some(v) => Err(TestCaseError::fail(v)),
            },
            Err(e) => Err(TestCaseError::fail(format!(
                "the scenario could not run: {e}"
            ))),
        }
    });
    let failing = match result {
        Ok(()) => None,
        Err(TestError::Fail(message, choices)) => {
            let mut file = ScenarioFile::sequential(&build(profiles, &choices));
            file.seed = Some(seed);
            file.title = Some(format!("generated (seed {seed}), shrunk: {message}"));
            Some(Failing {
                file,
                message: message.to_string(),
            })
        }
        Err(TestError::Abort(why)) => Some(Failing {
            file: ScenarioFile::sequential(&[]),
            message: format!("generation aborted: {why}"),
        }),
    };
    Generated {
        run: ran.get(),
        not_applicable: na.get(),
        failing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every list of choices makes a scenario the model runs (nothing used before it exists,
    /// nothing used after it is gone), and the same seed makes the same scenarios.
    #[test]
    fn choices_make_valid_scenarios_and_seeds_reproduce() {
        let profiles = Profiles::all();
        let mut seen = Vec::new();
        let g = generate(
            &profiles,
            300,
            7,
            &mut |steps| {
                seen.push(steps.to_vec());
                reference_impl::run_reference(steps).map(Some)
            },
            &|_| {},
        );
        assert!(g.failing.is_none(), "{:?}", g.failing);
        assert_eq!(g.run, 300);
        let mut again = Vec::new();
        generate(
            &profiles,
            300,
            7,
            &mut |steps| {
                again.push(steps.to_vec());
                Ok(None)
            },
            &|_| {},
        );
        assert_eq!(seen, again);
        let kinds: std::collections::BTreeSet<String> = seen
            .iter()
            .flatten()
            .map(|s| {
                format!("{s}")
                    .split(':')
                    .nth(1)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert!(
            kinds.len() > 12,
            "the generator reaches most kinds of step: {kinds:?}"
        );
    }

    /// Generated scenarios hold vmaps across a move of the buffer: the steps that put a
    /// moving exporter under `cpu.exporter.vmap-keeps-placement`.
    #[test]
    fn vmaps_are_held_across_moves() {
        let mut across = 0;
        generate(
            &Profiles::all(),
            2000,
            7,
            &mut |steps| {
                let mut held: std::collections::BTreeMap<AttId, u32> = Default::default();
                let mut buf_of = std::collections::BTreeMap::new();
                for s in steps {
                    match *s {
                        Step::Attach { att, buf, .. } => {
                            buf_of.insert(att, buf);
                        }
                        Step::VmapHold { att } => *held.entry(att).or_default() += 1,
                        Step::Vunmap { att } => *held.entry(att).or_default() -= 1,
                        Step::Detach { att } => {
                            held.remove(&att);
                        }
                        Step::Move { buf }
                            if held
                                .iter()
                                .any(|(a, n)| *n > 0 && buf_of.get(a) == Some(&buf)) =>
                        {
                            across += 1;
                        }
                        _ => {}
                    }
                }
                Ok(None)
            },
            &|_| {},
        );
        assert!(across > 10, "{across} moves under a held vmap");
    }

    /// A failure shrinks to a small scenario: here, "any revoke fails" shrinks to exports
    /// and a revoke (proptest removes and simplifies choices while the scenario still fails).
    #[test]
    fn a_failure_shrinks_to_a_minimal_scenario() {
        let profiles = Profiles::all();
        let g = generate(
            &profiles,
            500,
            1,
            &mut |steps| {
                let trace = reference_impl::run_reference(steps)?;
                if steps.iter().any(|s| matches!(s, Step::Revoke { .. })) {
                    return Err("a revoke".into());
                }
                Ok(Some(trace))
            },
            &|_| {},
        );
        let f = g.failing.expect("found");
        let ops: Vec<String> = f.file.steps.iter().map(|s| s.step.to_string()).collect();
        // proptest's shrinking ends in a local minimum: an export or two and the revoke.
        assert!(ops.len() <= 3, "{ops:?}");
        assert!(ops[0].ends_with("export"), "{ops:?}");
        assert!(ops.last().is_some_and(|o| o.ends_with("revoke")), "{ops:?}");
        assert_eq!(f.file.seed, Some(1));
    }
}
