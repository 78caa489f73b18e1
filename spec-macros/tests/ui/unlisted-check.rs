spec_macros::conformance!(book = "spec-macros/tests/books/unlisted-check/src");

fn main() {}
