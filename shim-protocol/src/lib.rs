//! The wire protocol between the conformance runner (the harness) and a shim running in
//! another process: newline-delimited JSON on the shim's standard input and output.
//!
//! - [`messages`]: every message, as Rust types with a JSON Schema;
//! - [`codec`]: bounded line framing and a decoder that never panics;
//! - [`api`]: the kernel calls on the wire, generated from the kernel API's one list
//!   (`reference_impl::kernel_api!`): the message, the harness's dispatch, the typed client;
//! - [`driver`]: drivers written once, run in process or out of process;
//! - [`serve`]: the shim's side of a session, for shims written in Rust.
//!
//! The book's chapter "Shims in other processes: the wire protocol" is the specification.

pub mod api;
pub mod codec;
pub mod driver;
pub mod messages;
pub mod serve;

pub use api::KernelApi;
pub use driver::{ExporterDriver, ImporterDriver, LocalExporter, LocalImporter};
pub use messages::{
    CONCURRENT, ExporterCall, FromShim, ImporterCall, KernelCall, MAX_LINE, ShimCall, ToShim,
    VERSION, VERSIONS,
};
