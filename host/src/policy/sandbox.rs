//! What a plugin instance lives in: a WASI context that grants nothing, guest
//! stdout/stderr captured into the log, a bounded log budget, and the
//! accounting behind the memory limit (every memory and table of the
//! instance together).
//!
//! WASI is linked (rather than building plugins for `wasm32-unknown-unknown`)
//! so that components from standard toolchains load unchanged: Rust std on
//! `wasm32-wasip2`, componentize-py and jco all import a dozen `wasi:*`
//! interfaces even when the code uses none. The context below makes each of
//! them useless: no preopened directories, no sockets or name lookups, no
//! environment variables, no arguments, stdin closed.

use super::clocks::PolicyClock;
use super::limits::{
    CORE_INSTANCES, HOST_RESOURCES, MEMORIES, RANDOM_BYTES_PER_CALL, TABLE_ELEMENTS, TABLES,
};
use crate::terminal_text::{one_line, one_line_within};
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The `tracing` target of everything a plugin logs or prints.
const PLUGIN_LOG: &str = "rollcall::plugin";
/// Log lines one evaluation may write; the rest are dropped and counted.
const LOG_LINES_PER_CALL: usize = 1_000;
/// Longest log line kept; longer ones are cut. Every other message from a
/// plugin (an error, a rejection of its settings) is cut to this too.
pub const MESSAGE_BYTES: usize = 4_096;
/// Guest stdout + stderr kept per evaluation; the rest is dropped and counted.
const GUEST_OUTPUT_BYTES: usize = 64 * 1024;

/// The per-evaluation state of one plugin instance (`Store` data).
pub struct Sandbox {
    plugin: String,
    memory_limit: usize,
    /// Bytes of linear memory all the instance's memories hold together.
    memory_bytes: usize,
    /// Elements all the instance's tables hold together.
    table_elements: usize,
    /// Set when the plugin asked for more memory than its limit.
    pub memory_limit_hit: bool,
    /// Waits on a clock the plugin asked for (each ended at once).
    pub clock_waits: u64,
    started: Instant,
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
            .max_random_size(RANDOM_BYTES_PER_CALL)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(HOST_RESOURCES);
        Sandbox {
            plugin,
            memory_limit,
            memory_bytes: 0,
            table_elements: 0,
            memory_limit_hit: false,
            clock_waits: 0,
            started: Instant::now(),
            last_words: None,
            wasi,
            table,
            stdout,
            stderr,
            log_lines: 0,
            log_lines_dropped: 0,
        }
    }

    /// Writes a line the plugin logged, if the budget allows.
    pub fn log(&mut self, level: tracing::Level, message: &str) {
        if level == tracing::Level::ERROR {
            self.last_words = Some(truncated(message, MESSAGE_BYTES).to_owned());
        }
        if self.log_lines >= LOG_LINES_PER_CALL {
            self.log_lines_dropped += 1;
            return;
        }
        self.log_lines += 1;
        emit(&self.plugin, level, truncated(message, MESSAGE_BYTES));
    }

    /// The clock the plugin sees (see `clocks`).
    pub fn clock(&mut self) -> PolicyClock<'_> {
        PolicyClock {
            started: self.started,
            table: &mut self.table,
            waits: &mut self.clock_waits,
        }
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
                emit(&self.plugin, level, truncated(line, MESSAGE_BYTES));
                if stream == "stderr" && !line.trim().is_empty() {
                    self.last_words = Some(truncated(line, MESSAGE_BYTES).to_owned());
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

/// Limits are totals over the whole instance: a component may hold several
/// memories and tables, and a limit per memory would multiply by their count.
impl wasmtime::ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grown_total(self.memory_bytes, current, desired, self.memory_limit) {
            Some(total) => {
                self.memory_bytes = total;
                Ok(true)
            }
            None => {
                self.memory_limit_hit = true;
                Ok(false)
            }
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grown_total(self.table_elements, current, desired, TABLE_ELEMENTS) {
            Some(total) => {
                self.table_elements = total;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn instances(&self) -> usize {
        CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        TABLES
    }

    fn memories(&self) -> usize {
        MEMORIES
    }
}

/// The total after one memory or table grows from `current` to `desired`,
/// if it stays within `limit`.
fn grown_total(total: usize, current: usize, desired: usize, limit: usize) -> Option<usize> {
    let others = total.checked_sub(current)?;
    others.checked_add(desired).filter(|&grown| grown <= limit)
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
    let message = one_line(message);
    match level {
        tracing::Level::ERROR => tracing::error!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::WARN => tracing::warn!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::INFO => tracing::info!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::DEBUG => tracing::debug!(target: PLUGIN_LOG, plugin, "{message}"),
        tracing::Level::TRACE => tracing::trace!(target: PLUGIN_LOG, plugin, "{message}"),
    }
}

/// `message` on one line (control characters shown as escapes) and cut to
/// [`MESSAGE_BYTES`], saying how much was cut: for what a plugin says that
/// reaches errors, logs and `/healthz`.
pub fn bounded(message: String) -> String {
    let (mut shown, cut) = one_line_within(&message, MESSAGE_BYTES);
    if cut > 0 {
        shown.push_str(&format!("… ({cut} more bytes)"));
    }
    shown
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
    fn messages_are_one_line_with_control_characters_escaped() {
        assert_eq!(
            bounded("no\n\rrollcall: ok\u{1b}[2K\0".to_owned()),
            r"no\n\rrollcall: ok\u{1b}[2K\0"
        );
        let escapes = bounded("\u{1b}".repeat(MESSAGE_BYTES));
        assert!(escapes.len() < MESSAGE_BYTES + 32, "{}", escapes.len());
    }

    #[test]
    fn messages_are_bounded_and_say_what_was_cut() {
        assert_eq!(bounded("short".to_owned()), "short");
        let long = bounded("é".repeat(MESSAGE_BYTES));
        assert!(long.len() < MESSAGE_BYTES + 32, "{}", long.len());
        assert!(long.ends_with(&format!("… ({} more bytes)", MESSAGE_BYTES)));
    }

    #[test]
    fn limits_count_every_memory_and_table_together() {
        let limit = 100;
        // Two memories of 40 fit; a third of 40 does not.
        let total = grown_total(0, 0, 40, limit).unwrap();
        let total = grown_total(total, 0, 40, limit).unwrap();
        assert_eq!(grown_total(total, 0, 40, limit), None);
        // Growing one of them from 40 to 60 does.
        assert_eq!(grown_total(total, 40, 60, limit), Some(100));
        assert_eq!(grown_total(total, 40, usize::MAX, limit), None);
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncated("héllo", 2), "h");
        assert_eq!(truncated("héllo", 3), "hé");
        assert_eq!(truncated("hello", 10), "hello");
    }
}
