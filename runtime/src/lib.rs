//! sofa-runtime
