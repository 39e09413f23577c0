//! Errors as one line for operators: each cause's own message, outermost
//! first, without the debug dumps some libraries put in their `Display`.

use std::error::Error;

/// `outer: cause: root cause`, skipping causes that repeat their parent.
pub fn error_chain(err: &dyn Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn Error> = Some(err);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|layer| layer as &dyn Error)
        }
    }

    #[test]
    fn causes_are_joined_and_repeats_dropped() {
        let err = Layer(
            "dispatch failure",
            Some(Box::new(Layer(
                "io error",
                Some(Box::new(Layer(
                    "io error",
                    Some(Box::new(Layer("connection refused", None))),
                ))),
            ))),
        );
        assert_eq!(
            error_chain(&err),
            "dispatch failure: io error: connection refused"
        );
    }
}
