//! Loading a program's referenced weights (see `sofa_ir::isa::WeightsRef`).
//!
//! [`load`] maps each referenced file once and gives every tensor its range of the mapping;
//! nothing is read, so a timing-only run of a billion-parameter program stays small. It checks
//! that each file exists and is long enough. [`verify`] compares each range's checksum with
//! the one recorded at compile time; a functional run calls it before using the values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sofa_ir::isa::{weights_checksum, Program};

/// A referenced weights file that is missing, too short or not what was compiled.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("tensor '{tensor}': cannot open its weights file {}: {source}", path.display())]
    Open {
        tensor: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "tensor '{tensor}': its weights [{offset}, +{len}) run past the end of {} ({file_len} \
         bytes): the file is not the one the program was compiled from",
        path.display()
    )]
    Range {
        tensor: String,
        path: PathBuf,
        offset: u64,
        len: u64,
        file_len: u64,
    },
    #[error(
        "tensor '{tensor}': the weights in {} changed since the program was compiled \
         (checksum {found:#018x}, recorded {recorded:#018x}); compile it again",
        path.display()
    )]
    Changed {
        tensor: String,
        path: PathBuf,
        found: u64,
        recorded: u64,
    },
    #[error("tensor '{0}': its referenced weights are not loaded")]
    NotLoaded(String),
}

/// Map the referenced files (paths relative to `dir`, the program file's directory) and give
/// each referencing tensor its bytes.
pub fn load(program: &mut Program, dir: &Path) -> Result<(), WeightsError> {
    let mut files: BTreeMap<PathBuf, Bytes> = BTreeMap::new();
    for t in &mut program.tensors {
        let Some(w) = &t.weights else { continue };
        let path = dir.join(&w.file);
        let file = match files.get(&path) {
            Some(f) => f.clone(),
            None => {
                let f = map(&path).map_err(|source| WeightsError::Open {
                    tensor: t.name.clone(),
                    path: path.clone(),
                    source,
                })?;
                files.insert(path.clone(), f.clone());
                f
            }
        };
        let len = t.byte_len().unwrap_or(u64::MAX);
        let range = w
            .offset
            .checked_add(len)
            .filter(|&end| end <= file.len() as u64)
            .map(|end| w.offset as usize..end as usize);
        let Some(range) = range else {
            return Err(WeightsError::Range {
                tensor: t.name.clone(),
                path,
                offset: w.offset,
                len,
                file_len: file.len() as u64,
            });
        };
        t.data = file.slice(range);
    }
    Ok(())
}

/// Check every referenced tensor's bytes against the checksum recorded at compile time.
pub fn verify(program: &Program) -> Result<(), WeightsError> {
    for t in &program.tensors {
        let Some(w) = &t.weights else { continue };
        if t.data.is_empty() && t.byte_len() != Some(0) {
            return Err(WeightsError::NotLoaded(t.name.clone()));
        }
        let found = weights_checksum(&t.data);
        if found != w.checksum {
            return Err(WeightsError::Changed {
                tensor: t.name.clone(),
                path: PathBuf::from(&w.file),
                found,
                recorded: w.checksum,
            });
        }
    }
    Ok(())
}

fn map(path: &Path) -> std::io::Result<Bytes> {
    sofa_ir::mapped::map(&std::fs::File::open(path)?)
}
