//! Integration tests: one binary; each file below is a module.

// Helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

mod posthog_adapter;
mod posthog_fake;
mod posthog_fixtures;
