//! Problems placed in a text: a line and column, said as compilers say
//! them (`file:line:column: message`).

use std::fmt;
use std::path::Path;

/// Why a JSON document (an inventory, policy settings) is not what was
/// expected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line and column, when the problem has a place in the text.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// The message prefixed with `path:line:column:`, as compilers print it.
    pub fn located_in(&self, path: &Path) -> String {
        match self.position {
            Some((line, column)) => format!("{}:{line}:{column}: {}", path.display(), self.message),
            None => format!("{}: {}", path.display(), self.message),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{line}:{column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<serde_json::Error> for ParseError {
    fn from(err: serde_json::Error) -> Self {
        // serde_json appends " at line L column C" to its message; keep the
        // position apart so it can lead, as `file:line:column: message`.
        let full = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        let position = (err.line() > 0).then(|| (err.line(), err.column()));
        ParseError { position, message }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}
