//! Black-box tests across the running stack.

mod adversary;
mod browser;
mod contract;
mod edge;
mod flash_sale;
mod worker;
