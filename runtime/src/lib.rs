//! `sofa-runtime`: the host reference interpreter (and, later, the SOFA simulator).

pub mod interp;
