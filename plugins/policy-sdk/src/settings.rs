//! Reading a policy's settings, the JSON document `configure` receives.

use serde::de::DeserializeOwned;

/// Reads the settings of the policy named `policy` from `json`, which must be
/// a JSON object. The error is meant for the operator and starts with
/// `invalid {policy} settings: `; checks beyond the types are the policy's.
pub fn settings_from_json<S: DeserializeOwned>(policy: &str, json: &str) -> Result<S, String> {
    if !json.trim_start().starts_with('{') {
        return Err(format!("invalid {policy} settings: expected a JSON object"));
    }
    serde_json::from_str(json).map_err(|err| format!("invalid {policy} settings: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        port: u16,
    }

    #[test]
    fn an_object_is_read() {
        let settings: Settings = settings_from_json("demo", r#" {"port": 7070}"#).unwrap();
        assert_eq!(settings, Settings { port: 7070 });
    }

    #[test]
    fn anything_but_an_object_is_rejected_naming_the_policy() {
        for json in ["[]", "\"port\"", "42", "null", ""] {
            let err = settings_from_json::<Settings>("demo", json).unwrap_err();
            assert_eq!(
                err, "invalid demo settings: expected a JSON object",
                "{json}"
            );
        }
    }

    #[test]
    fn serde_errors_are_prefixed_with_the_policy() {
        let err = settings_from_json::<Settings>("demo", r#"{"prot": 1}"#).unwrap_err();
        assert!(
            err.starts_with("invalid demo settings: unknown field `prot`"),
            "{err}"
        );
        let err = settings_from_json::<Settings>("demo", r#"{"port": 70000}"#).unwrap_err();
        assert!(err.starts_with("invalid demo settings: "), "{err}");
    }
}
