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
