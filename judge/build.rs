//! Rebuild when any chapter changes (also new chapters); `spec_macros` additionally makes
//! rustc track each chapter it reads.
fn main() {
    println!("cargo:rerun-if-changed=../book/src");
    println!("cargo:rerun-if-changed=../book/rules-history.toml");
}
