//! Proc-macros that compile the book into the crates.
