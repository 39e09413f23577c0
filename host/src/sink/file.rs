//! The membership document in a file, replaced atomically on every change
//! (a device or FIFO is written through: see `crate::atomic_file`).

use super::{Publication, Sink};
use crate::atomic_file::write_atomically;
use crate::output::render;
use crate::settings::Format;
use std::path::PathBuf;

pub struct AtomicFileSink {
    path: PathBuf,
    format: Format,
}

impl AtomicFileSink {
    pub fn new(path: PathBuf, format: Format) -> Self {
        AtomicFileSink { path, format }
    }
}

#[async_trait::async_trait]
impl Sink for AtomicFileSink {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        let text = render(publication.membership, self.format).map_err(|err| err.to_string())?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, text.as_bytes()))
            .await
            .map_err(|err| err.to_string())?
            .map_err(|err| format!("cannot write {}: {err}", self.path.display()))
    }
}
