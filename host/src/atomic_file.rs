//! Writing an output file (`--output`, file sinks, `plugin test --update`,
//! the compiled-policy cache's entries) the way `cp` and `install` would,
//! without readers ever seeing a part.
//!
//! - A regular file, or a missing path, is replaced: a temporary file in the
//!   same directory, fsync, rename. A new file is mode 0666 less the umask;
//!   a replaced one keeps its mode (and, where rollcall may, its owner).
//! - A symbolic link to a regular file keeps the link: the file it points to
//!   is replaced (in that file's directory), so a link the operator made
//!   (`/etc/app/members.json -> /run/rollcall/members.json`) stays one.
//! - A character device, a FIFO or a socket (a terminal, a pipe) is written
//!   through: opened and written, never replaced by a regular file. A write
//!   to a FIFO waits for its reader, as `cat` would. `/dev/stdout` (or a
//!   link to it) is rollcall's own stdout, written as it is, whatever it is.
//! - A directory, a block device or a link to nothing is refused.

use std::fs::{Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of a new file before the umask, as `cp` and shells create them.
const NEW_FILE_MODE: u32 = 0o666;

/// Writes `bytes` to `path`: see the module's documentation for what each
/// kind of path gets.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_parts_atomically(path, &[bytes])
}

/// Writes `parts`, one after the other, to `path` as [`write_atomically`]
/// writes one slice: for a header and a large body that are not joined in
/// memory first.
pub fn write_parts_atomically(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let write_all = |out: &mut dyn Write| parts.iter().try_for_each(|part| out.write_all(part));
    match target(path)? {
        Target::Replace { path, existing } => replace(&path, existing.as_ref(), write_all),
        Target::Through(Stream::Device | Stream::Fifo) => OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| write_all(&mut file)),
        Target::Through(Stream::Socket) => std::os::unix::net::UnixStream::connect(path)
            .and_then(|mut socket| write_all(&mut socket)),
        Target::Through(Stream::Stdout) => {
            let mut stdout = std::io::stdout().lock();
            write_all(&mut stdout).and_then(|()| stdout.flush())
        }
        Target::Through(Stream::Stderr) => write_all(&mut std::io::stderr().lock()),
    }
}

/// Whether [`write_atomically`] could write `path`, found without writing
/// it: for a command that may wait a long time before it writes its answer.
/// A file to replace needs a writable directory (a probe file is created
/// there and removed); a character device is opened for writing; a FIFO or
/// a socket is taken as it is (opening one would wait for its other end).
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    match target(path)? {
        Target::Replace { path, .. } => {
            let directory = directory_of(&path);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos());
            let probe = directory.join(format!(".rollcall-probe-{}-{nanos}", std::process::id()));
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&probe)
                .map_err(|err| {
                    std::io::Error::new(
                        err.kind(),
                        format!("cannot create a file in {}: {err}", directory.display()),
                    )
                })?;
            std::fs::remove_file(&probe)
        }
        Target::Through(Stream::Device) => OpenOptions::new().write(true).open(path).map(drop),
        Target::Through(Stream::Fifo | Stream::Socket | Stream::Stdout | Stream::Stderr) => Ok(()),
    }
}

/// What writing a path does.
#[derive(Debug)]
enum Target {
    /// Replace the regular file at `path` (the path given, or the file a
    /// link points to), or create it.
    Replace {
        path: PathBuf,
        existing: Option<Metadata>,
    },
    /// Open the path (connect, for a socket) and write into it.
    Through(Stream),
}

/// What a path written through is.
#[derive(Debug, PartialEq)]
enum Stream {
    Device,
    Fifo,
    Socket,
    /// rollcall's own stdout (`/dev/stdout`, `/dev/fd/1`, a link to one):
    /// written as the process writes it, whatever it is (a log file opened
    /// to append, the journal's socket), never reopened or replaced.
    Stdout,
    /// Its stderr, likewise.
    Stderr,
}

/// The most links followed looking for a descriptor, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// Whether `path` names rollcall's own stdout or stderr: `/dev/stdout`,
/// `/dev/fd/N`, `/proc/self/fd/N` (N 1 or 2), or a link to one of them.
fn own_descriptor(path: &Path) -> Option<Stream> {
    let mut path = path.to_owned();
    for _ in 0..MAX_LINKS {
        for directory in ["/proc/self/fd", "/dev/fd"] {
            match path.strip_prefix(directory).ok().and_then(Path::to_str) {
                Some("1") => return Some(Stream::Stdout),
                Some("2") => return Some(Stream::Stderr),
                _ => {}
            }
        }
        let to = std::fs::read_link(&path).ok()?;
        path = match path.parent() {
            Some(parent) if to.is_relative() => parent.join(to),
            _ => to,
        };
    }
    None
}

fn target(path: &Path) -> std::io::Result<Target> {
    let refused = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    if let Some(own) = own_descriptor(path) {
        return Ok(Target::Through(own));
    }
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return match std::fs::read_link(path) {
                Ok(to) => Err(refused(format!(
                    "it is a symbolic link to {}, which does not exist",
                    to.display()
                ))),
                Err(_) => Ok(Target::Replace {
                    path: path.to_owned(),
                    existing: None,
                }),
            };
        }
        Err(err) => return Err(err),
    };
    let file_type = metadata.file_type();
    if file_type.is_file() {
        let linked = std::fs::symlink_metadata(path)?.file_type().is_symlink();
        let path = if linked {
            std::fs::canonicalize(path)?
        } else {
            path.to_owned()
        };
        return Ok(Target::Replace {
            path,
            existing: Some(metadata),
        });
    }
    if file_type.is_char_device() {
        return Ok(Target::Through(Stream::Device));
    }
    if file_type.is_fifo() {
        return Ok(Target::Through(Stream::Fifo));
    }
    if file_type.is_socket() {
        return Ok(Target::Through(Stream::Socket));
    }
    let kind = if file_type.is_dir() {
        "a directory"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "neither a file nor a device"
    };
    Err(refused(format!(
        "it is {kind}: rollcall writes regular files, character devices, FIFOs and sockets"
    )))
}

/// The directory a file at `path` lives in.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A temporary file beside `path`, filled by `write_all`, renamed over it,
/// with the mode (and, if rollcall may set it, the owner) of `existing`.
fn replace(
    path: &Path,
    existing: Option<&Metadata>,
    write_all: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mode = existing.map_or(NEW_FILE_MODE, |existing| existing.mode() & 0o777);
    // The kernel applies the umask to the mode a file is created with.
    let file = tempfile::Builder::new()
        .prefix(".rollcall-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(directory_of(path))?;
    if let Some(existing) = existing {
        let created = file.as_file().metadata()?;
        if (created.uid(), created.gid()) != (existing.uid(), existing.gid()) {
            // Only root may give a file away; anyone else's new file is theirs.
            if let Err(err) = std::os::unix::fs::fchown(
                file.as_file(),
                Some(existing.uid()),
                Some(existing.gid()),
            ) {
                tracing::debug!(path = %path.display(), error = %err, "The replaced file's owner could not be kept.");
            }
        }
        // The umask applied at creation; the replaced file's mode is kept whole.
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    let mut file = file;
    write_all(&mut file)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    /// The process's umask (read from `/proc`: setting it would race other
    /// tests' files).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("Umask:"))
            .unwrap();
        u32::from_str_radix(line.trim(), 8).unwrap()
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_new_file_is_0666_less_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("membership.env");
        write_atomically(&path, b"ROLE=agent\n").unwrap();
        assert_eq!(mode(&path), 0o666 & !umask());
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("membership.json");
        for kept in [0o644, 0o640, 0o444, 0o666] {
            std::fs::write(&path, b"old").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(kept)).unwrap();
            write_atomically(&path, b"new").unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"new");
            assert_eq!(mode(&path), kept, "{kept:o}");
        }
    }

    #[test]
    fn a_link_to_a_regular_file_stays_a_link_and_its_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        std::fs::write(&file, b"old").unwrap();
        symlink(&file, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
    }

    #[test]
    fn a_link_to_a_device_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("null");
        symlink("/dev/null", &link).unwrap();
        write_atomically(&link, b"into the void").unwrap();
        check_writable(&link).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stdout_and_links_to_it_are_the_process_s_own_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("out");
        symlink("/dev/stdout", &link).unwrap();
        let relative = dir.path().join("relative");
        symlink("out", &relative).unwrap();
        for path in [
            Path::new("/dev/stdout"),
            Path::new("/dev/fd/1"),
            Path::new("/proc/self/fd/1"),
            &link,
            &relative,
        ] {
            assert_eq!(own_descriptor(path), Some(Stream::Stdout), "{path:?}");
        }
        assert_eq!(
            own_descriptor(Path::new("/dev/stderr")),
            Some(Stream::Stderr)
        );
        assert_eq!(own_descriptor(Path::new("/dev/null")), None);
        assert_eq!(own_descriptor(&dir.path().join("missing")), None);
    }

    #[test]
    fn a_fifo_is_written_through_to_its_reader() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        check_writable(&fifo).unwrap();
        write_atomically(&fifo, b"through").unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn directories_and_dangling_links_are_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomically(dir.path(), b"x").unwrap_err();
        assert!(err.to_string().starts_with("it is a directory"), "{err}");
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let err = write_atomically(&dangling, b"x").unwrap_err();
        assert!(err.to_string().contains("which does not exist"), "{err}");
        assert!(check_writable(&dangling).is_err());
    }

    #[test]
    fn a_missing_directory_is_found_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/membership.env");
        let err = check_writable(&path).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot create a file in {}",
                dir.path().join("missing").display()
            )),
            "{err}"
        );
        check_writable(&dir.path().join("membership.env")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
