//! `rust-vfio-exporter`: a VFIO-style BAR exporter written once against
//! [`shim_protocol::KernelApi`], so that the very same code runs in the runner's process
//! ([`SHIM`]) and in a shim process of its own (`revoke-conformance serve
//! rust-vfio-exporter`). The test that compares the two traces byte for byte shows that the
//! out-of-process protocol loses nothing.

use std::cell::Cell;
use std::rc::Rc;

use reference_impl::Errno::{ENODEV, EOPNOTSUPP};
use reference_impl::{
    AttId, BufId, DmaResvUsage, Errno, ExporterKind, OpsTable, SgtId, Shim, ShimRole, Timeout,
};
use shim_protocol::serve::Identity;
use shim_protocol::{ExporterDriver, KernelApi, LocalExporter};

/// The exporter of one buffer.
pub struct RustVfio {
    buf: BufId,
    /// `priv->revoked`, written with the reservation lock held.
    revoked: Cell<bool>,
}

impl RustVfio {
    /// The exporter of `buf`.
    pub fn new(buf: BufId) -> Self {
        RustVfio {
            buf,
            revoked: Cell::new(false),
        }
    }

    /// Revoke (`true`) or restore: invalidate under the lock, then wait for the fences and,
    /// on a revoke, for every importer to unmap.
    fn set_revoked(&self, k: &dyn KernelApi, revoked: bool) {
        if self.revoked.get() == revoked {
            return;
        }
        k.dma_resv_lock(self.buf);
        if revoked {
            self.revoked.set(true);
        }
        k.dma_buf_invalidate_mappings(self.buf);
        k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
        k.dma_resv_unlock(self.buf);
        if revoked {
            k.wait_for_unmap(self.buf);
        } else {
            k.dma_resv_lock(self.buf);
            self.revoked.set(false);
            k.dma_resv_unlock(self.buf);
        }
    }
}

impl ExporterDriver for RustVfio {
    fn buf(&self) -> BufId {
        self.buf
    }
    fn table(&self) -> OpsTable {
        OpsTable {
            attach: true,
            ..OpsTable::MINIMAL
        }
    }
    fn attach(&self, k: &dyn KernelApi, att: AttId) -> Result<(), Errno> {
        if !k.attachment(att).peer2peer {
            return Err(EOPNOTSUPP);
        }
        if self.revoked.get() {
            return Err(ENODEV);
        }
        if !k.dma_buf_attach_revocable(att) {
            return Err(EOPNOTSUPP);
        }
        Ok(())
    }
    fn map_dma_buf(&self, k: &dyn KernelApi, att: AttId) -> Result<SgtId, Errno> {
        k.dma_resv_assert_held(self.buf);
        if self.revoked.get() {
            return Err(ENODEV);
        }
        Ok(k.new_sg_table(att))
    }
    fn unmap_dma_buf(&self, k: &dyn KernelApi, _att: AttId, _sgt: SgtId) {
        k.dma_resv_assert_held(self.buf);
    }
    fn export(&self, k: &dyn KernelApi) -> Result<(), Errno> {
        k.dma_buf_export(self.buf)
    }
    /// A reset, under the device's memory lock (`vfio_pci_zap_and_down_write_memory_lock()`).
    fn revoke(&self, k: &dyn KernelApi) {
        k.down_write(self.buf);
        self.set_revoked(k, true);
        k.up_write(self.buf);
    }
    fn restore(&self, k: &dyn KernelApi) {
        k.down_write(self.buf);
        self.set_revoked(k, false);
        k.up_write(self.buf);
    }
    /// `vfio_pci_dma_buf_cleanup()`: the revoke under the memory lock, then the last put.
    fn put(&self, k: &dyn KernelApi) {
        k.down_write(self.buf);
        self.set_revoked(k, true);
        k.up_write(self.buf);
        k.dma_buf_put(self.buf);
    }
}

/// The shim, in process.
pub const SHIM: Shim = Shim {
    name: "rust-vfio-exporter",
    description: "VFIO-style exporter written against the protocol's KernelApi (runs in or out of process)",
    role: ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| Rc::new(LocalExporter(RustVfio::new(buf))),
    },
};

/// What the shim says about itself when it runs out of process.
pub fn identity() -> Identity {
    Identity {
        name: SHIM.name.to_string(),
        role: "exporter".to_string(),
        plays: SHIM.plays().iter().map(|s| s.to_string()).collect(),
        capabilities: SHIM.capabilities().iter().map(|s| s.to_string()).collect(),
        description: SHIM.description.to_string(),
    }
}
