//! The model itself detects the failures that matter, whoever causes them.

use std::rc::Rc;

use reference_impl::book::invalidation::GpuImporter;
use reference_impl::book::revocation::VfioExporter;
use reference_impl::{
    AccessOutcome, AttId, BufId, DmaResvUsage, Exporter, Importer, Kernel, Timeout,
};

/// The model itself: an access through memory reclaimed too early is a use-after-free in
/// the trace, whoever caused it.
#[test]
fn the_device_sees_reclaimed_memory_as_use_after_free() {
    let k = Kernel::new();
    let buf = BufId(0);
    let att = AttId(0);
    let exporter = Rc::new(VfioExporter::new(buf));
    k.harness().register_exporter(buf, exporter.clone());
    let importer = Rc::new(GpuImporter::new(att));
    k.harness().register_importer(att, importer.clone());
    assert!(k.harness().run_step(0, reference_impl::Actor::Harness, || {
        exporter.export(&k).expect("export");
        importer.attach(&k, buf).expect("attach");
        importer.submit(&k, true);
        k.reclaim_memory(buf);
        k.dma_resv_lock(buf);
        k.dma_resv_wait_timeout(buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
        k.dma_resv_unlock(buf);
    }));
    let trace = k.harness().trace();
    let outcomes: Vec<_> = trace
        .events
        .iter()
        .filter_map(|e| match &e.ret {
            Some(reference_impl::Ret::Access(o)) => Some(*o),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [AccessOutcome::Reclaimed]);
}
