//! Reading a stream whole under a byte cap, with memory bounded too: the
//! stream is read into chunks that are never reallocated, so a stream
//! longer than the cap costs about the cap (not the doublings of a growing
//! buffer, whose freed halves an allocator may keep), and a stream whose
//! size is known ahead is read into one buffer of that size.

use std::io::{self, Read};

/// A byte count for messages: `1 GiB`, `64 MiB`, else `N bytes`.
pub fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    match bytes {
        0 => "0 bytes".to_owned(),
        _ if bytes.is_multiple_of(GIB) => format!("{} GiB", bytes / GIB),
        _ if bytes.is_multiple_of(MIB) => format!("{} MiB", bytes / MIB),
        _ => format!("{bytes} bytes"),
    }
}

/// The first chunk when no size is known, and the largest chunk.
const FIRST_CHUNK: usize = 1 << 20;
const LARGEST_CHUNK: usize = 64 << 20;

/// What a capped read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Capped {
    /// The whole stream, at most the cap.
    Whole(Vec<u8>),
    /// The stream holds more than the cap; what was read is dropped.
    TooLong,
}

/// Reads `reader` to its end unless it holds more than `cap` bytes.
/// `expected` is the size the stream says it has (a header's length, a
/// frame's content size): a true one is read into one buffer, a false one
/// costs no more than no hint at all.
pub fn read_within(mut reader: impl Read, cap: u64, expected: Option<u64>) -> io::Result<Capped> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut total: u64 = 0;
    // One byte more than expected: reading it short is the end.
    let mut next = expected.map_or(FIRST_CHUNK as u64, |size| size.saturating_add(1));
    loop {
        // Never past cap + 1 in all: one byte more says there is more.
        let room = cap.saturating_add(1) - total;
        let size = next.min(room);
        let mut chunk = Vec::with_capacity(usize::try_from(size).unwrap_or(usize::MAX));
        let read = (&mut reader).take(size).read_to_end(&mut chunk)?;
        total += read as u64;
        let ended = (read as u64) < size;
        chunks.push(chunk);
        if total > cap {
            return Ok(Capped::TooLong);
        }
        if ended {
            return Ok(Capped::Whole(joined(chunks, total)));
        }
        next = total.clamp(FIRST_CHUNK as u64, LARGEST_CHUNK as u64);
    }
}

/// The chunks as one buffer, each freed once copied.
fn joined(mut chunks: Vec<Vec<u8>>, total: u64) -> Vec<u8> {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut whole = Vec::with_capacity(usize::try_from(total).unwrap_or(usize::MAX));
    for chunk in chunks {
        whole.extend_from_slice(&chunk);
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of `left` zeros.
    struct Zeros {
        left: u64,
    }

    impl Read for Zeros {
        fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
            let n = (into.len() as u64).min(self.left) as usize;
            into[..n].fill(0);
            self.left -= n as u64;
            Ok(n)
        }
    }

    #[test]
    fn a_stream_within_the_cap_is_read_whole() {
        let text = b"hello, fleet".repeat(500_000);
        for expected in [None, Some(text.len() as u64), Some(10), Some(1 << 40)] {
            let read = read_within(&text[..], text.len() as u64, expected).unwrap();
            assert_eq!(read, Capped::Whole(text.clone()), "{expected:?}");
        }
        assert_eq!(
            read_within(&b""[..], 0, None).unwrap(),
            Capped::Whole(Vec::new())
        );
    }

    #[test]
    fn a_stream_longer_than_the_cap_is_refused() {
        assert_eq!(
            read_within(&b"12345"[..], 4, None).unwrap(),
            Capped::TooLong
        );
        // An endless stream, whatever size it claims.
        for expected in [None, Some(10), Some(u64::MAX)] {
            let read = read_within(Zeros { left: u64::MAX }, 3 << 20, expected).unwrap();
            assert_eq!(read, Capped::TooLong, "{expected:?}");
        }
    }

    #[test]
    fn a_stream_of_the_size_it_claims_is_read_into_one_buffer_of_that_size() {
        // Just past a power of two: doubling would reach 4 MiB.
        let cap = (3 << 20) + 17;
        let expected = Some(cap);
        let Capped::Whole(bytes) = read_within(Zeros { left: cap }, cap, expected).unwrap() else {
            panic!("refused at the cap")
        };
        assert_eq!(bytes.len() as u64, cap);
        assert_eq!(bytes.capacity() as u64, cap + 1);
        // Without a size, the chunks are joined into a buffer of the
        // stream's size.
        let Capped::Whole(bytes) = read_within(Zeros { left: cap }, cap, None).unwrap() else {
            panic!("refused at the cap")
        };
        assert_eq!(bytes.capacity() as u64, cap);
    }
}
