//! File IO shared by subcommands: reading an input (`-` is stdin) and writing outputs atomically
//! (a temporary file in the same directory, then a rename), so a reader never sees a half-written
//! file and an interrupted run never leaves a truncated one.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sofa_ir::text::decode_utf8_io;

use super::diag::CliError;

/// An input's text and the name to use in diagnostics (`<stdin>` for `-`).
pub struct Input {
    pub name: String,
    pub text: String,
}

/// Read `path`, or stdin when it is `-`.
pub fn read_input(path: &Path) -> Result<Input, CliError> {
    // Bytes first, so that invalid UTF-8 is located (byte offset, line, column).
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        let text = io::stdin()
            .read_to_end(&mut bytes)
            .and_then(|_| decode_utf8_io(bytes))
            .map_err(|e| CliError::input(format!("cannot read standard input: {e}")))?;
        return Ok(Input {
            name: "<stdin>".into(),
            text,
        });
    }
    let text = fs::read(path)
        .and_then(decode_utf8_io)
        .map_err(|e| CliError::io("read", path, &e))?;
    Ok(Input {
        name: path.display().to_string(),
        text,
    })
}

/// Write `contents` to `path` through a temporary sibling file and a rename; a device or FIFO
/// (`/dev/null`, a pipe) is written in place.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(contents))
}

/// [`write_atomic`] of what `write` produces, streamed (buffered) rather than held in memory.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    if is_special(path) {
        let mut f = io::BufWriter::new(fs::OpenOptions::new().write(true).open(path)?);
        write(&mut f)?;
        return f.flush();
    }
    let tmp = temp_sibling(path)?;
    let result = write_synced_with(&tmp, write).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_synced_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = io::BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    write(&mut f)?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Whether `path` exists and is neither a regular file nor a directory. A rename would replace
/// such a file instead of writing to it: run as root, `-o /dev/null` would turn the null device
/// into a regular file for every process on the machine.
pub fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Write to an existing device or FIFO without truncating or replacing it.
pub fn write_in_place(path: &Path, contents: &[u8]) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(contents)
}

fn write_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// `dir/.name.tmp<pid>`: same directory (so the rename cannot cross file systems), unique per
/// process.
fn temp_sibling(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the output path names no file")
    })?;
    let tmp_name = format!(".{}.tmp{}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp_name))
}

/// Write several files all or nothing: each is first written to a temporary sibling, and only
/// when every one of them is complete are they renamed into place. A failure removes the
/// temporary files, so no output of a failed command is left behind (files that existed before
/// are left as they were). A path of `-` is stdout, written last, after devices and FIFOs
/// (written in place).
pub fn write_all_or_none(files: &[(&Path, &[u8])]) -> Result<(), CliError> {
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, &Path)]| {
        for (tmp, _) in staged {
            let _ = fs::remove_file(tmp);
        }
    };
    let in_place = |p: &Path| p.as_os_str() == "-" || is_special(p);
    for &(path, contents) in files.iter().filter(|(p, _)| !in_place(p)) {
        let tmp = temp_sibling(path).map_err(|e| CliError::io("write", path, &e))?;
        if let Err(e) = write_synced(&tmp, contents) {
            let _ = fs::remove_file(&tmp);
            cleanup(&staged);
            return Err(CliError::io("write", path, &e));
        }
        staged.push((tmp, path));
    }
    for (i, (tmp, path)) in staged.iter().enumerate() {
        if let Err(e) = fs::rename(tmp, path) {
            cleanup(&staged[i..]);
            return Err(CliError::io("write", path, &e));
        }
    }
    for &(path, contents) in files.iter().filter(|(p, _)| is_special(p)) {
        write_in_place(path, contents).map_err(|e| CliError::io("write", path, &e))?;
    }
    for &(_, contents) in files.iter().filter(|(p, _)| p.as_os_str() == "-") {
        write_output(None, contents)?;
    }
    Ok(())
}

/// [`write_output`] of what `write` produces, streamed.
pub fn write_output_with(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CliError> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            write_atomic_with(p, write).map_err(|e| CliError::io("write", p, &e))
        }
        _ => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            write(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| CliError::input(format!("cannot write standard output: {e}")))
        }
    }
}

/// Write `contents` to `path` atomically, or to stdout when `path` is `None` or `-`.
pub fn write_output(path: Option<&Path>, contents: &[u8]) -> Result<(), CliError> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            write_atomic(p, contents).map_err(|e| CliError::io("write", p, &e))
        }
        _ => {
            let mut out = io::stdout().lock();
            out.write_all(contents)
                .and_then(|()| out.flush())
                .map_err(|e| CliError::input(format!("cannot write standard output: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("sofa-io-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.mlir");
        write_atomic(&out, b"first").unwrap();
        write_atomic(&out, b"second").unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "second");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.mlir")]);
        assert!(write_atomic(&dir.join("missing-dir").join("x"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn several_files_are_written_all_or_none() {
        let dir = std::env::temp_dir().join(format!("sofa-io-all-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.json"), dir.join("b.npz"));
        write_all_or_none(&[(&a, b"a"), (&b, b"b")]).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"b");
        fs::remove_file(&a).unwrap();
        fs::remove_file(&b).unwrap();
        let bad = dir.join("missing-dir").join("c");
        assert!(write_all_or_none(&[(&a, b"a"), (&bad, b"c")]).is_err());
        let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// `-o /dev/null` writes to the null device and leaves it one: a rename would replace it
    /// with a regular file when run as root (and fail otherwise).
    #[cfg(unix)]
    #[test]
    fn devices_are_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let null = Path::new("/dev/null");
        write_atomic(null, b"report").unwrap();
        write_all_or_none(&[(null, b"trace".as_slice())]).unwrap();
        assert!(fs::metadata(null).unwrap().file_type().is_char_device());
    }
}
