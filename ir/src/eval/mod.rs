//! Reference semantics of ops on host tensors. (being written)
