//! Reasons quote values as JSON in every SDK: the Rust SDK quotes each
//! string of tests/fixtures/quoted.json as the fixture says, as the Python
//! and JavaScript SDKs' tests check theirs do.

use serde_json::Value;

#[test]
fn strings_are_quoted_as_the_fixture_shared_with_python_and_javascript_says() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/quoted.json"
    );
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            rollcall_policy_sdk::quote(text),
            case["quoted"].as_str().unwrap(),
            "{}",
            case["why"]
        );
    }
}
