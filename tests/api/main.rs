//! Black-box tests across the running stack.

mod support;

mod edge;
mod flash_sale;
mod worker;
