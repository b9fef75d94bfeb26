//! Host reference interpreter. (being written)
