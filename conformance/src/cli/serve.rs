//! `serve`: an in-tree Rust shim on the wire protocol, the shim side of `run --shim-cmd`.

use std::rc::Rc;

use shim_protocol::serve::{Factory, Fatal as ServeFatal, Misbehave, serve as serve_on};

use super::{CliError, Exit};

/// `revoke-conformance serve`.
pub(super) fn serve(shim: &str, misbehave: Option<String>) -> Result<Exit, CliError> {
    let misbehave = misbehave.map(|m| m.parse::<Misbehave>()).transpose()?;
    let (identity, factory) = match shim {
        "rust-vfio-exporter" => (
            shims::rust_vfio::identity(),
            Factory::Exporter(Box::new(|buf| {
                Rc::new(shims::rust_vfio::RustVfio::new(buf))
            })),
        ),
        other => {
            return Err(CliError::Fatal(format!(
                "no Rust shim `{other}` to serve; known: rust-vfio-exporter"
            )));
        }
    };
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match serve_on(&identity, factory, misbehave, stdin, stdout) {
        Ok(()) => Ok(Exit::Pass),
        Err(ServeFatal(m)) => {
            eprintln!("revoke-conformance serve: {m}");
            Ok(Exit::Fail)
        }
    }
}
