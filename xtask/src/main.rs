//! Project chores, run as `cargo xtask <command>` from anywhere in the workspace.

mod book;
mod jobs;
mod links;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  main                        run every case against the reference implementation, print
                              the report, and build the book (the README's main command)
  test                        every test: fmt, clippy -D warnings, cargo test --workspace
                              with snapshot updates disabled, and the book build
  book [--root <dir>]         build the book into book/build/ (open book/build/index.html)
                              and check that every internal link resolves; --root builds
                              the book of another folder, e.g. a scratch copy
  links [<dir>]               check the internal links of a built book (default book/build/)
  screenshot <page> <png>     render a built page (path under book/build/, or a file path)
                              with headless Chromium into a PNG";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["main"] => jobs::main_job(&workspace_root()),
        ["test"] => jobs::test(&workspace_root()),
        ["book"] => book::build(&workspace_root(), &workspace_root()),
        ["book", "--root", dir] => book::build(&workspace_root(), Path::new(dir)),
        ["links"] => links::check(&workspace_root().join("book/build"), "/"),
        ["links", dir] => links::check(Path::new(dir), "/"),
        ["screenshot", page, png] => book::screenshot(&workspace_root(), page, Path::new(png)),
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or incomplete command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}
