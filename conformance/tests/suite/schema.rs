//! The committed JSON Schemas describe the portable data exactly: they are regenerated from
//! the types and compared, and every exported scenario and every reference trace validates.
//!
//! After changing a step or trace type: `UPDATE_SCHEMAS=1 cargo test -p conformance --test suite schema::`,
//! then review the diff of `conformance/schema/`.

use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema")
}

#[test]
fn committed_schemas_are_current() {
    for (name, schema) in conformance::schemas() {
        let path = schema_dir().join(name);
        let text = serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n";
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &text).expect("write schema");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} is stale: run `UPDATE_SCHEMAS=1 cargo test -p conformance --test suite schema::` and review the diff",
            path.display()
        );
    }
}

fn validator(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(schema_dir().join(name)).expect("committed schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

#[test]
fn every_scenario_and_reference_trace_validates() {
    let scenarios = validator("scenario.schema.json");
    let traces = validator("trace.schema.json");
    for case in conformance::spec().cases {
        for v in case.variants {
            let doc = conformance::ScenarioDoc::of(case, v.label).expect("variant");
            let json = serde_json::to_value(&doc).expect("serialises");
            if let Err(e) = scenarios.validate(&json) {
                panic!(
                    "scenario {} does not match its schema: {e}",
                    case.variant_name(v.label)
                );
            }
            let trace = reference_impl::run_reference(&doc.steps).expect("runs");
            let json = serde_json::to_value(&trace).expect("serialises");
            if let Err(e) = traces.validate(&json) {
                panic!(
                    "trace of {} does not match its schema: {e}",
                    case.variant_name(v.label)
                );
            }
            let back: reference_impl::Trace = serde_json::from_value(json).expect("round-trips");
            assert_eq!(back, trace);
        }
    }
}

#[test]
fn the_schema_rejects_a_malformed_scenario() {
    let scenarios = validator("scenario.schema.json");
    let bad =
        serde_json::json!({"case": "x", "variant": "", "rules": [], "steps": [{"op": "revoke"}]});
    assert!(
        scenarios.validate(&bad).is_err(),
        "a revoke step without its buffer must not validate"
    );
}
