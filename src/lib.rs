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
//! One core, many flag services: each service's flag object is its own typed model under
//! [`vendor`] (PostHog's in `vendor::posthog`, Mixpanel's in `vendor::mixpanel`), behind the
//! traits [`model::VendorFlag`] (what the core needs of a flag) and [`model::FlagFile`] (its
//! file format and schema), gathered in [`vendor::Model`] with its adapter
//! (`backend::Backend::Flag`). [`source`], [`rules`], [`plan`], [`apply`], [`import`], the
//! local backend and the renderings are generic over them; the command line chooses the model
//! once, from the config's `backend:` (`cli`'s `with_model!`). The README's "Adding a flag
//! service" lists what a new service brings.

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
