//! The membership document in a file, replaced atomically on every change
//! (a device or FIFO is written through: see `crate::atomic_file`).

use super::{Publication, Sink};
use crate::atomic_file::write_atomically;
use crate::output::Renderer;
use std::path::PathBuf;

pub struct AtomicFileSink {
    path: PathBuf,
    renderer: Renderer,
}

impl AtomicFileSink {
    /// A sink writing to `path` in the renderer's format.
    pub fn new(path: PathBuf, renderer: Renderer) -> Self {
        AtomicFileSink { path, renderer }
    }
}

#[async_trait::async_trait]
impl Sink for AtomicFileSink {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        // A failed render writes nothing: the file keeps its last good
        // content, and the failure is the sink's, logged and counted.
        let text = self
            .renderer
            .render(publication.membership)
            .map_err(|err| err.to_string())?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, text.as_bytes()))
            .await
            .map_err(|err| err.to_string())?
            .map_err(|err| format!("cannot write {}: {err}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::sample;
    use crate::settings::{Format, TemplateFile};

    #[tokio::test]
    async fn a_template_that_fails_on_an_answer_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("first");
        let template = TemplateFile {
            path: "first.j2".into(),
            text: "{{ members[0].instance_id }}\n".into(),
        };
        let renderer = Renderer::new(&Format::Template(template)).unwrap();
        let sink = AtomicFileSink::new(path.clone(), renderer);
        let one = sample(&[("i-a", "monitor")], &[]);
        let publication = |membership| Publication {
            membership,
            changes: &[],
        };
        sink.publish(&publication(&one)).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "i-a\n");

        let none = sample(&[], &[]);
        let err = sink.publish(&publication(&none)).await.unwrap_err();
        assert!(err.starts_with("first.j2:1: undefined value"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "i-a\n");
    }
}
