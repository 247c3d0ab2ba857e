//! Revisions: what a step's precondition compares to tell whether a live flag is still the
//! one the plan saw.
//!
//! A revision is the service's concurrency token (`backend::Token`, opaque, compared
//! exactly) **together with** the fingerprint of the flag's normalized content. Neither is
//! trusted alone: a token may be missing (a service without one), or unchanged by an edit
//! that bypassed it (a hand-edited local state file); two missing tokens are equal only in
//! that neither says anything, so the content then decides.

use super::digest::fingerprint;
use crate::backend::{LiveFlag, Token};
use crate::model::VendorFlag;

/// A live flag's concurrency token and content fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The service's token, if it has one.
    pub token: Option<Token>,
    /// [`fingerprint`] of the normalized flag.
    pub fingerprint: String,
}

impl Revision {
    /// The revision of a flag as the backend returned it.
    pub fn of<F: VendorFlag>(live: &LiveFlag<F>) -> Self {
        Revision {
            token: live.token.clone(),
            fingerprint: fingerprint(&live.flag.normalized()),
        }
    }

    /// How `now` differs from this revision (read earlier), in words (`version 3 → 4`, `its
    /// content differs`); `None` when it is the same revision: the same token (or none on
    /// both sides) and the same content.
    pub fn change_to(&self, now: &Revision) -> Option<String> {
        if self.token != now.token {
            let show = |t: Option<&Token>| t.map_or_else(|| "none".to_owned(), Token::to_string);
            return Some(format!(
                "version {} → {}",
                show(self.token.as_ref()),
                show(now.token.as_ref())
            ));
        }
        (self.fingerprint != now.fingerprint).then(|| "its content differs".to_owned())
    }

    /// Whether `now` is this revision (see [`Revision::change_to`]).
    pub fn is(&self, now: &Revision) -> bool {
        self.change_to(now).is_none()
    }

    /// Whether a later read (`now`) still shows what the server answered a write with
    /// (`self`): when both carry a token it decides (every write changes it, and an answer
    /// and a read may render a secret value differently); otherwise the content does.
    pub fn still_as_answered(&self, now: &Revision) -> bool {
        match (&self.token, &now.token) {
            (Some(answered), Some(read)) => answered == read,
            _ => self.fingerprint == now.fingerprint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendor::posthog::Flag;

    fn live(token: Option<Token>, name: &str) -> LiveFlag {
        let flag = Flag {
            key: "a".into(),
            name: name.into(),
            ..Flag::default()
        };
        LiveFlag {
            id: "1".into(),
            flag,
            token,
        }
    }

    #[test]
    fn a_revision_is_the_same_only_with_the_same_token_and_content() {
        let seen = Revision::of(&live(Some(Token::Number(3)), "A"));
        assert!(seen.is(&Revision::of(&live(Some(Token::Number(3)), "A"))));
        assert_eq!(
            seen.change_to(&Revision::of(&live(Some(Token::Number(4)), "A"))),
            Some("version 3 → 4".to_owned())
        );
        assert_eq!(
            seen.change_to(&Revision::of(&live(None, "A"))),
            Some("version 3 → none".to_owned())
        );
        assert_eq!(
            seen.change_to(&Revision::of(&live(Some(Token::Number(3)), "B"))),
            Some("its content differs".to_owned())
        );
        let text = Revision::of(&live(Some(Token::Text("2026-01-01".into())), "A"));
        assert_eq!(
            text.change_to(&Revision::of(&live(
                Some(Token::Text("2026-01-02".into())),
                "A"
            ))),
            Some("version \"2026-01-01\" → \"2026-01-02\"".to_owned())
        );
    }

    #[test]
    fn two_missing_tokens_never_match_on_their_own() {
        let seen = Revision::of(&live(None, "A"));
        assert!(seen.is(&Revision::of(&live(None, "A"))));
        assert!(!seen.is(&Revision::of(&live(None, "B"))));
        assert!(!seen.still_as_answered(&Revision::of(&live(None, "B"))));
    }

    #[test]
    fn after_a_write_the_token_decides_when_both_have_one() {
        let answered = Revision::of(&live(Some(Token::Number(2)), "A"));
        assert!(answered.still_as_answered(&Revision::of(&live(Some(Token::Number(2)), "B"))));
        assert!(!answered.still_as_answered(&Revision::of(&live(Some(Token::Number(3)), "A"))));
        assert!(answered.still_as_answered(&Revision::of(&live(None, "A"))));
    }
}
