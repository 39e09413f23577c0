//! Reading a file the operator names (an inventory, a plugin, a cases file,
//! settings) under a cap in bytes: a regular file past the cap is refused by
//! its size, a stream is read to one byte past the cap and refused there
//! (through `bounded_read`, whose buffers never hold more than that).

use crate::bounded_read::{Capped, read_within, size_text};
use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// A kind of file rollcall reads, its cap, and whether it may be a stream.
#[derive(Debug, Clone, Copy)]
pub struct FileCap {
    /// The file, as messages name it: "inventory file".
    pub file: &'static str,
    /// Its content, as messages name it: "inventory".
    pub content: &'static str,
    /// One of them, as messages name it: "an inventory".
    pub one: &'static str,
    /// The most bytes it may hold.
    pub limit: u64,
    /// Whether a FIFO or a character device is read too (up to the cap);
    /// otherwise only regular files are.
    pub streams: bool,
}

/// The largest inventory file rollcall reads: 1 GiB. A 100,000-instance
/// fleet in the benchmarks' realistic shape (`benches/support/fleet.rs`) is
/// 354 MB as the AWS CLI prints it (pretty, 3.5 KB an instance) and 194 MB
/// compact, so the limit leaves room for 100,000 instances of 10 KiB each,
/// and stops `--inventory /dev/zero` at 1 GiB of memory. Pipes and devices
/// are read (`--inventory <(aws ec2 describe-instances ...)`).
pub const INVENTORY: FileCap = FileCap {
    file: "inventory file",
    content: "inventory",
    one: "an inventory",
    limit: 1 << 30,
    streams: true,
};

/// A plugin file: 256 MiB, more than ten times the largest policy built
/// here (the Python one, about 18 MB with its interpreter).
pub const PLUGIN: FileCap = FileCap {
    file: "plugin file",
    content: "plugin",
    one: "a plugin",
    limit: 256 << 20,
    streams: false,
};

/// The most a file a person writes (cases, settings, configuration) may
/// hold: 16 MiB.
const TEXT_FILE_BYTES: u64 = 16 << 20;

/// A cases file (`plugin test`).
pub const CASES: FileCap = FileCap {
    file: "cases file",
    content: "cases file",
    one: "a cases file",
    limit: TEXT_FILE_BYTES,
    streams: false,
};

/// A policy settings file (`--plugin-config @FILE`).
pub const SETTINGS: FileCap = FileCap {
    file: "settings file",
    content: "settings file",
    one: "a settings file",
    limit: TEXT_FILE_BYTES,
    streams: false,
};

/// `watch`'s configuration file.
pub const CONFIG: FileCap = FileCap {
    file: "configuration file",
    content: "configuration file",
    one: "a configuration file",
    limit: TEXT_FILE_BYTES,
    streams: false,
};

/// A template (`--format template:FILE`, a file sink's `template`): 1 MiB,
/// far more than any configuration a template writes needs to say.
pub const TEMPLATE: FileCap = FileCap {
    file: "template file",
    content: "template",
    one: "a template",
    limit: 1 << 20,
    streams: false,
};

/// Why a capped read gave nothing; said after the file's path.
#[derive(Debug, thiserror::Error)]
pub enum CappedReadError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a regular file, and not a stream this kind accepts.
    #[error("it is {kind}, not a regular file: {one} is read from a regular file")]
    NotRegular {
        kind: &'static str,
        one: &'static str,
    },
    /// A regular file larger than the cap, refused unread.
    #[error("the {file} is {size} bytes, more than the {} {one} may be", size_text(*limit))]
    TooLarge {
        file: &'static str,
        one: &'static str,
        size: u64,
        limit: u64,
    },
    /// A stream (or a file that grew) that went on past the cap.
    #[error(
        "the {content} is larger than the {} {one} may be (rollcall stopped reading there)",
        size_text(*limit)
    )]
    PastLimit {
        content: &'static str,
        one: &'static str,
        limit: u64,
    },
}

impl CappedReadError {
    /// The error as an `io::Error`, for callers whose errors carry one.
    pub fn into_io(self) -> std::io::Error {
        match self {
            CappedReadError::Io(err) => err,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// The whole file at `path`, if it is a kind `cap` accepts and holds at most
/// `cap.limit` bytes. A file that is not regular (and not a stream `cap`
/// accepts) is refused before it is opened, so a FIFO never blocks the read.
pub fn read_capped(path: &Path, cap: FileCap) -> Result<Vec<u8>, CappedReadError> {
    let refuse = |file_type: std::fs::FileType| -> Result<(), CappedReadError> {
        let stream = file_type.is_fifo() || file_type.is_char_device();
        if file_type.is_file() || (cap.streams && stream) {
            return Ok(());
        }
        Err(CappedReadError::NotRegular {
            kind: kind_of(file_type),
            one: cap.one,
        })
    };
    refuse(std::fs::metadata(path)?.file_type())?;
    let file = File::open(path)?;
    // The path may have changed between the two looks: what was opened counts.
    let metadata = file.metadata()?;
    refuse(metadata.file_type())?;
    let size = if metadata.is_file() {
        metadata.len()
    } else {
        0
    };
    if size > cap.limit {
        return Err(CappedReadError::TooLarge {
            file: cap.file,
            one: cap.one,
            size,
            limit: cap.limit,
        });
    }
    let expected = metadata.is_file().then_some(size);
    match read_within(file, cap.limit, expected)? {
        Capped::Whole(bytes) => Ok(bytes),
        Capped::TooLong => Err(CappedReadError::PastLimit {
            content: cap.content,
            one: cap.one,
            limit: cap.limit,
        }),
    }
}

/// The file as UTF-8 text, read like [`read_capped`].
pub fn read_capped_text(path: &Path, cap: FileCap) -> Result<String, CappedReadError> {
    String::from_utf8(read_capped(path, cap)?).map_err(|err| {
        CappedReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is not UTF-8 text: {}", err.utf8_error()),
        ))
    })
}

/// What a file that is not regular is, for messages.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_past_the_cap_is_refused_where_reading_stopped() {
        let cap = FileCap {
            limit: 1000,
            ..INVENTORY
        };
        let err = read_capped(Path::new("/dev/zero"), cap).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the inventory is larger than the 1000 bytes an inventory may be \
             (rollcall stopped reading there)"
        );
    }

    #[test]
    fn files_that_are_not_regular_are_refused_naming_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_capped(dir.path(), PLUGIN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a directory, not a regular file: a plugin is read from a regular file"
        );
        let err = read_capped(Path::new("/dev/zero"), CASES).unwrap_err();
        assert!(
            err.to_string().starts_with("it is a character device"),
            "{err}"
        );
    }

    #[test]
    fn a_regular_file_past_the_limit_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.json");
        std::fs::write(&path, vec![b' '; 11]).unwrap();
        let cap = |limit| FileCap { limit, ..INVENTORY };
        let err = read_capped(&path, cap(10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the inventory file is 11 bytes, more than the 10 bytes an inventory may be"
        );
        assert_eq!(read_capped(&path, cap(11)).unwrap().len(), 11);
    }
}
