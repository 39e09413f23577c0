//! Change events as JSON lines on stdout, one event a line.

use super::{Publication, Sink};
use std::io::Write;

pub struct StdoutSink;

#[async_trait::async_trait]
impl Sink for StdoutSink {
    fn describe(&self) -> String {
        "stdout".to_owned()
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        let mut lines = String::new();
        for event in publication.changes {
            lines.push_str(&serde_json::to_string(event).map_err(|err| err.to_string())?);
            lines.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(lines.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|err| format!("cannot write to stdout: {err}"))
    }
}
