//! What every monitor reads: the trace, the scenario's steps (which profile plays each role,
//! which step is a revoke or a move), and the facts derived from them once per trace: who
//! encloses each call, what each attachment is, and what it holds at each event.

use std::collections::BTreeMap;

use reference_impl::{
    AccessOutcome, Actor, AttId, BufId, Call, CallName, Event, ExporterKind, FenceId, ImporterKind,
    Ret, SgtId, Step, Trace,
};

/// One attachment, as its attach call shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttInfo {
    /// The buffer it attaches to.
    pub buf: BufId,
    /// Attached with `dma_buf_dynamic_attach()` (importer ops), else `dma_buf_attach()`.
    pub dynamic: bool,
    /// Its importer ops have a non-NULL `invalidate_mappings`.
    pub callback: bool,
    /// `importer_ops->allow_peer2peer`.
    pub allow_peer2peer: bool,
    /// The event of the attach call.
    pub event: usize,
    /// The attach call returned 0 (the attachment exists).
    pub accepted: bool,
}

/// A trace with what monitors need to read it.
pub struct Observed<'a> {
    /// The scenario's steps (empty when a trace comes without its scenario).
    pub steps: &'a [Step],
    /// The trace.
    pub trace: &'a Trace,
    parent: Vec<Option<usize>>,
    end: Vec<usize>,
    atts: BTreeMap<AttId, AttInfo>,
}

impl<'a> Observed<'a> {
    /// Reads `trace`, produced by `steps`.
    pub fn new(steps: &'a [Step], trace: &'a Trace) -> Observed<'a> {
        let n = trace.events.len();
        let mut parent = vec![None; n];
        let mut end: Vec<usize> = (0..n).collect();
        // One stack of open calls per step: a step is a thread, and another thread's step may
        // run in the middle of it (an interleaving).
        let mut stacks: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, e) in trace.events.iter().enumerate() {
            let stack = stacks.entry(e.step).or_default();
            while let Some(&top) = stack.last() {
                if trace.events[top].depth >= e.depth {
                    stack.pop();
                } else {
                    break;
                }
            }
            parent[i] = stack.last().copied();
            for &open in stack.iter() {
                end[open] = i;
            }
            stack.push(i);
        }
        let mut atts = BTreeMap::new();
        for (i, e) in trace.events.iter().enumerate() {
            let info = match e.call {
                Call::DmaBufAttach { buf, att } => Some((
                    att,
                    AttInfo {
                        buf,
                        dynamic: false,
                        callback: false,
                        allow_peer2peer: false,
                        event: i,
                        accepted: e.ret == Some(Ret::Int(0)),
                    },
                )),
                Call::DmaBufDynamicAttach {
                    buf,
                    att,
                    allow_peer2peer,
                    invalidate_mappings,
                } => Some((
                    att,
                    AttInfo {
                        buf,
                        dynamic: true,
                        callback: invalidate_mappings,
                        allow_peer2peer,
                        event: i,
                        // A call the scenario stopped in did link the attachment if the
                        // exporter accepted it: an invalidation can reach it already.
                        accepted: matches!(e.ret, Some(Ret::Int(0)) | None),
                    },
                )),
                _ => None,
            };
            if let Some((att, info)) = info {
                atts.entry(att).or_insert(info);
            }
        }
        Observed {
            steps,
            trace,
            parent,
            end,
            atts,
        }
    }

    /// The events, with their indices.
    pub fn events(&self) -> impl Iterator<Item = (usize, &'a Event)> + 'a {
        self.trace.events.iter().enumerate()
    }

    /// Event `i`.
    pub fn event(&self, i: usize) -> &'a Event {
        &self.trace.events[i]
    }

    /// The events named `name`.
    pub fn calls(&self, name: CallName) -> impl Iterator<Item = (usize, &'a Event)> + 'a {
        self.events()
            .filter(move |(_, e)| e.call.call_name() == name)
    }

    /// The call that event `i` was made from, if any.
    pub fn parent(&self, i: usize) -> Option<usize> {
        self.parent[i]
    }

    /// The calls enclosing event `i`, innermost first.
    pub fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.parent[i], move |&j| self.parent[j])
    }

    /// The innermost call named `name` enclosing event `i`.
    pub fn enclosing(&self, i: usize, name: CallName) -> Option<usize> {
        self.ancestors(i)
            .find(|&j| self.event(j).call.call_name() == name)
    }

    /// The calls made from inside event `i` (at any depth), in order.
    pub fn inside(&self, i: usize) -> impl Iterator<Item = (usize, &'a Event)> + 'a {
        let end = self.end[i];
        self.trace.events[i + 1..=end.max(i)]
            .iter()
            .enumerate()
            .map(move |(k, e)| (i + 1 + k, e))
    }

    /// The calls made directly from event `i`.
    pub fn children(&self, i: usize) -> impl Iterator<Item = (usize, &'a Event)> + '_ {
        self.inside(i)
            .filter(move |(j, _)| self.parent[*j] == Some(i))
    }

    /// The last event inside event `i` (itself if it made no call).
    pub fn end_of(&self, i: usize) -> usize {
        self.end[i]
    }

    /// The index before which call `i` had returned: its step's next event at the same depth
    /// or shallower. Events of other steps before that one ran inside the call (a step run
    /// at one of its scheduling points, such as a wait's `fence_wait`), which its nested
    /// events alone do not show. Without such a next event: the end of its nested events.
    pub fn returned_by(&self, i: usize) -> usize {
        let e = self.event(i);
        self.trace.events[i + 1..]
            .iter()
            .position(|x| x.step == e.step && x.depth <= e.depth)
            .map_or(self.end[i] + 1, |k| i + 1 + k)
    }

    /// Whether event `i` returned (the scenario did not stop inside it).
    pub fn returned(&self, i: usize) -> bool {
        !matches!(self.event(i).ret, None | Some(Ret::Hang))
    }

    /// The attachment `att`, as its attach call shows it.
    pub fn att(&self, att: AttId) -> Option<AttInfo> {
        self.atts.get(&att).copied()
    }

    /// Every attachment, by ID.
    pub fn atts(&self) -> impl Iterator<Item = (AttId, AttInfo)> + '_ {
        self.atts.iter().map(|(a, i)| (*a, *i))
    }

    /// The exporter profile of `buf`, from the scenario.
    pub fn exporter_kind(&self, buf: BufId) -> Option<ExporterKind> {
        self.steps.iter().find_map(|s| match *s {
            Step::Export { buf: b, exporter } if b == buf => Some(exporter),
            _ => None,
        })
    }

    /// The importer profile of `att`, from the scenario.
    pub fn importer_kind(&self, att: AttId) -> Option<ImporterKind> {
        self.steps.iter().find_map(|s| match *s {
            Step::Attach {
                att: a, importer, ..
            }
            | Step::AttachDuringEviction {
                att: a, importer, ..
            } if a == att => Some(importer),
            _ => None,
        })
    }

    /// Whether the exporter of `buf` has capability `cap` (by its profile).
    pub fn exporter_can(&self, buf: BufId, cap: &str) -> bool {
        self.exporter_kind(buf)
            .is_some_and(|k| k.capabilities().contains(&cap))
    }

    /// The step of the scenario event `i` belongs to.
    pub fn step_of(&self, i: usize) -> Option<&'a Step> {
        self.steps.get(self.event(i).step)
    }

    /// Whether step `s` ran to its end (the scenario did not stop in or before it).
    pub fn step_completed(&self, s: usize) -> bool {
        self.trace.stopped_at().is_none_or(|h| h > s)
    }

    /// The buffer a call is about, if it names one or an attachment of one.
    pub fn buf_of(&self, call: &Call) -> Option<BufId> {
        match *call {
            Call::DmaBufExport { buf }
            | Call::DmaBufAttach { buf, .. }
            | Call::DmaBufDynamicAttach { buf, .. }
            | Call::DmaBufDetach { buf, .. }
            | Call::DmaBufInvalidateMappings { buf }
            | Call::DmaBufVmap { buf }
            | Call::DmaBufVunmap { buf }
            | Call::DmaBufMmap { buf }
            | Call::DmaBufPut { buf, .. }
            | Call::DmaResvLock { buf }
            | Call::DmaResvUnlock { buf }
            | Call::DmaResvAddFence { buf, .. }
            | Call::DmaResvWaitTimeout { buf, .. }
            | Call::WaitForUnmap { buf }
            | Call::OpsVmap { buf }
            | Call::OpsVunmap { buf }
            | Call::OpsMmap { buf }
            | Call::OpsRelease { buf }
            | Call::ReclaimMemory { buf } => Some(buf),
            _ => att_of(call).and_then(|a| self.att(a)).map(|a| a.buf),
        }
    }

    /// The steps that revoke a buffer: `(step index, buffer)`.
    pub fn revokes(&self) -> impl Iterator<Item = (usize, BufId)> + '_ {
        self.steps.iter().enumerate().filter_map(|(i, s)| match *s {
            Step::Revoke { buf } => Some((i, buf)),
            _ => None,
        })
    }

    /// Whether `buf` is revoked at event `i`: a revoke step's invalidation of it happened
    /// before, and no restore step of it began since. (In event order: with threads, a
    /// later step may run before an earlier one ends.)
    pub fn revoked_at(&self, buf: BufId, i: usize) -> bool {
        let mut revoked = false;
        let mut restoring = None;
        for (k, e) in self.events().take(i) {
            match self.steps.get(e.step) {
                Some(Step::Revoke { buf: b })
                    if *b == buf
                        && matches!(e.call, Call::DmaBufInvalidateMappings { buf: x } if x == buf) =>
                {
                    revoked = true;
                }
                Some(Step::Restore { buf: b }) if *b == buf && restoring != Some(e.step) => {
                    restoring = Some(e.step);
                    revoked = false;
                }
                _ => {}
            }
            let _ = k;
        }
        revoked
    }

    /// The mappings `att` holds just before event `i`: every sg table a map of it returned
    /// and no unmap gave back.
    pub fn mappings_before(&self, att: AttId, i: usize) -> Vec<SgtId> {
        let mut held = Vec::new();
        for (_, e) in self.events().take(i) {
            match (&e.call, &e.ret) {
                (
                    Call::DmaBufMapAttachment { att: a }
                    | Call::DmaBufMapAttachmentUnlocked { att: a },
                    Some(Ret::Sgt(s)),
                ) if *a == att && !held.contains(s) => held.push(*s),
                (
                    Call::DmaBufUnmapAttachment { att: a, sgt }
                    | Call::DmaBufUnmapAttachmentUnlocked { att: a, sgt },
                    _,
                ) if *a == att => held.retain(|s| s != sgt),
                _ => {}
            }
        }
        held
    }

    /// The pins `att`'s importer holds just before event `i`: its `dma_buf_pin()`s that
    /// succeeded, less its `dma_buf_unpin()`s. (The core's pin around a static mapping is
    /// not counted: a static attachment's mappings say it.)
    pub fn pins_before(&self, att: AttId, i: usize) -> i64 {
        let mut pins = 0;
        for (_, e) in self.events().take(i) {
            match (&e.call, &e.ret) {
                (Call::DmaBufPin { att: a }, Some(Ret::Int(0))) if *a == att => pins += 1,
                (Call::DmaBufUnpin { att: a }, _) if *a == att => pins -= 1,
                _ => {}
            }
        }
        pins
    }

    /// The fences added to `buf`'s reservation object before event `i`, with their usage.
    pub fn fences_before(
        &self,
        buf: BufId,
        i: usize,
    ) -> Vec<(usize, FenceId, reference_impl::DmaResvUsage)> {
        self.events()
            .take(i)
            .filter_map(|(j, e)| match e.call {
                Call::DmaResvAddFence {
                    buf: b,
                    fence,
                    usage,
                } if b == buf => Some((j, fence, usage)),
                _ => None,
            })
            .collect()
    }

    /// Whether fence `fence` was signalled before event `i`.
    pub fn signalled_before(&self, fence: FenceId, i: usize) -> bool {
        self.events()
            .take(i)
            .any(|(_, e)| matches!(e.call, Call::DmaFenceSignal { fence: f } if f == fence))
    }

    /// Every device access: `(event, attachment, mapping, write, job, outcome)`.
    pub fn accesses(&self) -> impl Iterator<Item = Access> + '_ {
        self.events().filter_map(|(i, e)| match (&e.call, &e.ret) {
            (
                Call::DmaAccess {
                    att,
                    sgt,
                    write,
                    job,
                },
                Some(Ret::Access(outcome)),
            ) => Some(Access {
                event: i,
                att: *att,
                sgt: *sgt,
                write: *write,
                job: job.is_some(),
                outcome: *outcome,
            }),
            _ => None,
        })
    }

    /// The fence of queued device work: the fence its submit returned.
    pub fn job_fence(&self, job: reference_impl::JobId) -> Option<FenceId> {
        self.events().find_map(|(_, e)| match e.call {
            Call::DeviceSubmit { job: j, fence, .. } if j == job => Some(fence),
            _ => None,
        })
    }

    /// Whether fence `fence` was added to some reservation object.
    pub fn fence_added(&self, fence: FenceId) -> bool {
        self.events()
            .any(|(_, e)| matches!(e.call, Call::DmaResvAddFence { fence: f, .. } if f == fence))
    }
}

/// A device access.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// Its event.
    pub event: usize,
    /// Whose device.
    pub att: AttId,
    /// Through which mapping (`None`: no mapping at all).
    pub sgt: Option<SgtId>,
    /// A write.
    pub write: bool,
    /// Queued work (fenced), not an access made now.
    pub job: bool,
    /// What the model found.
    pub outcome: AccessOutcome,
}

/// The attachment a call names, if it names one.
pub fn att_of(call: &Call) -> Option<AttId> {
    match *call {
        Call::DmaBufAttach { att, .. }
        | Call::DmaBufDynamicAttach { att, .. }
        | Call::DmaBufDetach { att, .. }
        | Call::DmaBufPin { att }
        | Call::DmaBufUnpin { att }
        | Call::DmaBufMapAttachment { att }
        | Call::DmaBufUnmapAttachment { att, .. }
        | Call::DmaBufMapAttachmentUnlocked { att }
        | Call::DmaBufUnmapAttachmentUnlocked { att, .. }
        | Call::DmaBufAttachRevocable { att }
        | Call::OpsAttach { att }
        | Call::OpsDetach { att }
        | Call::OpsPin { att }
        | Call::OpsUnpin { att }
        | Call::OpsMapDmaBuf { att }
        | Call::OpsUnmapDmaBuf { att, .. }
        | Call::InvalidateMappings { att }
        | Call::VfioPciDmaBufIommufdMap { att }
        | Call::IommuUnmap { att }
        | Call::Worker { att }
        | Call::DeviceSubmit { att, .. }
        | Call::DmaAccess { att, .. } => Some(att),
        _ => None,
    }
}

/// Whether `actor` is an importer (or its device) of attachment `att`.
pub fn is_importer(actor: Actor) -> bool {
    matches!(actor, Actor::Importer(_) | Actor::Device(_))
}
