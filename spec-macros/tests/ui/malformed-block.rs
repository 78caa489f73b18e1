spec_macros::reference!("a.md", book = "spec-macros/tests/books/malformed-block/src");

fn main() {}
