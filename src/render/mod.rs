//! Output: turns findings, graphs (and later plans) into text for people and machines.
//!
//! Renderers return `String`s; the `cli` layer decides where they go. Human output is styled
//! with ANSI codes, which `anstream` strips when the stream is not a terminal or `NO_COLOR`
//! is set.

pub mod apply;
pub mod findings;
pub mod graph;
pub mod plan;

/// Escape text for a GitHub workflow command's message.
pub fn github_escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape text for a GitHub workflow command's property value.
pub fn github_escape_property(text: &str) -> String {
    github_escape_data(text)
        .replace(':', "%3A")
        .replace(',', "%2C")
}
