//! Every message of protocol version [`VERSION`], as Rust types. The JSON Schema committed as
//! `conformance/schema/shim-protocol.schema.json` is generated from these.

use reference_impl::{AttId, BufId, DmaResvUsage, Role, SgtId, Timeout};

pub use crate::api::KernelCall;
use serde::{Deserialize, Serialize};

/// The newest protocol version this crate speaks: 2, concurrent calls (one call in flight
/// per scenario thread, every `call`, `ret`, `kcall` and `kret` naming its `thread`).
pub const VERSION: u32 = 2;

/// Every version this crate speaks, newest first: what the harness offers in its hello.
/// Version 1 has one call in flight at a time (calls nest like a stack, no `thread`).
pub const VERSIONS: [u32; 2] = [2, 1];

/// The protocol version that added concurrent calls (`thread` on every call and kernel call).
pub const CONCURRENT: u32 = 2;

/// The longest line either side may send, newline included: 1 MiB.
pub const MAX_LINE: usize = 1 << 20;

/// A message from the harness to the shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToShim {
    /// The harness's first message: the protocol versions it speaks.
    Hello {
        /// Versions the harness speaks; the shim picks one.
        versions: Vec<u32>,
        /// The suite's version.
        suite: String,
    },
    /// A case begins: drop every object of the previous case and answer `ready`.
    Case {
        /// The case variant's name (`revoke_around_reset[iommufd]`).
        name: String,
    },
    /// A call into the shim's role.
    Call {
        /// Increasing within a session; the shim's `ret` repeats it.
        id: u64,
        /// The scenario thread the call runs on (version 2; absent in version 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// The operation.
        call: ShimCall,
    },
    /// The return value of the shim's kernel call `id`.
    Kret {
        /// The `kcall`'s id.
        id: u64,
        /// The thread that made the kernel call (version 2; absent in version 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// Its return value (see the book for the encoding).
        ret: serde_json::Value,
    },
    /// The session ends; the shim exits with status 0.
    Bye {
        /// Why the harness ends the session early, if it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// A message from the shim to the harness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FromShim {
    /// The shim's answer to the harness's hello.
    Hello {
        /// The version it chose among those offered.
        version: u32,
        /// Its name in reports.
        name: String,
        /// `exporter` or `importer`.
        role: String,
        /// The reference profiles it stands in for.
        plays: Vec<String>,
        /// What it can do: capabilities of the profiles it plays.
        #[serde(default)]
        capabilities: Vec<String>,
        /// One line on what it wraps.
        #[serde(default)]
        description: String,
        /// Its own version (the driver's release or revision), recorded in the results.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shim_version: Option<String>,
    },
    /// The shim is ready for the case announced.
    Ready {},
    /// The return value of the harness's call `id`.
    Ret {
        /// The call's id.
        id: u64,
        /// The thread the call ran on, as the `call` named it (version 2; absent in
        /// version 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// Its return value.
        ret: serde_json::Value,
    },
    /// A call into the kernel, made while the shim handles a call.
    Kcall {
        /// Chosen by the shim; the harness's `kret` repeats it.
        id: u64,
        /// The thread making it: the thread of the call it is made in (version 2; absent in
        /// version 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// The kernel function.
        call: KernelCall,
    },
}

/// The role a shim says it plays in its hello, if the harness knows it.
pub fn role_named(name: &str) -> Option<Role> {
    match name {
        "exporter" => Some(Role::Exporter),
        "importer" => Some(Role::Importer),
        _ => None,
    }
}

/// A call from the harness into an exporter or an importer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ShimCall {
    /// To an exporter.
    Exporter(ExporterCall),
    /// To an importer.
    Importer(ImporterCall),
}

/// A call into an exporter: its `struct dma_buf_ops`, then the driver's own actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "fn", rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)] // Named after the ops; the book's table documents each.
pub enum ExporterCall {
    /// Create the instance exporting `buf`; returns the names of the ops that are set.
    New {
        buf: BufId,
    },
    Attach {
        buf: BufId,
        att: AttId,
    },
    Detach {
        buf: BufId,
        att: AttId,
    },
    Pin {
        buf: BufId,
        att: AttId,
    },
    Unpin {
        buf: BufId,
        att: AttId,
    },
    MapDmaBuf {
        buf: BufId,
        att: AttId,
    },
    UnmapDmaBuf {
        buf: BufId,
        att: AttId,
        sgt: SgtId,
    },
    Vmap {
        buf: BufId,
    },
    Vunmap {
        buf: BufId,
    },
    Mmap {
        buf: BufId,
    },
    Release {
        buf: BufId,
    },
    Export {
        buf: BufId,
    },
    Revoke {
        buf: BufId,
    },
    Restore {
        buf: BufId,
    },
    MoveBuffer {
        buf: BufId,
    },
    Reclaim {
        buf: BufId,
    },
    AddOwnFence {
        buf: BufId,
        usage: DmaResvUsage,
        completes: bool,
    },
    Put {
        buf: BufId,
    },
}

/// A call into an importer: its `struct dma_buf_attach_ops`, then the driver's own actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "fn", rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)] // Named after the ops; the book's table documents each.
pub enum ImporterCall {
    /// Create the instance owning `att`; returns `{"allow_peer2peer", "invalidate_mappings"}`.
    New {
        att: AttId,
    },
    InvalidateMappings {
        att: AttId,
    },
    Attach {
        att: AttId,
        buf: BufId,
    },
    Map {
        att: AttId,
    },
    Access {
        att: AttId,
        write: bool,
    },
    Submit {
        att: AttId,
        write: bool,
    },
    Unmap {
        att: AttId,
    },
    Detach {
        att: AttId,
    },
    Vmap {
        att: AttId,
    },
    VmapHold {
        att: AttId,
    },
    Vunmap {
        att: AttId,
    },
}

impl ShimCall {
    /// The operation's name (`map_dma_buf`), for messages.
    pub fn name(&self) -> String {
        fn_name(self)
    }
}

/// The `"fn"` a call is tagged with on the wire.
pub(crate) fn fn_name(call: &impl Serialize) -> String {
    serde_json::to_value(call)
        .ok()
        .and_then(|v| v.get("fn").and_then(|f| f.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// A wait's timeout on the wire: jiffies, or the string `"MAX_SCHEDULE_TIMEOUT"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum WireTimeout {
    /// A bounded wait of this many jiffies.
    Jiffies(u32),
    /// `MAX_SCHEDULE_TIMEOUT`.
    Max(MaxScheduleTimeout),
}

/// The string `"MAX_SCHEDULE_TIMEOUT"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum MaxScheduleTimeout {
    /// `MAX_SCHEDULE_TIMEOUT`
    #[serde(rename = "MAX_SCHEDULE_TIMEOUT")]
    MaxScheduleTimeout,
}

impl From<WireTimeout> for Timeout {
    fn from(t: WireTimeout) -> Timeout {
        match t {
            WireTimeout::Jiffies(j) => Timeout::Jiffies(j),
            WireTimeout::Max(_) => Timeout::Max,
        }
    }
}

impl From<Timeout> for WireTimeout {
    fn from(t: Timeout) -> WireTimeout {
        match t {
            Timeout::Jiffies(j) => WireTimeout::Jiffies(j),
            Timeout::Max => WireTimeout::Max(MaxScheduleTimeout::MaxScheduleTimeout),
        }
    }
}
