//! Placeholder; the origin lands with its own issue.
