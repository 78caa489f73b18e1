//! `serve`: an in-tree Rust shim on the wire protocol, the shim side of `run --shim-cmd`.

use shim_protocol::serve::{Fatal as ServeFatal, Misbehave, serve_speaking};

use super::{CliError, Exit};

/// `revoke-conformance serve`.
pub(super) fn serve(
    shim: &str,
    misbehave: Option<String>,
    protocol: u32,
) -> Result<Exit, CliError> {
    let misbehave = misbehave.map(|m| m.parse::<Misbehave>()).transpose()?;
    let (identity, factory) = shims::registry::served(shim).ok_or_else(|| {
        CliError::Fatal(format!(
            "no Rust shim `{shim}` to serve; known: {}",
            shims::registry::served_names().join(", ")
        ))
    })?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match serve_speaking(protocol, &identity, factory, misbehave, stdin, stdout) {
        Ok(()) => Ok(Exit::Pass),
        Err(ServeFatal(m)) => {
            eprintln!("revoke-conformance serve: {m}");
            Ok(Exit::Fail)
        }
    }
}
