//! Textual IR (MLIR generic syntax): printer and parser. (being written)
