//! What a plugin instance lives in: a WASI context that grants nothing, guest
//! stdout/stderr captured into the log, and a bounded log budget.
//!
//! WASI is linked (rather than building plugins for `wasm32-unknown-unknown`)
//! so that components from standard toolchains load unchanged: Rust std on
//! `wasm32-wasip2`, componentize-py and jco all import a dozen `wasi:*`
//! interfaces even when the code uses none. The context below makes each of
//! them useless: no preopened directories, no sockets or name lookups, no
//! environment variables, no arguments, stdin closed.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The `tracing` target of everything a plugin logs or prints.
const PLUGIN_LOG: &str = "rollcall::plugin";
/// Log lines one evaluation may write; the rest are dropped and counted.
const LOG_LINES_PER_CALL: usize = 1_000;
/// Longest log line kept; longer ones are cut.
const LOG_LINE_BYTES: usize = 4_096;
/// Guest stdout + stderr kept per evaluation; the rest is dropped and counted.
const GUEST_OUTPUT_BYTES: usize = 64 * 1024;

/// The per-evaluation state of one plugin instance (`Store` data).
pub struct Sandbox {
    plugin: String,
    memory_limit: usize,
    /// Set when the plugin asked for more memory than its limit.
    pub memory_limit_hit: bool,
    /// The last thing the plugin said before something went wrong: its last
    /// error log line or stderr line (a Rust panic message lands here).
    pub last_words: Option<String>,
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: GuestOutput,
    stderr: GuestOutput,
    log_lines: usize,
    log_lines_dropped: usize,
}

impl Sandbox {
    pub fn new(plugin: String, memory_limit: usize) -> Self {
        let stdout = GuestOutput::default();
        let stderr = GuestOutput::default();
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Sandbox {
            plugin,
            memory_limit,
            memory_limit_hit: false,
            last_words: None,
            wasi,
            table: ResourceTable::new(),
            stdout,
            stderr,
            log_lines: 0,
            log_lines_dropped: 0,
        }
    }

    /// Writes a line the plugin logged, if the budget allows.
    pub fn log(&mut self, level: tracing::Level, message: &str) {
        if level == tracing::Level::ERROR {
            self.last_words = Some(truncated(message, LOG_LINE_BYTES).to_owned());
        }
        if self.log_lines >= LOG_LINES_PER_CALL {
            self.log_lines_dropped += 1;
            return;
        }
        self.log_lines += 1;
        emit(&self.plugin, level, truncated(message, LOG_LINE_BYTES));
    }

    /// Sends what the guest printed to the log and reports dropped output.
    /// Called once the evaluation is over, whatever its outcome.
    pub fn flush(&mut self) {
        for (stream, output, level) in [
            ("stdout", &self.stdout, tracing::Level::INFO),
            ("stderr", &self.stderr, tracing::Level::WARN),
        ] {
            let (text, dropped) = output.take();
            for line in String::from_utf8_lossy(&text).lines() {
                emit(&self.plugin, level, truncated(line, LOG_LINE_BYTES));
                if stream == "stderr" && !line.trim().is_empty() {
                    self.last_words = Some(truncated(line, LOG_LINE_BYTES).to_owned());
                }
            }
            if dropped > 0 {
                tracing::warn!(plugin = %self.plugin, stream, dropped_bytes = dropped, "Plugin output past the limit was dropped.");
            }
        }
        if self.log_lines_dropped > 0 {
            tracing::warn!(plugin = %self.plugin, dropped_lines = self.log_lines_dropped, limit = LOG_LINES_PER_CALL, "Plugin log lines past the limit were dropped.");
        }
    }
}

impl wasmtime::ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_limit_hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= super::limits::TABLE_ELEMENTS)
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn emit(plugin: &str, level: tracing::Level, message: &str) {
    match level {
        tracing::Level::ERROR => tracing::error!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::WARN => tracing::warn!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::INFO => tracing::info!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::DEBUG => tracing::debug!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::TRACE => tracing::trace!(target: PLUGIN_LOG, plugin, "{message}"),
    }
}

fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A guest output stream that keeps the first [`GUEST_OUTPUT_BYTES`] and
/// counts the rest. It never refuses a write: a plugin that prints too much
/// loses output, not its evaluation.
#[derive(Clone, Default)]
struct GuestOutput {
    captured: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    text: Vec<u8>,
    dropped: usize,
}

impl GuestOutput {
    fn append(&self, bytes: &[u8]) {
        let mut captured = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        let room = GUEST_OUTPUT_BYTES.saturating_sub(captured.text.len());
        let kept = bytes.len().min(room);
        captured.text.extend_from_slice(&bytes[..kept]);
        captured.dropped += bytes.len() - kept;
    }

    fn take(&self) -> (Vec<u8>, usize) {
        let mut captured = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = std::mem::take(&mut *captured);
        (taken.text, taken.dropped)
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(GUEST_OUTPUT_BYTES)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_output_keeps_the_first_bytes_and_counts_the_rest() {
        let output = GuestOutput::default();
        output.append(&vec![b'a'; GUEST_OUTPUT_BYTES - 2]);
        output.append(b"bcde");
        let (text, dropped) = output.take();
        assert_eq!(text.len(), GUEST_OUTPUT_BYTES);
        assert!(text.ends_with(b"abc"));
        assert_eq!(dropped, 2);
        assert_eq!(output.take(), (Vec::new(), 0));
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncated("héllo", 2), "h");
        assert_eq!(truncated("héllo", 3), "hé");
        assert_eq!(truncated("hello", 10), "hello");
    }
}
