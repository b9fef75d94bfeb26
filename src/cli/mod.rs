//! Command-line interface. (being written)

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    0
}
