//! Black-box tests across the running stack.
