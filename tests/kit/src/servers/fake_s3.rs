//! A bucket on 127.0.0.1 that keeps what is written to it (PUT, with
//! `If-None-Match: *` refused by 412 when the key exists) and serves it
//! (GET, 404 when missing), except that one key can be made to misbehave
//! until a write replaces it: a body sent a byte at a time, or one of any
//! size, made as it is sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the poisoned key answers a read.
#[derive(Clone)]
pub enum Poison {
    /// `length` bytes promised, one sent every `every`, until the reader
    /// hangs up.
    Drip { length: u64, every: Duration },
    /// These bytes.
    Bytes(Arc<Vec<u8>>),
    /// `length` bytes of `x`, chunked (no length to refuse it by).
    Endless { length: u64 },
}

struct State {
    objects: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// The key and how it misbehaves, until written.
    poisoned: Mutex<Option<(String, Poison)>>,
    writes: AtomicUsize,
}

pub struct FakeS3 {
    pub endpoint: String,
    state: Arc<State>,
}

impl FakeS3 {
    /// `path` (`/bucket/key`) answers with `poison` until written.
    pub fn start(path: &str, poison: Poison) -> FakeS3 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(State {
            objects: Mutex::new(HashMap::new()),
            poisoned: Mutex::new(Some((path.to_owned(), poison))),
            writes: AtomicUsize::new(0),
        });
        let serving = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&serving);
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        FakeS3 { endpoint, state }
    }

    /// A bucket that behaves.
    pub fn plain() -> FakeS3 {
        FakeS3::start("", Poison::Bytes(Arc::new(Vec::new())))
    }

    /// Stores `body` at `path` (`/bucket/key`), as another writer would.
    pub fn put(&self, path: &str, body: Vec<u8>) {
        self.state
            .objects
            .lock()
            .unwrap()
            .insert(path.to_owned(), Arc::new(body));
    }

    /// Whether `path` was written.
    pub fn written(&self, path: &str) -> bool {
        self.state.objects.lock().unwrap().contains_key(path)
    }

    pub fn writes(&self) -> usize {
        self.state.writes.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let path = path.split('?').next().unwrap_or("").to_owned();
        let (mut length, mut if_none_match) = (0usize, None);
        let (mut chunked, mut aws_chunked) = (false, false);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "if-none-match" => if_none_match = Some(value.to_owned()),
                    "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                    "content-encoding" => aws_chunked = value.contains("aws-chunked"),
                    _ => {}
                }
            }
        }
        let mut body = if chunked {
            read_chunked(&mut reader)?
        } else {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        };
        // The SDK may send a body as aws-chunked, its checksum trailing.
        if aws_chunked {
            body = read_chunked(&mut &body[..])?;
        }
        match method.as_str() {
            "PUT" => {
                let mut objects = state.objects.lock().unwrap();
                if if_none_match.as_deref() == Some("*") && objects.contains_key(&path) {
                    reply(&mut stream, 412, b"")?;
                    continue;
                }
                objects.insert(path.clone(), Arc::new(body));
                state.writes.fetch_add(1, Ordering::SeqCst);
                let mut poisoned = state.poisoned.lock().unwrap();
                if poisoned.as_ref().is_some_and(|(key, _)| *key == path) {
                    *poisoned = None;
                }
                drop((objects, poisoned));
                reply(&mut stream, 200, b"")?;
            }
            "GET" => {
                let poison = state
                    .poisoned
                    .lock()
                    .unwrap()
                    .as_ref()
                    .filter(|(key, _)| *key == path)
                    .map(|(_, poison)| poison.clone());
                if let Some(poison) = poison {
                    return misbehave(&mut stream, &poison);
                }
                let object = state.objects.lock().unwrap().get(&path).cloned();
                match object {
                    Some(object) => reply(&mut stream, 200, &object)?,
                    None => reply(&mut stream, 404, b"")?,
                }
            }
            _ => reply(&mut stream, 405, b"")?,
        }
    }
}

/// A chunked body, its trailers (after the last, empty chunk) skipped.
fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if size == 0 {
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..size]);
    }
}

fn reply(stream: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    // FNV-1a: a different body, a different entity tag.
    let etag = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    write!(
        stream,
        "HTTP/1.1 {status} Fake\r\nETag: \"{etag:x}\"\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)
}

fn misbehave(stream: &mut TcpStream, poison: &Poison) -> std::io::Result<()> {
    match poison {
        Poison::Drip { length, every } => {
            write!(
                stream,
                "HTTP/1.1 200 Fake\r\nETag: \"drip\"\r\nContent-Length: {length}\r\n\r\n"
            )?;
            for _ in 0..*length {
                stream.write_all(b"x")?;
                std::thread::sleep(*every);
            }
            Ok(())
        }
        Poison::Bytes(bytes) => reply(stream, 200, bytes),
        Poison::Endless { length } => {
            write!(
                stream,
                "HTTP/1.1 200 Fake\r\nETag: \"endless\"\r\nTransfer-Encoding: chunked\r\n\r\n"
            )?;
            let chunk = vec![b'x'; 64 << 10];
            let mut left = *length;
            while left > 0 {
                let piece = &chunk[..left.min(chunk.len() as u64) as usize];
                write!(stream, "{:x}\r\n", piece.len())?;
                stream.write_all(piece)?;
                stream.write_all(b"\r\n")?;
                left -= piece.len() as u64;
            }
            stream.write_all(b"0\r\n\r\n")
        }
    }
}
