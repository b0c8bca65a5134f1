//! Placeholder; the worker lands with its own issue.
