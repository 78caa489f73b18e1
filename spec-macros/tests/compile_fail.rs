//! The macros' diagnostics, as an author sees them: each names the chapter file and line.

#[test]
fn diagnostics() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
