//! The concurrency token of a live flag: what the service uses to refuse a stale write.
//!
//! Opaque to everything outside the adapter that reads it, and compared exactly: PostHog's
//! `version` (a number, +1 per write), or a string such as a modification time for a service
//! without a counter. A token alone never proves that a flag is unchanged: `plan::Revision`
//! always pairs it with the fingerprint of the flag's content.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A service's optimistic-concurrency token for one flag. Serialized as the bare value
/// (`7`, `"2026-11-21T12:00:00Z"`), as saved plans have always carried PostHog's `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Token {
    /// A counter (PostHog and the local backend: `version`).
    Number(i64),
    /// Any other token (e.g. a modification time), compared as text.
    Text(String),
}

impl Token {
    /// The counter, for a service whose tokens are numbers.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            Token::Number(n) => Some(*n),
            Token::Text(_) => None,
        }
    }
}

impl From<i64> for Token {
    fn from(n: i64) -> Self {
        Token::Number(n)
    }
}

/// A number as written; text quoted and escaped (it comes from a server).
impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "{n}"),
            Token::Text(s) => write!(f, "{s:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn tokens_serialize_as_bare_values_and_compare_exactly() {
        assert_eq!(serde_json::to_string(&Token::Number(7)).unwrap(), "7");
        let text: Token = serde_json::from_str("\"2026-11-21T12:00:00Z\"").unwrap();
        assert_eq!(text, Token::Text("2026-11-21T12:00:00Z".into()));
        assert_eq!(
            serde_json::from_str::<Token>("7").unwrap(),
            Token::Number(7)
        );
        assert_ne!(Token::Number(7), Token::Text("7".into()));
        assert!(serde_json::from_str::<Token>("7.5").is_err());
        assert_eq!(Token::Text("a\"\n".into()).to_string(), "\"a\\\"\\n\"");
    }
}
