//! Integration tests: one binary, one module per area.

mod support;

mod cli_plan;
mod local_backend;
mod plan_property;
mod plan_render;
