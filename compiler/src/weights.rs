//! Weights by reference: a program does not copy the model's external data.
//!
//! A `const` tensor whose bytes are exactly a range of an ONNX external-data file (the
//! importer records it as the resource's [`FileRange`]) is lowered with a [`WeightsRef`]: the
//! file, the offset and an XXH3 checksum of the range, when the program will be written
//! (`LowerDefaults::weights_by_reference`: `sofa compile`). In process the tensor keeps the
//! mapped bytes and takes no reference, so nothing is read until a value is needed; a written `.sofabin` carries only the
//! reference (`sofa_runtime::weights` maps it back and checks it). The checksum is read with
//! plain file reads, not through the mapping, so hashing gigabytes leaves them out of the
//! process's resident memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use sofa_ir::attr::FileRange;
use sofa_ir::isa::{Program, WeightsRef};
use xxhash_rust::xxh3::Xxh3;

/// Bytes hashed per read.
const CHUNK: usize = 1 << 20;

/// The reference to `len` bytes at `range`, with their checksum.
pub fn reference(range: &FileRange, len: u64) -> io::Result<WeightsRef> {
    let mut file = File::open(&range.path)?;
    file.seek(SeekFrom::Start(range.offset))?;
    let mut reader = file.take(len);
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; CHUNK];
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    if read != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} ends {} bytes early", range.path.display(), len - read),
        ));
    }
    Ok(WeightsRef {
        file: range.path.to_string_lossy().into_owned(),
        offset: range.offset,
        checksum: hasher.digest(),
    })
}

/// Rewrite the program's weights paths relative to `dir` (where the program is written), so
/// that a model folder and its compiled programs can move together. Paths that have no
/// relative form (another drive) stay absolute.
pub fn relative_to(program: &mut Program, dir: &Path) {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return;
    };
    for w in program
        .tensors
        .iter_mut()
        .filter_map(|t| t.weights.as_mut())
    {
        let file = Path::new(&w.file);
        if file.is_absolute() {
            if let Some(rel) = pathdiff::diff_paths(file, &dir) {
                w.file = rel.to_string_lossy().into_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_the_ranges_xxh3() {
        let dir = std::env::temp_dir().join(format!("sofa-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.data");
        let bytes: Vec<u8> = (0..3 * CHUNK as u32 + 5).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let range = FileRange {
            path: path.clone(),
            offset: 7,
        };
        let len = (2 * CHUNK + 3) as u64;
        let w = reference(&range, len).unwrap();
        assert_eq!(w.offset, 7);
        assert_eq!(
            w.checksum,
            sofa_ir::isa::weights_checksum(&bytes[7..7 + len as usize])
        );
        let past = reference(&range, bytes.len() as u64).unwrap_err();
        assert_eq!(past.kind(), io::ErrorKind::UnexpectedEof);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
