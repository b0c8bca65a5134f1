//! Black-box tests across the running stack.

mod support;

mod browser;
mod edge;
mod flash_sale;
mod openapi;
mod worker;
