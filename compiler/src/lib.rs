//! sofa-compiler
