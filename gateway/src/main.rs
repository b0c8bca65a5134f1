//! Placeholder; the gateway lands with the foundation issue.
fn main() {}
