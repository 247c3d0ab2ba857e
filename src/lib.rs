//! flagops: feature flags as code.
//!
//! The pipeline, data flowing one way:
//!
//! ```text
//! source (files) ──► model ──► schema + rules ──► findings ──► render
//!                      │
//! backend (live) ──► model ──► plan (diff + dependency levels) ──► render / saved plan
//!                                                              └─► apply (ordered, paced)
//! backend (live) ──► import ──► YAML files
//! ```
//!
//! `model`, `schema`, `rules`, `graph` and `plan` do no I/O; `source` reads the repository's
//! files; `backend` adapters and the `github` adapter are the only code that speaks HTTP (or
//! writes the local state file); `render` produces text; `cli` wires it all to the command line.
//!
//! One core, many flag services: each service's flag object is its own typed model behind the
//! trait [`model::VendorFlag`] (PostHog's is [`model::Flag`]), and each adapter names its
//! model (`backend::Backend::Flag`). [`plan`] (building, order, policy, revisions, masking,
//! the saved form), [`apply`], the local backend and the renderings of plans and apply
//! reports (in the vendor's words: `render::plan::ChangeWords`, `FlagWords`) are generic over
//! that trait; the README's "Adding a flag service" says what a new service brings and what
//! is still PostHog's.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod config;
pub mod error;
pub mod finding;
pub mod github;
pub mod graph;
pub mod import;
pub mod init;
pub mod model;
pub mod plan;
pub mod render;
pub mod rules;
pub mod schema;
pub mod source;
pub mod util;
pub mod vendor;
