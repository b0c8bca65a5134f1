//! Black-box tests across the running stack.

mod browser;
mod contract;
mod edge;
mod flash_sale;
mod worker;
