//! `reference-core`: the book's dma-buf core, as a shim of the core role. A developer changing
//! `drivers/dma-buf/dma-buf.c` starts from it.

use std::rc::Rc;

use reference_impl::{ReferenceCore, Shim, ShimRole};

/// The shim.
pub const SHIM: Shim = Shim {
    name: "reference-core",
    description: "the reference dma-buf core (Linux 7.1)",
    role: ShimRole::Core {
        make: || Rc::new(ReferenceCore),
    },
};
