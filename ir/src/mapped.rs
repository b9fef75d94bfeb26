//! Files read by mapping, not copying: an ONNX model, its external data, the weights a program
//! references. The bytes are shared (`bytes::Bytes`), so a slice of a tensor stays a view of
//! the file for as long as anything holds it.

use std::fs::File;
use std::io;

use bytes::Bytes;

/// The whole of an open file as shared bytes (an empty file, which cannot be mapped, as no
/// bytes).
pub fn map(file: &File) -> io::Result<Bytes> {
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the mapping is read-only and private to this process; like every tool that maps
    // model files, we assume nobody truncates the file while it is mapped (a program's weights
    // are checked against their checksum before their values are used).
    let map = unsafe { memmap2::Mmap::map(file) }?;
    Ok(Bytes::from_owner(map))
}
