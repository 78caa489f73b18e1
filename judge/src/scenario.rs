//! The scenario builder a case uses: each method appends a step addressed to a role and
//! returns what later steps and checks refer to.

pub use reference_impl::StepRef;
use reference_impl::{
    AttId, BufId, DmaResvUsage, ExporterKind, FileStep, ImporterKind, SCENARIO_FORMAT,
    ScenarioFile, Step, Thread,
};

use crate::check::{Check, RuleCheck};

/// A scenario under construction: steps (plain data) and checks over the trace they produce.
#[derive(Default)]
pub struct Scenario {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The checks, each naming its rule.
    pub checks: Vec<RuleCheck>,
    /// The thread of each step (`None`: the main thread).
    pub threads: Vec<Option<Thread>>,
    thread: Option<Thread>,
    next_buf: u32,
    next_att: u32,
}

impl Scenario {
    /// An empty scenario.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, step: Step) -> StepRef {
        self.steps.push(step);
        self.threads.push(self.thread.clone());
        StepRef(self.steps.len() - 1)
    }

    /// The steps `f` adds run on thread `name` (`importer`, `reset`, `unmap-worker`...),
    /// concurrently with the other threads' steps: `run` takes them in the order written,
    /// `explore --races` tries every interleaving. Returns what `f` returns.
    pub fn on_thread<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        let thread = Thread::new(name).unwrap_or_else(|e| panic!("{e}"));
        let outer = self.thread.replace(thread);
        let r = f(self);
        self.thread = outer;
        r
    }

    /// Whether any step runs on a thread of its own.
    pub fn is_concurrent(&self) -> bool {
        self.threads.iter().any(Option::is_some)
    }

    /// The scenario as a portable file (no schedule).
    pub fn to_file(&self) -> ScenarioFile {
        ScenarioFile {
            format: SCENARIO_FORMAT,
            title: None,
            case: None,
            seed: None,
            steps: self
                .steps
                .iter()
                .zip(&self.threads)
                .map(|(step, thread)| FileStep {
                    step: step.clone(),
                    thread: thread.clone(),
                })
                .collect(),
            schedule: Vec::new(),
        }
    }

    /// The most recent step.
    pub fn last(&self) -> StepRef {
        StepRef(self.steps.len().saturating_sub(1))
    }

    /// Adds a check of `rule` over the trace.
    pub fn check(&mut self, rule: &'static str, check: Check) {
        self.checks.push(RuleCheck { rule, check });
    }

    /// A new exporter of kind `kind` exports a buffer.
    pub fn export(&mut self, exporter: ExporterKind) -> BufId {
        let buf = BufId(self.next_buf);
        self.next_buf += 1;
        self.push(Step::Export { buf, exporter });
        buf
    }

    /// A new importer of kind `kind` attaches to `buf`.
    pub fn attach(&mut self, buf: BufId, importer: ImporterKind) -> AttId {
        let att = AttId(self.next_att);
        self.next_att += 1;
        self.push(Step::Attach { att, buf, importer });
        att
    }

    /// A new importer of kind `kind` attaches to `buf` while the exporter evicts it: the
    /// invalidation arrives as soon as the attachment is linked.
    pub fn attach_during_eviction(&mut self, buf: BufId, importer: ImporterKind) -> AttId {
        let att = AttId(self.next_att);
        self.next_att += 1;
        self.push(Step::AttachDuringEviction { att, buf, importer });
        att
    }

    /// The importer obtains a mapping.
    pub fn map(&mut self, att: AttId) -> StepRef {
        self.push(Step::Map { att })
    }

    /// The importer's device reads (or writes) the buffer now.
    pub fn access(&mut self, att: AttId, write: bool) -> StepRef {
        self.push(Step::Access { att, write })
    }

    /// The importer queues device work, fenced in the reservation object.
    pub fn submit(&mut self, att: AttId, write: bool) -> StepRef {
        self.push(Step::Submit { att, write })
    }

    /// The importer gives its mapping back.
    pub fn unmap(&mut self, att: AttId) -> StepRef {
        self.push(Step::Unmap { att })
    }

    /// The importer detaches.
    pub fn detach(&mut self, att: AttId) -> StepRef {
        self.push(Step::Detach { att })
    }

    /// The importer vmaps (and vunmaps) the buffer.
    pub fn vmap(&mut self, att: AttId) -> StepRef {
        self.push(Step::Vmap { att })
    }

    /// The importer vmaps the buffer and holds the vmap until its [`Scenario::vunmap`].
    pub fn vmap_hold(&mut self, att: AttId) -> StepRef {
        self.push(Step::VmapHold { att })
    }

    /// The importer gives back the vmap it holds.
    pub fn vunmap(&mut self, att: AttId) -> StepRef {
        self.push(Step::Vunmap { att })
    }

    /// User space mmaps the buffer.
    pub fn mmap(&mut self, buf: BufId) -> StepRef {
        self.push(Step::Mmap { buf })
    }

    /// The exporter revokes the buffer.
    pub fn revoke(&mut self, buf: BufId) -> StepRef {
        self.push(Step::Revoke { buf })
    }

    /// The exporter restores the buffer.
    pub fn restore(&mut self, buf: BufId) -> StepRef {
        self.push(Step::Restore { buf })
    }

    /// The exporter moves the buffer.
    pub fn move_buffer(&mut self, buf: BufId) -> StepRef {
        self.push(Step::Move { buf })
    }

    /// The exporter reuses the buffer's old memory.
    pub fn reclaim(&mut self, buf: BufId) -> StepRef {
        self.push(Step::Reclaim { buf })
    }

    /// The exporter adds a fence for its own work; a `stuck` one never signals.
    pub fn exporter_fence(&mut self, buf: BufId, usage: DmaResvUsage, stuck: bool) -> StepRef {
        self.push(Step::ExporterFence { buf, usage, stuck })
    }

    /// The last reference to the buffer is dropped.
    pub fn put(&mut self, buf: BufId) -> StepRef {
        self.push(Step::Put { buf })
    }

    /// Every device finishes its queued work.
    pub fn complete(&mut self) -> StepRef {
        self.push(Step::Complete)
    }

    /// A signal becomes pending for the caller of the exporter's next step.
    pub fn signal(&mut self, buf: BufId) -> StepRef {
        self.push(Step::Signal { buf })
    }
}
