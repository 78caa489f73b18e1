//! Rule coverage is 100% at every commit: every rule of the book is checked by a case.

#[test]
fn every_rule_has_a_case() {
    let uncovered: Vec<String> = conformance::spec()
        .rules
        .iter()
        .filter(|r| {
            !conformance::spec()
                .cases
                .iter()
                .any(|c| c.rules.contains(&r.id))
        })
        .map(|r| format!("{} ({}:{})", r.id, r.chapter, r.line))
        .collect();
    assert!(
        uncovered.is_empty(),
        "rules without a case:\n  {}",
        uncovered.join("\n  ")
    );
}

#[test]
fn every_case_variant_checks_each_rule_it_names() {
    // The macro proves each named rule has a `check` call in the body; a call inside a
    // branch may not run for every variant, so check the built scenarios too.
    let mut gaps = Vec::new();
    for case in conformance::spec().cases {
        for v in case.variants {
            let s = conformance::outcome::scenario_of(case, v.label).expect("variant");
            for rule in case.rules {
                if !s.checks.iter().any(|c| c.rule == *rule) {
                    gaps.push(format!(
                        "{} does not check {rule}",
                        case.variant_name(v.label)
                    ));
                }
            }
        }
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
}
