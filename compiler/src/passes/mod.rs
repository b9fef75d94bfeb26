//! Passes. (being written)
