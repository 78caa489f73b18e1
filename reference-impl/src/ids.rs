//! Names of the objects a scenario talks about, printed as a kernel developer would read them.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id!(
    /// A `struct dma_buf`, one per exporter instance (`buf0`).
    BufId,
    "buf"
);
id!(
    /// A `struct dma_buf_attachment`, one per importer instance (`att0`).
    AttId,
    "att"
);
id!(
    /// A `struct sg_table` returned by `map_dma_buf` (`sgt1`).
    SgtId,
    "sgt"
);
id!(
    /// A `struct dma_fence` (`fence1`).
    FenceId,
    "fence"
);
id!(
    /// A job queued on an importer's device (`job1`).
    JobId,
    "job"
);
