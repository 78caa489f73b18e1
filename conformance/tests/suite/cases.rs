//! One snapshot test per case variant: the reference implementation's observable trace,
//! blessed by a person after reading it. The reference must pass every case.

use conformance::outcome::run_case;

fn run_snapshot(name: &str, variant: &str) {
    let spec = conformance::spec();
    let case = spec.case(name).expect("case generated from the book");
    let variant = case
        .variants
        .iter()
        .find(|v| v.label == variant)
        .expect("variant generated from the book")
        .label;
    let outcome = run_case(&spec, case, variant, &mut |steps| {
        reference_impl::run_reference(steps)
    });
    let snapshot = if variant.is_empty() {
        name.to_string()
    } else {
        format!("{name}__{variant}")
    };
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => format!("{} ({})", case.title, case.chapter),
    }, {
        insta::assert_snapshot!(snapshot, outcome.snapshot());
    });
    assert!(
        outcome.passed(),
        "the reference implementation fails its own case:\n{}",
        outcome.snapshot()
    );
}

spec_macros::case_tests!(run_snapshot);
