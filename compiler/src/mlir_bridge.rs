//! MLIR bridge. (being written)
