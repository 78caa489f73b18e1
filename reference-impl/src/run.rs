//! Runs a scenario's steps on the model, with each role played by a driver.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::book::{invalidation, map_pin, revocation};
use crate::{
    Actor, AttId, BufId, Exporter, ExporterKind, Importer, ImporterKind, Kernel, SchedPoint,
    Scheduler, Step, Trace,
};

/// Who plays each role: a factory per role, so a shim can replace one of them.
pub struct Roles {
    /// Builds the exporter of `buf`.
    pub exporter: Box<dyn Fn(ExporterKind, BufId) -> Rc<dyn Exporter>>,
    /// Builds the importer owning `att`.
    pub importer: Box<dyn Fn(ImporterKind, AttId) -> Rc<dyn Importer>>,
    /// Builds the core.
    pub core: Box<dyn Fn() -> Rc<dyn crate::DmaBufCore>>,
}

impl Roles {
    /// Every role played by the book's reference drivers.
    pub fn reference() -> Roles {
        Roles {
            exporter: Box::new(|kind, buf| -> Rc<dyn Exporter> {
                match kind {
                    ExporterKind::Vfio => Rc::new(revocation::VfioExporter::new(buf)),
                    ExporterKind::Gpu => Rc::new(invalidation::GpuExporter::new(buf)),
                }
            }),
            importer: Box::new(|kind, att| -> Rc<dyn Importer> {
                match kind {
                    ImporterKind::Static => Rc::new(map_pin::StaticImporter::new(att)),
                    ImporterKind::Dynamic => Rc::new(invalidation::GpuImporter::new(att)),
                    ImporterKind::Iommufd => Rc::new(revocation::IommufdImporter::new(att)),
                    ImporterKind::Rdma => Rc::new(revocation::RdmaPinnedImporter::new(att)),
                }
            }),
            core: Box::new(|| Rc::new(crate::ReferenceCore)),
        }
    }
}

impl Roles {
    /// The reference roles, with `stand_in` playing the exporter wherever it builds one.
    pub fn with_exporter(
        stand_in: impl Fn(ExporterKind, BufId) -> Option<Rc<dyn Exporter>> + 'static,
    ) -> Roles {
        let reference = Roles::reference();
        let fallback = reference.exporter;
        Roles {
            exporter: Box::new(move |kind, buf| {
                stand_in(kind, buf).unwrap_or_else(|| fallback(kind, buf))
            }),
            ..reference
        }
    }

    /// The reference roles, with `stand_in` playing the importer wherever it builds one.
    pub fn with_importer(
        stand_in: impl Fn(ImporterKind, AttId) -> Option<Rc<dyn Importer>> + 'static,
    ) -> Roles {
        let reference = Roles::reference();
        let fallback = reference.importer;
        Roles {
            importer: Box::new(move |kind, att| {
                stand_in(kind, att).unwrap_or_else(|| fallback(kind, att))
            }),
            ..reference
        }
    }
}

/// The interleaving of [`Step::AttachDuringEviction`]: once an attachment of `buf` is linked
/// and the reservation lock dropped, the exporter, on another thread, takes the lock and
/// invalidates, before the attaching importer runs again. This is the interleaving that
/// catches an importer not yet initialised when it attaches.
fn evict_once_linked(buf: BufId) -> Scheduler {
    let (mut linked, mut done) = (false, false);
    Box::new(move |k, point| match point {
        SchedPoint::Linked { buf: b, .. } if b == buf => linked = true,
        SchedPoint::Unlocked { buf: b } if b == buf && linked && !done => {
            done = true;
            k.harness().as_actor(Actor::Exporter(buf), || {
                k.dma_resv_lock(buf);
                k.dma_buf_invalidate_mappings(buf);
                k.dma_resv_unlock(buf);
            });
        }
        _ => {}
    })
}

/// Runs `steps` with the reference drivers.
pub fn run_reference(steps: &[Step]) -> Result<Trace, String> {
    run_with(&Roles::reference(), steps)
}

/// Runs `steps` with the given roles. A scenario that names a buffer or attachment before
/// creating it is an error; a call that never returns stops the run (see [`Trace::hung_at`]).
pub fn run_with(roles: &Roles, steps: &[Step]) -> Result<Trace, String> {
    let k = Kernel::with_core((roles.core)());
    let run = StepRunner::new(roles, steps.to_vec());
    let h = k.harness();
    for i in 0..steps.len() {
        let (actor, f) = run.prepare(&k, i, true)?;
        if !h.run_step(i, actor, || f(&k)) {
            break;
        }
    }
    Ok(h.trace())
}

/// What runs the steps of one scenario: the roles, and the drivers built so far, by buffer
/// and attachment.
pub(crate) struct StepRunner<R> {
    roles: R,
    pub(crate) steps: Vec<Step>,
    exporters: RefCell<BTreeMap<BufId, Rc<dyn Exporter>>>,
    importers: RefCell<BTreeMap<AttId, Rc<dyn Importer>>>,
}

/// A step ready to run: its actor and what it does.
pub(crate) type Prepared = (Actor, Box<dyn FnOnce(&Kernel)>);

impl<R: std::ops::Deref<Target = Roles>> StepRunner<R> {
    pub(crate) fn new(roles: R, steps: Vec<Step>) -> Self {
        StepRunner {
            roles,
            steps,
            exporters: RefCell::default(),
            importers: RefCell::default(),
        }
    }

    /// Builds the drivers step `i` creates and returns what runs it. `evictions`: whether
    /// [`Step::AttachDuringEviction`] installs its own interleaving (not under a schedule).
    pub(crate) fn prepare(
        &self,
        k: &Kernel,
        i: usize,
        evictions: bool,
    ) -> Result<Prepared, String> {
        let (roles, step) = (&*self.roles, &self.steps[i]);
        let h = k.harness();
        let exp = |buf: &BufId| {
            self.exporters
                .borrow()
                .get(buf)
                .cloned()
                .ok_or_else(|| format!("step {i} ({step}): {buf} was never exported"))
        };
        let imp = |att: &AttId| {
            self.importers
                .borrow()
                .get(att)
                .cloned()
                .ok_or_else(|| format!("step {i} ({step}): {att} was never attached"))
        };
        let f: Box<dyn FnOnce(&Kernel)> = match step {
            Step::Export { buf, exporter } => {
                if self.exporters.borrow().contains_key(buf) {
                    return Err(format!("step {i}: {buf} is exported twice"));
                }
                let e = (roles.exporter)(*exporter, *buf);
                h.register_exporter(*buf, e.clone());
                self.exporters.borrow_mut().insert(*buf, e.clone());
                Box::new(move |k| {
                    let _ = e.export(k);
                })
            }
            Step::Attach { att, buf, importer }
            | Step::AttachDuringEviction { att, buf, importer } => {
                if self.importers.borrow().contains_key(att) {
                    return Err(format!("step {i}: {att} is attached twice"));
                }
                exp(buf)?;
                let d = (roles.importer)(*importer, *att);
                h.register_importer(*att, d.clone());
                self.importers.borrow_mut().insert(*att, d.clone());
                if matches!(step, Step::AttachDuringEviction { .. }) {
                    if !evictions {
                        return Err(format!(
                            "step {i}: attach_during_eviction has its own interleaving; under a \
                             schedule write the eviction as a step on another thread"
                        ));
                    }
                    h.set_scheduler(Some(evict_once_linked(*buf)));
                }
                let buf = *buf;
                Box::new(move |k| {
                    let _ = d.attach(k, buf);
                })
            }
            Step::Map { att } => {
                let d = imp(att)?;
                Box::new(move |k| {
                    let _ = d.map(k);
                })
            }
            Step::Access { att, write } => {
                let (d, write) = (imp(att)?, *write);
                Box::new(move |k| d.access(k, write))
            }
            Step::Submit { att, write } => {
                let (d, write) = (imp(att)?, *write);
                Box::new(move |k| d.submit(k, write))
            }
            Step::Unmap { att } => {
                let d = imp(att)?;
                Box::new(move |k| d.unmap(k))
            }
            Step::Detach { att } => {
                let d = imp(att)?;
                Box::new(move |k| d.detach(k))
            }
            Step::Vmap { att } => {
                let d = imp(att)?;
                Box::new(move |k| d.vmap(k))
            }
            Step::VmapHold { att } => {
                let d = imp(att)?;
                Box::new(move |k| d.vmap_hold(k))
            }
            Step::Vunmap { att } => {
                let d = imp(att)?;
                Box::new(move |k| d.vunmap(k))
            }
            Step::Mmap { buf } => {
                exp(buf)?;
                let buf = *buf;
                Box::new(move |k| {
                    let _ = k.dma_buf_mmap(buf);
                })
            }
            Step::Revoke { buf } => {
                let e = exp(buf)?;
                Box::new(move |k| e.revoke(k))
            }
            Step::Restore { buf } => {
                let e = exp(buf)?;
                Box::new(move |k| e.restore(k))
            }
            Step::Move { buf } => {
                let e = exp(buf)?;
                Box::new(move |k| e.move_buffer(k))
            }
            Step::Reclaim { buf } => {
                let e = exp(buf)?;
                Box::new(move |k| e.reclaim(k))
            }
            Step::ExporterFence { buf, usage, stuck } => {
                let (e, usage, completes) = (exp(buf)?, *usage, !*stuck);
                Box::new(move |k| e.add_own_fence(k, usage, completes))
            }
            Step::Put { buf } => {
                let e = exp(buf)?;
                Box::new(move |k| e.put(k))
            }
            Step::Complete => Box::new(move |k| k.harness().complete_all()),
            Step::Signal { buf } => {
                exp(buf)?;
                let buf = *buf;
                Box::new(move |k| k.harness().signal(buf))
            }
        };
        Ok((step.actor(), f))
    }
}
