//! From kernel probe hits to the suite's trace: the call tree, the buffer and attachment
//! names, the reservation lock's state, and the cut into a case's steps.

use std::collections::{BTreeMap, HashMap};

use reference_impl::{
    AccessOutcome, Actor, AttId, BufId, Call, DmaResvUsage, Errno, Event, Ret, Timeout, Trace,
};

use crate::ftrace::{Console, Line, value};

/// One traced kernel call: its entry, its return (if seen) and where it sits in the tree.
#[derive(Debug, Clone)]
pub struct KCall {
    /// The probe key (`pin`, `wait`, ...).
    pub key: String,
    /// The kernel function.
    pub function: &'static str,
    /// Arguments fetched at entry.
    pub args: BTreeMap<String, String>,
    /// What the return probe fetched, if it fired.
    pub ret: Option<BTreeMap<String, String>>,
    /// The enclosing traced call in the same task.
    pub parent: Option<usize>,
    /// The guest's phase when the call was made.
    pub phase: String,
    /// The task.
    pub pid: u32,
}

/// Probe key to kernel function, as placed by the guest (`guest/revoke_scenario.c`).
pub const PROBES: &[(&str, &str)] = &[
    ("export", "dma_buf_export"),
    ("dattach", "dma_buf_dynamic_attach"),
    ("opsattach", "vfio_pci_dma_buf_attach"),
    ("revocable", "dma_buf_attach_revocable"),
    ("pin", "dma_buf_pin"),
    ("unpin", "dma_buf_unpin"),
    ("map", "dma_buf_map_attachment"),
    ("unmap", "dma_buf_unmap_attachment"),
    ("opsmap", "vfio_pci_dma_buf_map"),
    ("opsunmap", "vfio_pci_dma_buf_unmap"),
    ("privmap", "vfio_pci_dma_buf_iommufd_map"),
    ("inval", "dma_buf_invalidate_mappings"),
    ("notify", "iopt_revoke_notify"),
    ("domunmap", "iopt_area_unmap_domain_range"),
    ("iommuunmap", "iommu_unmap"),
    ("wait", "dma_resv_wait_timeout"),
    ("lock", "ww_mutex_lock"),
    ("locki", "ww_mutex_lock_interruptible"),
    ("unlock", "ww_mutex_unlock"),
    ("move", "vfio_pci_dma_buf_move"),
    ("wfc", "wait_for_completion"),
    ("detach", "dma_buf_detach"),
    ("release", "vfio_pci_dma_buf_release"),
    ("ioptmap", "iopt_alloc_dmabuf_pages"),
    ("ioptrelease", "iopt_release_pages"),
    ("cleanup", "vfio_pci_dma_buf_cleanup"),
    ("pcireset", "pci_try_reset_function"),
    ("warn", "__warn"),
];

fn function_of(key: &str) -> &'static str {
    PROBES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("?", |(_, f)| f)
}

/// Rebuilds the call tree from the probe hits: per task, a return closes the innermost open
/// call of the same function.
pub fn calls(console: &Console) -> Vec<KCall> {
    let mut out: Vec<KCall> = Vec::new();
    let mut stacks: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut phase = String::from("boot");
    for line in &console.trace {
        match line {
            Line::Phase(p) => phase = p.clone(),
            Line::Hit(h) if !h.ret => {
                let stack = stacks.entry(h.pid).or_default();
                out.push(KCall {
                    key: h.key.clone(),
                    function: function_of(&h.key),
                    args: h.args.clone(),
                    ret: None,
                    parent: stack.last().copied(),
                    phase: phase.clone(),
                    pid: h.pid,
                });
                stack.push(out.len() - 1);
            }
            Line::Hit(h) => {
                let stack = stacks.entry(h.pid).or_default();
                if let Some(pos) = stack.iter().rposition(|&i| out[i].key == h.key) {
                    let idx = stack[pos];
                    stack.truncate(pos);
                    out[idx].ret = Some(h.args.clone());
                }
            }
        }
    }
    out
}

/// Which kernel calls make up one step of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepSource {
    /// Every call of a guest phase.
    Phase(&'static str),
    /// The `dma_buf_dynamic_attach()` of an `IOMMU_IOAS_MAP_FILE` phase, and what came before.
    Attach(&'static str),
    /// What the `IOMMU_IOAS_MAP_FILE` phase did after its `dma_buf_dynamic_attach()`.
    Map(&'static str),
    /// The `n`-th call of `vfio_pci_dma_buf_move()` in a phase, with what it called (a
    /// `VFIO_DEVICE_RESET` revokes, resets and un-revokes in one ioctl).
    Move(&'static str, usize),
    /// Nothing the kernel or the guest can show (a device access inside a reset window).
    NotObservable,
}

/// A device access the guest made (edu's DMA engine) and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The guest phase.
    pub phase: String,
    /// What the guest saw: the write reached the BAR, or an IOMMU fault was logged.
    pub outcome: Option<AccessOutcome>,
    /// The guest's lines about it.
    pub evidence: Vec<String>,
}

/// Reads the guest's DMA reports: `dma WHEN: WRITE ARRIVED`, and DMAR faults it saw in the
/// kernel log right after.
pub fn accesses(console: &Console) -> Vec<Access> {
    let mut out: Vec<Access> = Vec::new();
    let mut phase = String::from("boot");
    for l in &console.guest {
        if let Some(p) = l.strip_prefix("phase ") {
            phase = p.trim().to_string();
            continue;
        }
        if !l.starts_with("dma ") {
            continue;
        }
        if out.last().is_none_or(|a| a.phase != phase) {
            out.push(Access {
                phase: phase.clone(),
                outcome: None,
                evidence: Vec::new(),
            });
        }
        if let Some(a) = out.last_mut() {
            a.evidence.push(l.clone());
        }
    }
    for a in &mut out {
        let arrived = a.evidence.iter().any(|l| l.ends_with(": WRITE ARRIVED"));
        let refused = a.evidence.iter().any(|l| l.ends_with(": NO WRITE ARRIVED"));
        let fault = a
            .evidence
            .iter()
            .any(|l| l.contains("DMAR") && l.contains("fault"));
        a.outcome = if arrived {
            Some(AccessOutcome::Ok)
        } else if refused && fault {
            Some(AccessOutcome::NoMapping)
        } else {
            None
        };
    }
    out
}

/// Kernel reports the guest saw in the log during a phase that no probe records: lockdep
/// (`WARNING: possible circular locking dependency detected`), `BUG:` lines. A `WARN()`'s own
/// `WARNING: CPU: ...` line is left out: the `__warn` probe records it.
pub fn kernel_reports(console: &Console) -> Vec<(String, String)> {
    console
        .guest
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("kmsg in ")?;
            let (phase, msg) = rest.split_once(": ")?;
            let msg = msg.trim();
            ((msg.starts_with("WARNING:") && !msg.starts_with("WARNING: CPU:"))
                || msg.starts_with("BUG:"))
            .then(|| (phase.to_string(), msg.to_string()))
        })
        .collect()
}

fn is_err_ptr(v: i64) -> bool {
    (-4095..0).contains(&v)
}

fn ret_code(v: i64) -> Ret {
    if v < 0 {
        Errno::from_kernel(v).map_or(Ret::Int(v), Ret::Err)
    } else {
        Ret::Int(v)
    }
}

fn arg(c: &KCall, name: &str) -> Option<i64> {
    c.args.get(name).and_then(|v| value(v))
}

fn ret(c: &KCall) -> Option<i64> {
    c.ret.as_ref()?.get("ret").and_then(|v| value(v))
}

/// Names buffers and attachments and tracks the lock, pins and mappings while mapping.
#[derive(Default)]
struct Names {
    bufs: Vec<(i64, BufId)>,
    atts: HashMap<i64, AttId>,
    next_att: u32,
    held: HashMap<BufId, bool>,
    pins: HashMap<AttId, u32>,
    maps: HashMap<AttId, u32>,
}

impl Names {
    fn buf(&mut self, ptr: i64) -> BufId {
        if let Some((_, b)) = self.bufs.iter().find(|(p, _)| *p == ptr) {
            return *b;
        }
        let b = BufId(self.bufs.len() as u32);
        self.bufs.push((ptr, b));
        b
    }

    /// The buffer whose `struct dma_resv` is at `resv`: dma_buf_export() places it right
    /// after the `struct dma_buf` (`&dmabuf[1]`), so it is the nearest buffer below it.
    fn buf_of_resv(&self, resv: i64) -> Option<BufId> {
        self.bufs
            .iter()
            .filter(|(p, _)| *p <= resv && resv - *p < 4096)
            .max_by_key(|(p, _)| *p)
            .map(|(_, b)| *b)
    }

    /// A new attachment at `ptr` (which may be the address of a freed one).
    fn fresh_att(&mut self, ptr: i64) -> AttId {
        self.atts.remove(&ptr);
        self.att(ptr)
    }

    fn att(&mut self, ptr: i64) -> AttId {
        if let Some(a) = self.atts.get(&ptr) {
            return *a;
        }
        let a = AttId(self.next_att);
        self.next_att += 1;
        self.atts.insert(ptr, a);
        a
    }
}

/// The attachment pointer a `dma_buf_dynamic_attach` call made: its return, or the one its
/// `ops.attach` saw when it failed.
fn attach_ptr(all: &[KCall], idx: usize) -> Option<i64> {
    match ret(&all[idx]) {
        Some(p) if !is_err_ptr(p) && p != 0 => Some(p),
        _ => all
            .iter()
            .enumerate()
            .skip(idx + 1)
            .find(|(_, c)| c.parent == Some(idx) && c.key == "opsattach")
            .and_then(|(_, c)| arg(c, "att")),
    }
}

/// The attachment an iommufd frame (`iopt_map_dmabuf`, `iopt_release_pages`) works on: the
/// first attachment any call inside it names.
fn frame_att(all: &[KCall], frame: usize) -> Option<i64> {
    all.iter()
        .enumerate()
        .skip(frame + 1)
        .filter(|(i, _)| ancestors(all, *i).any(|a| a == frame))
        .find_map(|(i, c)| match c.key.as_str() {
            "dattach" => attach_ptr(all, i),
            _ => arg(c, "att"),
        })
}

/// The kernel calls (indices into `all`) a step's source stands for.
pub fn select(all: &[KCall], src: StepSource) -> Vec<usize> {
    match src {
        StepSource::Phase(p) => (0..all.len()).filter(|&i| all[i].phase == p).collect(),
        StepSource::Attach(p) | StepSource::Map(p) => {
            let in_phase: Vec<usize> = (0..all.len()).filter(|&i| all[i].phase == p).collect();
            let attach_end = in_phase
                .iter()
                .position(|&i| all[i].key == "dattach")
                .map(|pos| {
                    let d = in_phase[pos];
                    in_phase
                        .iter()
                        .rposition(|&i| i == d || ancestors(all, i).any(|a| a == d))
                        .unwrap_or(pos)
                });
            match (src, attach_end) {
                (StepSource::Attach(_), Some(end)) => in_phase[..=end].to_vec(),
                (StepSource::Map(_), Some(end)) => in_phase[end + 1..].to_vec(),
                _ => Vec::new(),
            }
        }
        StepSource::Move(p, n) => {
            let Some(m) = (0..all.len())
                .filter(|&i| all[i].phase == p && all[i].key == "move")
                .nth(n)
            else {
                return Vec::new();
            };
            (m..all.len())
                .filter(|&i| i == m || ancestors(all, i).any(|a| a == m))
                .collect()
        }
        StepSource::NotObservable => Vec::new(),
    }
}

/// The enclosing traced calls of `idx`, innermost first.
pub fn ancestors(all: &[KCall], idx: usize) -> impl Iterator<Item = usize> + '_ {
    std::iter::successors(all[idx].parent, move |&p| all[p].parent)
}

/// Builds the suite's trace for a case whose steps come from `steps`. Returns the trace
/// and, per step, the kernel calls that were left out because the trace format has no
/// event for them (the private interconnect, the IOMMU unmaps).
pub fn trace_for(
    all: &[KCall],
    accesses: &[Access],
    reports: &[(String, String)],
    steps: &[StepSource],
) -> (Trace, Vec<Vec<String>>) {
    let mut names = Names::default();
    let mut events: Vec<Event> = Vec::new();
    let mut emitted: HashMap<usize, bool> = HashMap::new();
    let mut unmapped: Vec<Vec<String>> = vec![Vec::new(); steps.len()];
    for (step, src) in steps.iter().enumerate() {
        let chosen = select(all, *src);
        for i in chosen {
            let ev = map_one(all, i, &mut names);
            match ev {
                Some((from, to, call, r)) => {
                    let depth = ancestors(all, i)
                        .filter(|a| emitted.get(a).copied().unwrap_or(false))
                        .count() as u32;
                    let buf = call_buf(&call, &names);
                    let locked = buf.is_some_and(|b| names.held.get(&b).copied().unwrap_or(false));
                    update_state(&call, r.as_ref(), &mut names);
                    events.push(Event {
                        step,
                        depth,
                        from,
                        to,
                        call,
                        locked,
                        ret: r,
                    });
                    emitted.insert(i, true);
                }
                None => {
                    if matches!(
                        all[i].key.as_str(),
                        "privmap" | "domunmap" | "iommuunmap" | "map" | "unmap"
                    ) {
                        unmapped[step].push(render_kcall(all, i));
                    }
                }
            }
        }
        if let StepSource::Phase(p) | StepSource::Map(p) = *src {
            for (_, what) in reports.iter().filter(|(ph, _)| ph == p) {
                events.push(Event {
                    step,
                    depth: 0,
                    from: Actor::Core,
                    to: Actor::Core,
                    call: Call::Warn { what: what.clone() },
                    locked: false,
                    ret: Some(Ret::Void),
                });
            }
        }
        if let StepSource::Phase(p) = *src {
            for a in accesses.iter().filter(|a| a.phase == p) {
                let Some(outcome) = a.outcome else { continue };
                let att = names.atts.values().max().copied().unwrap_or(AttId(0));
                events.push(Event {
                    step,
                    depth: 0,
                    from: Actor::Importer(att),
                    to: Actor::Device(att),
                    call: Call::DmaAccess {
                        att,
                        sgt: None,
                        write: true,
                        job: None,
                    },
                    locked: false,
                    ret: Some(Ret::Access(outcome)),
                });
            }
        }
    }
    (
        Trace {
            events,
            hung_at: None,
            crashed: None,
        },
        unmapped,
    )
}

fn call_buf(call: &Call, names: &Names) -> Option<BufId> {
    let att_buf = |_a: &AttId| names.bufs.first().map(|(_, b)| *b);
    match call {
        Call::DmaBufExport { buf }
        | Call::DmaBufDynamicAttach { buf, .. }
        | Call::DmaBufDetach { buf, .. }
        | Call::DmaBufInvalidateMappings { buf }
        | Call::DmaResvLock { buf }
        | Call::DmaResvUnlock { buf }
        | Call::DmaResvWaitTimeout { buf, .. }
        | Call::WaitForUnmap { buf }
        | Call::OpsRelease { buf } => Some(*buf),
        Call::DmaBufPin { att }
        | Call::DmaBufUnpin { att }
        | Call::DmaBufMapAttachment { att }
        | Call::DmaBufUnmapAttachment { att, .. }
        | Call::DmaBufAttachRevocable { att }
        | Call::OpsAttach { att }
        | Call::OpsMapDmaBuf { att }
        | Call::OpsUnmapDmaBuf { att, .. }
        | Call::VfioPciDmaBufIommufdMap { att }
        | Call::IommuUnmap { att }
        | Call::InvalidateMappings { att } => att_buf(att),
        _ => None,
    }
}

fn update_state(call: &Call, r: Option<&Ret>, names: &mut Names) {
    match (call, r) {
        (Call::DmaResvLock { buf }, Some(Ret::Void)) => {
            names.held.insert(*buf, true);
        }
        (Call::DmaResvUnlock { buf }, _) => {
            names.held.insert(*buf, false);
        }
        (Call::DmaBufPin { att }, Some(Ret::Int(0))) => *names.pins.entry(*att).or_default() += 1,
        (Call::DmaBufUnpin { att }, _) => {
            let p = names.pins.entry(*att).or_default();
            *p = p.saturating_sub(1);
        }
        (Call::DmaBufMapAttachment { att }, Some(Ret::Int(_))) => {
            *names.maps.entry(*att).or_default() += 1
        }
        (Call::DmaBufUnmapAttachment { att, .. }, _) => {
            let m = names.maps.entry(*att).or_default();
            *m = m.saturating_sub(1);
        }
        (Call::DmaBufDetach { att, .. }, _) => {
            names.atts.retain(|_, a| a != att);
        }
        _ => {}
    }
}

/// The kernel call as a line of the raw trace: `dma_buf_pin(att=0x...) = 0`.
pub fn render_kcall(all: &[KCall], i: usize) -> String {
    let c = &all[i];
    let args: Vec<String> = c.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let r = match &c.ret {
        Some(m) => match m.get("ret") {
            Some(v) => format!(" = {v}"),
            None => String::new(),
        },
        None => " (no return seen)".into(),
    };
    format!("{}({}){r}", c.function, args.join(", "))
}

/// Who calls a lock, an unlock or a wait: the exporter inside its revoke or export path, the
/// importer inside iommufd's import or release, the core inside its own functions.
fn caller(all: &[KCall], i: usize, names: &mut Names, buf: BufId) -> Actor {
    for a in ancestors(all, i) {
        match all[a].key.as_str() {
            "move" | "cleanup" | "export" => return Actor::Exporter(buf),
            "ioptmap" | "ioptrelease" | "notify" => {
                return frame_att(all, a).map_or(Actor::Core, |p| Actor::Importer(names.att(p)));
            }
            "dattach" | "detach" | "pin" | "unpin" | "map" | "unmap" | "inval" => {
                return Actor::Core;
            }
            _ => {}
        }
    }
    // A top-level lock in the export ioctl is VFIO's (vfio_pci_core_feature_dma_buf()).
    if all[i].phase == "export" {
        Actor::Exporter(buf)
    } else {
        Actor::Core
    }
}

type Mapped = (Actor, Actor, Call, Option<Ret>);

fn map_one(all: &[KCall], i: usize, names: &mut Names) -> Option<Mapped> {
    let c = &all[i];
    let r = ret(c);
    let first_buf = names.bufs.first().map(|(_, b)| *b);
    let void = c.ret.as_ref().map(|_| Ret::Void);
    let code = r.map(ret_code);
    let ptr_ret = r.map(|p| {
        if is_err_ptr(p) {
            ret_code(p)
        } else {
            Ret::Int(0)
        }
    });
    Some(match c.key.as_str() {
        "export" => {
            let buf = names.buf(r.filter(|p| !is_err_ptr(*p))?);
            (
                Actor::Exporter(buf),
                Actor::Core,
                Call::DmaBufExport { buf },
                ptr_ret,
            )
        }
        "dattach" => {
            let buf = names.buf(arg(c, "buf")?);
            let att = names.fresh_att(attach_ptr(all, i)?);
            (
                Actor::Importer(att),
                Actor::Core,
                Call::DmaBufDynamicAttach {
                    buf,
                    att,
                    allow_peer2peer: arg(c, "p2p").unwrap_or(0) != 0,
                    invalidate_mappings: arg(c, "inv").unwrap_or(0) != 0,
                },
                ptr_ret,
            )
        }
        "opsattach" => {
            let buf = names.buf(arg(c, "buf")?);
            let att = names.att(arg(c, "att")?);
            (
                Actor::Core,
                Actor::Exporter(buf),
                Call::OpsAttach { att },
                code,
            )
        }
        "revocable" => {
            let att = names.att(arg(c, "att")?);
            (
                Actor::Exporter(first_buf?),
                Actor::Core,
                Call::DmaBufAttachRevocable { att },
                r.map(|v| Ret::Bool(v & 0xff != 0)),
            )
        }
        "pin" | "unpin" | "map" | "unmap" | "detach" => {
            let att = names.att(arg(c, "att")?);
            let call = match c.key.as_str() {
                "pin" => Call::DmaBufPin { att },
                "unpin" => Call::DmaBufUnpin { att },
                // iommufd never maps through the core; these would be another importer's.
                "map" | "unmap" => return None,
                _ => Call::DmaBufDetach {
                    buf: names.buf(arg(c, "buf")?),
                    att,
                    pins: names.pins.get(&att).copied().unwrap_or(0),
                    mappings: names.maps.get(&att).copied().unwrap_or(0),
                },
            };
            let r = if c.key == "pin" { code } else { void };
            (Actor::Importer(att), Actor::Core, call, r)
        }
        "opsmap" | "opsunmap" => {
            let att = names.att(arg(c, "att")?);
            let buf = first_buf?;
            let (call, r) = if c.key == "opsmap" {
                (Call::OpsMapDmaBuf { att }, ptr_ret)
            } else {
                (
                    Call::OpsUnmapDmaBuf {
                        att,
                        sgt: reference_impl::SgtId(0),
                    },
                    void,
                )
            };
            (Actor::Core, Actor::Exporter(buf), call, r)
        }
        "privmap" => {
            let att = names.att(arg(c, "att")?);
            let r = r.map(|v| {
                if v < 0 {
                    ret_code(v)
                } else {
                    Ret::Sgt(reference_impl::SgtId(0))
                }
            });
            (
                Actor::Importer(att),
                Actor::Exporter(first_buf?),
                Call::VfioPciDmaBufIommufdMap { att },
                r,
            )
        }
        "iommuunmap" => {
            // The attachment of the iommufd frame it runs in: the revoke callback, or the
            // release of the pages.
            let frame = ancestors(all, i)
                .find(|&a| matches!(all[a].key.as_str(), "notify" | "ioptrelease" | "ioptmap"))?;
            let att = match all[frame].key.as_str() {
                "notify" => names.att(arg(&all[frame], "att")?),
                _ => names.att(frame_att(all, frame)?),
            };
            (
                Actor::Importer(att),
                Actor::Device(att),
                Call::IommuUnmap { att },
                void,
            )
        }
        "inval" => {
            let buf = names.buf(arg(c, "buf")?);
            (
                Actor::Exporter(buf),
                Actor::Core,
                Call::DmaBufInvalidateMappings { buf },
                void,
            )
        }
        "notify" => {
            let att = names.att(arg(c, "att")?);
            (
                Actor::Core,
                Actor::Importer(att),
                Call::InvalidateMappings { att },
                void,
            )
        }
        "wait" => {
            let buf = names.buf_of_resv(arg(c, "obj")?)?;
            let usage = match arg(c, "usage")? {
                0 => DmaResvUsage::Kernel,
                1 => DmaResvUsage::Write,
                2 => DmaResvUsage::Read,
                _ => DmaResvUsage::Bookkeep,
            };
            let t = arg(c, "timeout")?;
            let timeout = if t == i64::MAX {
                Timeout::Max
            } else {
                Timeout::Jiffies(t.clamp(0, u32::MAX as i64) as u32)
            };
            let from = caller(all, i, names, buf);
            (
                from,
                Actor::Core,
                Call::DmaResvWaitTimeout {
                    buf,
                    usage,
                    intr: arg(c, "intr").unwrap_or(0) != 0,
                    timeout,
                },
                code,
            )
        }
        "lock" | "locki" | "unlock" => {
            let buf = names.buf_of_resv(arg(c, "lock")?)?;
            let from = caller(all, i, names, buf);
            let call = if c.key == "unlock" {
                Call::DmaResvUnlock { buf }
            } else {
                Call::DmaResvLock { buf }
            };
            let r = match (c.key.as_str(), r) {
                ("unlock", _) => void,
                (_, Some(0)) => Some(Ret::Void),
                (_, other) => other.map(ret_code),
            };
            (from, Actor::Core, call, r)
        }
        "wfc" => {
            let parent = c.parent?;
            if all[parent].key != "move" {
                return None;
            }
            let buf = first_buf?;
            (
                Actor::Exporter(buf),
                Actor::Core,
                Call::WaitForUnmap { buf },
                void,
            )
        }
        "release" => {
            let buf = names.buf(arg(c, "buf")?);
            (
                Actor::Core,
                Actor::Exporter(buf),
                Call::OpsRelease { buf },
                void,
            )
        }
        "warn" => (
            Actor::Core,
            Actor::Core,
            Call::Warn {
                what: format!(
                    "{}:{}",
                    c.args.get("file").map_or("?", |s| s.as_str()),
                    c.args.get("line").map_or("?", |s| s.as_str())
                ),
            },
            void,
        ),
        _ => return None,
    })
}
