//! Black-box tests across the running stack.

mod support;

mod edge;
mod worker;
