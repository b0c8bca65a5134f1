//! Black-box tests across the running stack.

mod support;

mod worker;
