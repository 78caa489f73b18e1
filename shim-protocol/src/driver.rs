//! Drivers written once against [`KernelApi`], so the same code runs in the harness's process
//! ([`LocalExporter`], [`LocalImporter`]) and in a shim process ([`crate::serve`]).

use reference_impl::{
    AttId, BufId, DmaBufAttachOps, DmaBufOps, DmaResvUsage, Errno, Exporter, Importer, Kernel,
    OpsTable, SgtId,
};

use crate::api::KernelApi;

/// An exporter: `struct dma_buf_ops` and the driver's actions, against [`KernelApi`].
/// The defaults are those of the in-process [`Exporter`] trait.
#[allow(missing_docs)] // Each method is the op or action of the same name.
pub trait ExporterDriver {
    fn buf(&self) -> BufId;
    fn table(&self) -> OpsTable;
    fn attach(&self, _k: &dyn KernelApi, _att: AttId) -> Result<(), Errno> {
        Ok(())
    }
    fn detach(&self, _k: &dyn KernelApi, _att: AttId) {}
    fn pin(&self, _k: &dyn KernelApi, _att: AttId) -> Result<(), Errno> {
        Ok(())
    }
    fn unpin(&self, _k: &dyn KernelApi, _att: AttId) {}
    fn map_dma_buf(&self, k: &dyn KernelApi, att: AttId) -> Result<SgtId, Errno>;
    fn unmap_dma_buf(&self, k: &dyn KernelApi, att: AttId, sgt: SgtId);
    fn vmap(&self, _k: &dyn KernelApi) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn vunmap(&self, _k: &dyn KernelApi) {}
    fn mmap(&self, _k: &dyn KernelApi) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn release(&self, _k: &dyn KernelApi) {}
    fn export(&self, k: &dyn KernelApi) -> Result<(), Errno>;
    fn revoke(&self, _k: &dyn KernelApi) {}
    fn restore(&self, _k: &dyn KernelApi) {}
    fn move_buffer(&self, _k: &dyn KernelApi) {}
    fn reclaim(&self, k: &dyn KernelApi) {
        k.reclaim_memory(self.buf());
    }
    fn add_own_fence(&self, k: &dyn KernelApi, usage: DmaResvUsage, completes: bool) {
        let buf = self.buf();
        k.dma_resv_lock(buf);
        let fence = k.dma_fence_create(completes);
        k.dma_resv_add_fence(buf, fence, usage);
        k.dma_resv_unlock(buf);
    }
    fn put(&self, k: &dyn KernelApi) {
        k.dma_buf_put(self.buf());
    }
}

/// An importer: `struct dma_buf_attach_ops` and the driver's actions, against [`KernelApi`].
#[allow(missing_docs)] // Each method is the op or action of the same name.
pub trait ImporterDriver {
    fn att(&self) -> AttId;
    fn allow_peer2peer(&self) -> bool;
    fn has_invalidate_mappings(&self) -> bool;
    fn invalidate_mappings(&self, _k: &dyn KernelApi) {}
    fn attach(&self, k: &dyn KernelApi, buf: BufId) -> Result<(), Errno>;
    fn map(&self, k: &dyn KernelApi) -> Result<(), Errno>;
    fn access(&self, k: &dyn KernelApi, write: bool);
    fn submit(&self, _k: &dyn KernelApi, _write: bool) {}
    fn unmap(&self, k: &dyn KernelApi);
    fn detach(&self, k: &dyn KernelApi);
    fn vmap(&self, _k: &dyn KernelApi) {}
    fn vmap_hold(&self, _k: &dyn KernelApi) {}
    fn vunmap(&self, _k: &dyn KernelApi) {}
}

/// Runs an [`ExporterDriver`] in the harness's process.
pub struct LocalExporter<D>(pub D);

impl<D: ExporterDriver> DmaBufOps for LocalExporter<D> {
    fn table(&self) -> OpsTable {
        self.0.table()
    }
    fn attach(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        self.0.attach(k, att)
    }
    fn detach(&self, k: &Kernel, att: AttId) {
        self.0.detach(k, att)
    }
    fn pin(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        self.0.pin(k, att)
    }
    fn unpin(&self, k: &Kernel, att: AttId) {
        self.0.unpin(k, att)
    }
    fn map_dma_buf(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        self.0.map_dma_buf(k, att)
    }
    fn unmap_dma_buf(&self, k: &Kernel, att: AttId, sgt: SgtId) {
        self.0.unmap_dma_buf(k, att, sgt)
    }
    fn vmap(&self, k: &Kernel) -> Result<(), Errno> {
        self.0.vmap(k)
    }
    fn vunmap(&self, k: &Kernel) {
        self.0.vunmap(k)
    }
    fn mmap(&self, k: &Kernel) -> Result<(), Errno> {
        self.0.mmap(k)
    }
    fn release(&self, k: &Kernel) {
        self.0.release(k)
    }
}

impl<D: ExporterDriver> Exporter for LocalExporter<D> {
    fn buf(&self) -> BufId {
        self.0.buf()
    }
    fn export(&self, k: &Kernel) -> Result<(), Errno> {
        self.0.export(k)
    }
    fn revoke(&self, k: &Kernel) {
        self.0.revoke(k)
    }
    fn restore(&self, k: &Kernel) {
        self.0.restore(k)
    }
    fn move_buffer(&self, k: &Kernel) {
        self.0.move_buffer(k)
    }
    fn reclaim(&self, k: &Kernel) {
        self.0.reclaim(k)
    }
    fn add_own_fence(&self, k: &Kernel, usage: DmaResvUsage, completes: bool) {
        self.0.add_own_fence(k, usage, completes)
    }
    fn put(&self, k: &Kernel) {
        self.0.put(k)
    }
}

/// Runs an [`ImporterDriver`] in the harness's process.
pub struct LocalImporter<D>(pub D);

impl<D: ImporterDriver> DmaBufAttachOps for LocalImporter<D> {
    fn allow_peer2peer(&self) -> bool {
        self.0.allow_peer2peer()
    }
    fn has_invalidate_mappings(&self) -> bool {
        self.0.has_invalidate_mappings()
    }
    fn invalidate_mappings(&self, k: &Kernel, _att: AttId) {
        self.0.invalidate_mappings(k)
    }
}

impl<D: ImporterDriver> Importer for LocalImporter<D> {
    fn att(&self) -> AttId {
        self.0.att()
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        self.0.attach(k, buf)
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        self.0.map(k)
    }
    fn access(&self, k: &Kernel, write: bool) {
        self.0.access(k, write)
    }
    fn submit(&self, k: &Kernel, write: bool) {
        self.0.submit(k, write)
    }
    fn unmap(&self, k: &Kernel) {
        self.0.unmap(k)
    }
    fn detach(&self, k: &Kernel) {
        self.0.detach(k)
    }
    fn vmap(&self, k: &Kernel) {
        self.0.vmap(k)
    }
    fn vmap_hold(&self, k: &Kernel) {
        self.0.vmap_hold(k)
    }
    fn vunmap(&self, k: &Kernel) {
        self.0.vunmap(k)
    }
}

/// The names of the ops set in `table`, as the `new` reply lists them.
pub fn op_names(table: OpsTable) -> Vec<&'static str> {
    let all = [
        ("attach", table.attach),
        ("detach", table.detach),
        ("pin", table.pin),
        ("unpin", table.unpin),
        ("map_dma_buf", table.map_dma_buf),
        ("unmap_dma_buf", table.unmap_dma_buf),
        ("vmap", table.vmap),
        ("vunmap", table.vunmap),
        ("mmap", table.mmap),
        ("release", table.release),
    ];
    all.iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect()
}

/// The ops table a `new` reply describes; `Err` names an entry that is not an op.
pub fn table_of(names: &[String]) -> Result<OpsTable, String> {
    let mut t = OpsTable {
        map_dma_buf: false,
        unmap_dma_buf: false,
        release: false,
        ..OpsTable::MINIMAL
    };
    for n in names {
        let slot = match n.as_str() {
            "attach" => &mut t.attach,
            "detach" => &mut t.detach,
            "pin" => &mut t.pin,
            "unpin" => &mut t.unpin,
            "map_dma_buf" => &mut t.map_dma_buf,
            "unmap_dma_buf" => &mut t.unmap_dma_buf,
            "vmap" => &mut t.vmap,
            "vunmap" => &mut t.vunmap,
            "mmap" => &mut t.mmap,
            "release" => &mut t.release,
            other => return Err(format!("\"{other}\" is not an op of struct dma_buf_ops")),
        };
        *slot = true;
    }
    Ok(t)
}
