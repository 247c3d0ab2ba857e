//! HTTP responses and transport failures → `BackendError`, with messages a user can act on.
//!
//! Every message names what was being done (the flag key, or the project for a list), says
//! which scope or setting to fix, and never contains the API key: `scrub` removes it from any
//! text that came back from the server or the HTTP client.

use std::time::Duration;

use reqwest::Url;

use super::wire::ApiError;
use crate::backend::pacing::human;
use crate::backend::{BackendError, Unsupported};

/// Most characters of text from a server quoted in one message.
pub(crate) const MAX_QUOTE: usize = 200;

/// Whether a call reads or writes (decides the scope named in a 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// `feature_flag:read`.
    Read,
    /// `feature_flag:write`.
    Write,
}

impl Access {
    fn scope(self) -> &'static str {
        match self {
            Access::Read => "feature_flag:read",
            Access::Write => "feature_flag:write",
        }
    }
}

/// What the failed call was doing.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    /// The flag concerned; `None` for a list.
    pub(crate) key: Option<&'a str>,
    /// Verb phrase, e.g. "list flags of project 1" or "create flag `a`".
    pub(crate) action: String,
    /// Read or write.
    pub(crate) access: Access,
}

/// Where the adapter talks to, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    /// The API origin.
    pub(crate) origin: &'a str,
    /// The project id.
    pub(crate) project_id: u64,
    /// The variable the key came from, if known.
    pub(crate) key_source: Option<&'a str>,
    /// The time allowed for a whole request.
    pub(crate) timeout: Duration,
}

impl Target<'_> {
    fn key_name(&self) -> String {
        match self.key_source {
            Some(var) => format!("the API key from `{var}`"),
            None => "the API key".to_owned(),
        }
    }
}

/// Map a non-success response to an error.
pub(crate) fn from_response(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    call: &Call<'_>,
    target: &Target<'_>,
) -> BackendError {
    let api: ApiError = serde_json::from_str(body).unwrap_or_default();
    // Server text is quoted on one short line: a huge or multi-line detail must not flood
    // the output or start a line of its own (e.g. a `::error::` command in a CI log). An
    // answer without a detail (an HTML error page of a proxy) is quoted itself.
    let detail = api
        .detail
        .as_deref()
        .or(api.error.as_deref())
        .map(quote)
        .or_else(|| {
            (!body.trim().is_empty()).then(|| {
                if serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() {
                    format!("the answer: {}", quote(body))
                } else {
                    format!("the answer is not JSON: {}", quote(body))
                }
            })
        });
    let api = ApiError {
        code: api.code.as_deref().map(quote),
        attr: api.attr.as_deref().map(quote),
        ..api
    };
    let code = api.code.as_deref().unwrap_or("");
    let summary = match (&api.code, &detail) {
        (Some(code), Some(detail)) => format!("{status} {code}: {detail}"),
        (None, Some(detail)) => format!("{status}: {detail}"),
        (Some(code), None) => format!("{status} {code}"),
        (None, None) => status.to_string(),
    };
    let flag_key = call.key.unwrap_or("");
    match status {
        401 => BackendError::Auth(format!(
            "{} was rejected when trying to {} ({summary}); set it to a valid personal API key for {}",
            target.key_name(),
            call.action,
            target.origin
        )),
        // A 403 for another reason (the key's project restrictions, access control on the
        // flag) must not send the user to add a scope the key already has.
        403 if detail.as_deref().is_some_and(|d| !d.contains("scope")) => {
            BackendError::Auth(format!(
                "{} may not {} ({summary}); check that the key's project restrictions include project {} and that its user has access to the flags",
                target.key_name(),
                call.action,
                target.project_id
            ))
        }
        403 => BackendError::Auth(format!(
            "{} may not {}: it needs the `{}` scope on project {} ({summary}); add the scope to the personal API key",
            target.key_name(),
            call.action,
            call.access.scope(),
            target.project_id
        )),
        404 if call.key.is_some() => BackendError::NotFound {
            key: flag_key.to_owned(),
        },
        404 => BackendError::Auth(format!(
            "project {} was not found at {}, or {} cannot access it ({summary}); check `project_id` and the key's project restrictions",
            target.project_id,
            target.origin,
            target.key_name()
        )),
        409 if code == "approval_required"
            || api.status.as_deref() == Some("approval_required") =>
        {
            BackendError::ApprovalRequired {
                key: flag_key.to_owned(),
                change_request_id: match &api.change_request_id {
                    Some(serde_json::Value::String(s)) => quote(s),
                    Some(serde_json::Value::Null) | None => "(unknown)".to_owned(),
                    Some(other) => quote(&other.to_string()),
                },
            }
        }
        409 if code == "conflict" => BackendError::Conflict {
            key: flag_key.to_owned(),
            detail: detail.unwrap_or_else(|| "the server reported a conflict".to_owned()),
        },
        429 => BackendError::RateLimited {
            retry_after_secs: retry_after_secs(retry_after, detail.as_deref()),
        },
        300..=399 => BackendError::Server {
            status,
            detail: Some(format!(
                "the answer to `{}` is an unexpected redirect ({status}); check that `host` is the PostHog API origin",
                call.action
            )),
        },
        500..=599 => BackendError::Server { status, detail },
        400..=499 if call.key.is_some() && status != 405 => {
            let mut text =
                detail.unwrap_or_else(|| format!("the server refused the request ({status})"));
            if let Some(attr) = &api.attr {
                text = format!("{text} (field `{attr}`)");
            }
            BackendError::Invalid {
                key: flag_key.to_owned(),
                detail: text,
            }
        }
        _ if call.key.is_some() => BackendError::Invalid {
            key: flag_key.to_owned(),
            detail: format!(
                "unexpected response when trying to {} ({summary})",
                call.action
            ),
        },
        _ => BackendError::Server {
            status,
            detail: Some(format!(
                "unexpected response when trying to {} ({summary})",
                call.action
            )),
        },
    }
}

/// Seconds from a `Retry-After` header, as delay-seconds or an HTTP date (a date in the past
/// is 0; a number too large for `u64` is `u64::MAX`); else from PostHog's throttle message
/// ("Expected available in N seconds."); `None` when neither says.
fn retry_after_secs(header: Option<&str>, detail: Option<&str>) -> Option<u64> {
    if let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) {
        if header.bytes().all(|b| b.is_ascii_digit()) {
            return Some(header.parse().unwrap_or(u64::MAX));
        }
        if let Ok(date) = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(header) {
            let secs = date
                .as_second()
                .saturating_sub(jiff::Timestamp::now().as_second());
            return Some(u64::try_from(secs).unwrap_or(0));
        }
    }
    detail
        .and_then(|d| d.split("available in ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| {
            // Saturating: an absurd number is `u64::MAX`, refused as too long.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let secs = n.ceil() as u64;
            secs
        })
}

/// A redirect: never followed (a request never leaves `host`); says where it pointed by
/// origin only (a path or query may carry secrets).
pub(crate) fn redirect(
    status: u16,
    location: Option<&str>,
    request: &str,
    call: &Call<'_>,
) -> BackendError {
    let to = location.and_then(|l| Url::parse(request).ok()?.join(l).ok());
    let target = match to {
        Some(to) => {
            let origin = to.origin().ascii_serialization();
            let same =
                Url::parse(request).is_ok_and(|from| from.origin().ascii_serialization() == origin);
            if same {
                format!("another path on the same origin (`{}`)", quote(&origin))
            } else {
                format!("`{}`", quote(&origin))
            }
        }
        None => "an unreadable `Location`".to_owned(),
    };
    BackendError::Server {
        status,
        detail: Some(format!(
            "the answer to `{}` is a redirect ({status}) to {target}; flagops follows no redirect, so nothing was sent there; set `host` to the origin that serves the API",
            call.action
        )),
    }
}

/// A body that could not be read (not JSON, too large, not the expected shape): for a read,
/// an error; for a write the server accepted (`status` 2xx, or `None` when known to be 2xx),
/// an unknown outcome — the flag may have been written, so `apply` reads it back.
/// `why` names the status when it is known.
pub(crate) fn unreadable(status: Option<u16>, why: &str, call: &Call<'_>) -> BackendError {
    let accepted = status.is_none_or(|s| (200..300).contains(&s));
    if call.access == Access::Write && accepted {
        return BackendError::Transport(format!(
            "the answer to `{}` {why}; the server accepted the request, so it may have been done: the outcome is unknown",
            call.action
        ));
    }
    BackendError::Server {
        status: status.unwrap_or(200),
        detail: Some(format!("the answer to `{}` {why}", call.action)),
    }
}

/// Text from a server as one short line: control characters (newlines too) and runs of
/// blanks become one space, and at most [`MAX_QUOTE`] characters are kept (`…` marks a cut).
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut blank = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c.is_control() || is_invisible(c) {
            blank = true;
            continue;
        }
        if chars >= MAX_QUOTE {
            out.push('…');
            return out;
        }
        if blank && !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        blank = false;
        out.push(c);
        chars += 1;
    }
    out
}

/// Format characters that reorder or hide text (bidirectional overrides, zero-width).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A transport failure. A refused connection sent nothing; a read that failed later only
/// read nothing; a write that failed after it was sent may or may not have been done.
pub(crate) fn from_transport(
    error: &reqwest::Error,
    call: &Call<'_>,
    target: &Target<'_>,
) -> BackendError {
    let mut chain = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain = cause.to_string();
        source = cause.source();
    }
    let cause = if chain.is_empty() {
        String::new()
    } else {
        format!(" ({})", quote(&chain))
    };
    let (what, sent) = if error.is_connect() {
        (
            format!(
                "could not connect to {}{cause}; nothing was sent",
                target.origin
            ),
            false,
        )
    } else if error.is_timeout() {
        (
            format!("no complete answer within {}", human(target.timeout)),
            true,
        )
    } else {
        (format!("the connection failed{cause}"), true)
    };
    let outcome = if sent && call.access == Access::Write {
        "; the server may have done it: the outcome is unknown"
    } else {
        ""
    };
    BackendError::Transport(format!("could not {}: {what}{outcome}", call.action))
}

/// Remove `secret` from every text of `unsupported` (its reason quotes what the server sent,
/// and a server may echo the key).
pub(crate) fn scrub_unsupported(unsupported: Unsupported, secret: &str) -> Unsupported {
    if secret.is_empty() {
        return unsupported;
    }
    let clean = |s: String| s.replace(secret, "***");
    Unsupported {
        key: clean(unsupported.key),
        id: clean(unsupported.id),
        reason: clean(unsupported.reason),
    }
}

/// Remove `secret` from every text of `error`.
pub(crate) fn scrub(error: BackendError, secret: &str) -> BackendError {
    error.scrubbed(&[secret])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_the_header_then_the_message() {
        assert_eq!(retry_after_secs(Some("7"), None), Some(7));
        assert_eq!(
            retry_after_secs(
                None,
                Some("Request was throttled. Expected available in 2.5 seconds.")
            ),
            Some(3)
        );
        assert_eq!(
            retry_after_secs(None, Some("Expected available in 1e21 seconds.")),
            Some(u64::MAX)
        );
        // An HTTP date: the seconds until then, 0 when it is past.
        assert_eq!(
            retry_after_secs(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None),
            Some(0)
        );
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let header = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&soon)
            .unwrap();
        let secs = retry_after_secs(Some(&header), None).unwrap();
        assert!((118..=120).contains(&secs), "{header}: {secs}");
        assert_eq!(
            retry_after_secs(Some("1000000000000000000000"), None),
            Some(u64::MAX)
        );
        assert_eq!(retry_after_secs(Some("soon"), None), None);
        assert_eq!(retry_after_secs(None, None), None);
    }

    /// A 403 that is not about a scope (project restrictions of the key, access control on
    /// the flag) must not send the user to add a scope the key already has.
    #[test]
    fn a_forbidden_answer_names_a_scope_only_when_the_server_does() {
        let call = Call {
            key: Some("a"),
            action: "update flag `a`".into(),
            access: Access::Write,
        };
        let target = Target {
            origin: "https://eu.posthog.com",
            project_id: 7,
            key_source: Some("PH_KEY"),
            timeout: Duration::from_secs(30),
        };
        let forbidden = |detail: &str| {
            let body = format!(
                r#"{{"type":"authentication_error","code":"permission_denied","detail":"{detail}","attr":null}}"#
            );
            from_response(403, None, &body, &call, &target).to_string()
        };
        assert_eq!(
            forbidden("API key missing required scope 'feature_flag:write'"),
            "the API key from `PH_KEY` may not update flag `a`: it needs the `feature_flag:write` scope on project 7 (403 permission_denied: API key missing required scope 'feature_flag:write'); add the scope to the personal API key"
        );
        assert_eq!(
            forbidden("You do not have editor access to this resource."),
            "the API key from `PH_KEY` may not update flag `a` (403 permission_denied: You do not have editor access to this resource.); check that the key's project restrictions include project 7 and that its user has access to the flags"
        );
    }

    #[test]
    fn server_text_is_quoted_on_one_short_line() {
        assert_eq!(quote("  a\n::error::b\r\n\tc  "), "a ::error::b c");
        assert_eq!(quote("x\u{202E}y\u{0007}z"), "x y z");
        let long = quote(&"ab ".repeat(1000));
        assert_eq!(long.chars().count(), MAX_QUOTE + 1);
        assert!(long.ends_with('…'), "{long}");
    }

    #[test]
    fn scrub_removes_the_secret_everywhere() {
        let e = scrub(
            BackendError::Invalid {
                key: "a".into(),
                detail: "bad phx_secret".into(),
            },
            "phx_secret",
        );
        assert_eq!(e.to_string(), "flag `a`: bad ***");
    }
}
