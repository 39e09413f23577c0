//! Reading a stream whole under a byte cap, with the buffer bounded too: a
//! stream longer than the cap costs at most `cap + 1` bytes of memory, not
//! the doubling `read_to_end` would do for the last byte.

use std::io::{self, Read};

/// The first allocation, and the step the buffer grows from.
const FIRST_CAPACITY: usize = 64 << 10;

/// What a capped read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Capped {
    /// The whole stream, at most the cap.
    Whole(Vec<u8>),
    /// The stream holds more than the cap; what was read is dropped.
    TooLong,
}

/// Reads `reader` to its end unless it holds more than `cap` bytes. The
/// buffer doubles as it fills, but never past `cap + 1` bytes (one more
/// than the cap, to see that there is more).
pub fn read_within(mut reader: impl Read, cap: u64) -> io::Result<Capped> {
    let limit = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
    // `buffer[..filled]` is what was read; the rest of `buffer` is zeroed
    // room, zeroed once (a read may not write every byte it is offered).
    let mut buffer: Vec<u8> = Vec::new();
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            if filled >= limit {
                return Ok(Capped::TooLong);
            }
            let wanted = filled.saturating_mul(2).max(FIRST_CAPACITY).min(limit);
            buffer.reserve_exact(wanted - filled);
            buffer.resize(wanted, 0);
        }
        let read = match reader.read(&mut buffer[filled..]) {
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if read == 0 {
            buffer.truncate(filled);
            return Ok(Capped::Whole(buffer));
        }
        filled += read;
        if filled as u64 > cap {
            return Ok(Capped::TooLong);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of `len` zeros that records the largest buffer offered.
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
        let text = b"hello, fleet".repeat(10_000);
        assert_eq!(
            read_within(&text[..], text.len() as u64).unwrap(),
            Capped::Whole(text.clone())
        );
        assert_eq!(read_within(&b""[..], 0).unwrap(), Capped::Whole(Vec::new()));
    }

    #[test]
    fn a_stream_longer_than_the_cap_is_refused() {
        assert_eq!(read_within(&b"12345"[..], 4).unwrap(), Capped::TooLong);
        assert_eq!(
            read_within(Zeros { left: u64::MAX }, 1 << 20).unwrap(),
            Capped::TooLong
        );
    }

    #[test]
    fn the_buffer_never_grows_past_the_cap_and_one_byte() {
        // Just past a power of two: doubling would reach 4 MiB.
        let cap = (3 << 20) + 17;
        let Capped::Whole(bytes) = read_within(Zeros { left: cap }, cap).unwrap() else {
            panic!("refused at the cap")
        };
        assert_eq!(bytes.len() as u64, cap);
        assert!(bytes.capacity() as u64 <= cap + 1, "{}", bytes.capacity());
        let longer = read_within(Zeros { left: cap + 1 }, cap).unwrap();
        assert_eq!(longer, Capped::TooLong);
    }
}
