//! Shared I/O crate.
