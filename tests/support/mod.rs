//! Helpers shared by the integration tests.
//!
//! Each test module uses a part of these; later issues (plan, apply, import) reuse the rest.
#![allow(dead_code, unreachable_pub)]

pub mod fake_posthog;
