//! Forwarding for shims that wrap another importer (`inner`) and change only some of what it
//! does. [`reference_impl::Importer`] gives several methods an empty default (a driver without
//! vmap support does nothing), so a wrapper that forgets to forward one silently stops doing
//! it; each wrapper names the methods it forwards in one line, next to those it overrides,
//! and `conforming::tests::forwarding_importers_hold_vmaps` checks the vmap ones on a trace.

/// Methods of [`reference_impl::Importer`] forwarded unchanged to `self.inner`, one name per
/// method: `forward_importer!(map, access, vmap, vmap_hold, vunmap);` inside the `impl`.
macro_rules! forward_importer {
    ($($method:ident),+ $(,)?) => { $(forward_importer!(@one $method);)+ };
    (@one attach) => {
        fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
            self.inner.attach(k, buf)
        }
    };
    (@one map) => {
        fn map(&self, k: &Kernel) -> Result<(), Errno> {
            self.inner.map(k)
        }
    };
    (@one access) => {
        fn access(&self, k: &Kernel, write: bool) {
            self.inner.access(k, write)
        }
    };
    (@one submit) => {
        fn submit(&self, k: &Kernel, write: bool) {
            self.inner.submit(k, write)
        }
    };
    (@one unmap) => {
        fn unmap(&self, k: &Kernel) {
            self.inner.unmap(k)
        }
    };
    (@one detach) => {
        fn detach(&self, k: &Kernel) {
            self.inner.detach(k)
        }
    };
    (@one vmap) => {
        fn vmap(&self, k: &Kernel) {
            self.inner.vmap(k)
        }
    };
    (@one vmap_hold) => {
        fn vmap_hold(&self, k: &Kernel) {
            self.inner.vmap_hold(k)
        }
    };
    (@one vunmap) => {
        fn vunmap(&self, k: &Kernel) {
            self.inner.vunmap(k)
        }
    };
}
