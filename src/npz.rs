//! `.npz` reading and writing. (being written)
