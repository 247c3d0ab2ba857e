//! flagops: feature flags as code.
//!
//! The pipeline, data flowing one way:
//!
//! ```text
//! source (files) ──► model ──► schema + rules ──► findings ──► render
//!                              graph (dependency order)
//! ```
//!
//! `model`, `schema`, `rules` and `graph` do no I/O; `source` reads files; `render` produces
//! text; `cli` wires them to the command line.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod config;
pub mod error;
pub mod finding;
pub mod graph;
pub mod import;
pub mod model;
pub mod plan;
pub mod render;
pub mod rules;
pub mod schema;
pub mod source;
