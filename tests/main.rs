//! Integration tests: one binary; each file below is a module.

mod support;

mod posthog_adapter;
mod posthog_fake;
mod posthog_fixtures;
