//! The verifier. (being written)
