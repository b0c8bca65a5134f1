//! Red-team findings turned into tests: each one attacks the stack the way the review did and
//! asserts the exact refusal.

mod customer;
mod edge;
