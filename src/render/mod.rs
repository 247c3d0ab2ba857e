//! Output: turns findings, graphs (and later plans) into text for people and machines.
//!
//! Renderers return `String`s; the `cli` layer decides where they go. Human output is styled
//! with ANSI codes, which `anstream` strips when the stream is not a terminal or `NO_COLOR`
//! is set. Text from files and servers is neutralised for each output by `escape` before the
//! renderers add their own styling.

pub mod append;
pub mod apply;
pub mod escape;
pub mod findings;
pub mod graph;
pub mod plan;
