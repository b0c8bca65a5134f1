//! Dev-only: the running stacks the end-to-end tests and the edge benchmark start, on top of the
//! base fixtures of `testkit`. A crate of its own because it depends on core and the origin,
//! whose own tests use `testkit`: keeping these here keeps the dev-dependency graph acyclic.
//!
//! - [`stack`]: a private redis-server, a stub origin, the worker's bindings and the
//!   edge-in-front-of-the-gateway stack;
//! - [`full`]: the whole stack (Postgres database, origin, gateway, worker).

pub mod full;
pub mod stack;
