spec_macros::reference!("no-such-chapter.md");

fn main() {}
