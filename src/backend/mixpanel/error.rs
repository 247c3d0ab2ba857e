//! Mixpanel's answers and transport failures → `BackendError`, with messages a user can act on.
//!
//! Every message names what was being done (the flag key, or the project for a list), which
//! variable or permission to fix, and quotes the server's text on one short line. None
//! contains the service account's secret: `scrub` removes it from any text that came back
//! from the server or the HTTP client.

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::wire::ApiError;
use crate::backend::BackendError;
use crate::backend::pacing::human;

/// Most characters of text from a server quoted in one message.
pub(crate) const MAX_QUOTE: usize = 200;

/// Whether a call reads or writes (a write's lost answer leaves its outcome unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads: safe to repeat.
    Read,
    /// Writes: never repeated here after an unknown outcome.
    Write,
}

/// What the failed call was doing.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    /// The flag concerned; `None` for a list or the workspace lookup.
    pub(crate) key: Option<&'a str>,
    /// Verb phrase, e.g. "list flags of project 1" or "create flag `a`".
    pub(crate) action: String,
    /// Read or write.
    pub(crate) access: Access,
}

/// Where the adapter talks to, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    /// The App API origin.
    pub(crate) origin: &'a str,
    /// The project id.
    pub(crate) project_id: u64,
    /// The variables of the service account, if known.
    pub(crate) username_env: Option<&'a str>,
    /// See `username_env`.
    pub(crate) secret_env: Option<&'a str>,
    /// The time allowed for a whole request.
    pub(crate) timeout: Duration,
}

impl Target<'_> {
    fn account(&self) -> String {
        match (self.username_env, self.secret_env) {
            (Some(user), Some(secret)) => {
                format!("the service account from `{user}` and `{secret}`")
            }
            _ => "the service account".to_owned(),
        }
    }
}

/// The server's message in an error body: `error` (a string, or field → message(s), shown
/// as "`field`: message"), else `details`; quoted on one line.
fn message(api: &ApiError) -> Option<String> {
    let text = |value: &Value| match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    let shown = |value: &Value| match value {
        Value::Object(fields) if !fields.is_empty() => Some(
            fields
                .iter()
                .map(|(field, why)| format!("`{}`: {}", quote(field), text(why)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        other => Some(text(other)),
    };
    api.error
        .as_ref()
        .and_then(shown)
        .or_else(|| api.details.as_ref().and_then(shown))
        .map(|m| quote(&m))
}

/// Map a non-success answer to an error.
pub(crate) fn from_response(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    call: &Call<'_>,
    target: &Target<'_>,
) -> BackendError {
    let api: ApiError = serde_json::from_str(body).unwrap_or_default();
    let detail = message(&api).or_else(|| {
        (!body.trim().is_empty()).then(|| {
            if serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() {
                format!("the answer: {}", quote(body))
            } else {
                format!("the answer is not JSON: {}", quote(body))
            }
        })
    });
    let summary = match &detail {
        Some(detail) => format!("{status}: {detail}"),
        None => status.to_string(),
    };
    let flag_key = call.key.unwrap_or("");
    match status {
        401 => BackendError::Auth(format!(
            "{} was rejected when trying to {} ({summary}); set them to the username and secret of a valid service account of project {} at {} (a project in another region is not found: check `region`)",
            target.account(),
            call.action,
            target.project_id,
            target.origin
        )),
        403 if call.key.is_some() && call.access == Access::Write => BackendError::Auth(format!(
            "{} may not {} ({summary}); give the service account at least the analyst role on project {} and edit access to the flag",
            target.account(),
            call.action,
            target.project_id
        )),
        403 => BackendError::Auth(format!(
            "{} may not {} ({summary}); check `project_id` and `region`, and give the service account at least the analyst role on project {}",
            target.account(),
            call.action,
            target.project_id
        )),
        404 if call.key.is_some() => BackendError::NotFound {
            key: flag_key.to_owned(),
        },
        404 => BackendError::Auth(format!(
            "project {} or its workspace was not found at {} when trying to {} ({summary}); check `project_id`, `workspace_id` and `region`",
            target.project_id, target.origin, call.action
        )),
        429 => BackendError::RateLimited {
            retry_after_secs: retry_after_secs(retry_after),
        },
        500..=599 => BackendError::Server { status, detail },
        400..=499 if call.key.is_some() => BackendError::Invalid {
            key: flag_key.to_owned(),
            detail: format!(
                "Mixpanel refused to {} ({summary})",
                call.action.replace(&format!("flag `{flag_key}`"), "it")
            ),
        },
        _ => BackendError::Server {
            status,
            detail: Some(format!(
                "unexpected answer when trying to {} ({summary})",
                call.action
            )),
        },
    }
}

/// Seconds from a `Retry-After` header, as delay-seconds or an HTTP date (a date in the past
/// is 0, a number too large `u64::MAX`); `None` when there is none.
fn retry_after_secs(header: Option<&str>) -> Option<u64> {
    let header = header.map(str::trim).filter(|h| !h.is_empty())?;
    if header.bytes().all(|b| b.is_ascii_digit()) {
        return Some(header.parse().unwrap_or(u64::MAX));
    }
    let date = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(header)
        .ok()?;
    let secs = date
        .as_second()
        .saturating_sub(jiff::Timestamp::now().as_second());
    Some(u64::try_from(secs).unwrap_or(0))
}

/// A redirect: never followed. Mixpanel 301s a write whose path lacks its trailing slash,
/// and following it would turn a POST or PUT into a GET. Names the request's path and where
/// the redirect pointed (its path on the same origin, else only the other origin).
pub(crate) fn redirect(
    status: u16,
    location: Option<&str>,
    request: &str,
    call: &Call<'_>,
) -> BackendError {
    let from = Url::parse(request).ok();
    let path = from
        .as_ref()
        .map_or_else(|| "?".to_owned(), |u| quote(u.path()));
    let to = location.and_then(|l| from.as_ref()?.join(l).ok());
    let target = match (&from, to) {
        (Some(from), Some(to)) if from.origin() == to.origin() => {
            format!("`{}`", quote(to.path()))
        }
        (_, Some(to)) => format!(
            "another origin, `{}`",
            quote(&to.origin().ascii_serialization())
        ),
        (_, None) => "an unreadable `Location`".to_owned(),
    };
    BackendError::Server {
        status,
        detail: Some(format!(
            "the answer to `{}` ({path}) is a redirect ({status}) to {target}; flagops follows no redirect (it would turn a write into a GET), so nothing was sent there; check that `host` is the App API origin",
            call.action
        )),
    }
}

/// A body that could not be read (not JSON, too large, not the expected shape): for a read,
/// an error; for a write the server accepted, an unknown outcome (the flag may have been
/// written, so `apply` reads it back).
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

/// A transport failure. A refused connection sent nothing; a write that failed after it was
/// sent may or may not have been done.
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

/// Text from a server as one short line: control and invisible characters and runs of
/// blanks become one space, at most [`MAX_QUOTE`] characters are kept (`…` marks a cut).
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

/// Remove each of `hidden` (the secret, the Basic credential, the user name) from every text
/// of `error`.
pub(crate) fn scrub(error: BackendError, hidden: &[&str]) -> BackendError {
    error.scrubbed(hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(key: Option<&str>) -> Call<'_> {
        Call {
            key,
            action: key.map_or_else(
                || "list flags of project 7".to_owned(),
                |k| format!("update flag `{k}`"),
            ),
            access: Access::Write,
        }
    }

    fn target() -> Target<'static> {
        Target {
            origin: "https://eu.mixpanel.com",
            project_id: 7,
            username_env: Some("MP_USER"),
            secret_env: Some("MP_SECRET"),
            timeout: Duration::from_secs(30),
        }
    }

    fn text(status: u16, body: &str, key: Option<&str>) -> String {
        from_response(status, None, body, &call(key), &target()).to_string()
    }

    #[test]
    fn auth_failures_name_the_variables_and_the_permission() {
        assert_eq!(
            text(
                401,
                r#"{"status":"error","error":"Invalid credentials"}"#,
                None
            ),
            "the service account from `MP_USER` and `MP_SECRET` was rejected when trying to list flags of project 7 (401: Invalid credentials); set them to the username and secret of a valid service account of project 7 at https://eu.mixpanel.com (a project in another region is not found: check `region`)"
        );
        assert_eq!(
            text(
                403,
                r#"{"status":"error","type":"permission","error":"Forbidden"}"#,
                Some("a")
            ),
            "the service account from `MP_USER` and `MP_SECRET` may not update flag `a` (403: Forbidden); give the service account at least the analyst role on project 7 and edit access to the flag"
        );
        assert_eq!(
            text(403, r#"{"status":"error","error":"Forbidden"}"#, None),
            "the service account from `MP_USER` and `MP_SECRET` may not list flags of project 7 (403: Forbidden); check `project_id` and `region`, and give the service account at least the analyst role on project 7"
        );
        assert_eq!(
            text(404, "", None),
            "project 7 or its workspace was not found at https://eu.mixpanel.com when trying to list flags of project 7 (404); check `project_id`, `workspace_id` and `region`"
        );
        assert_eq!(text(404, "", Some("a")), "flag `a` not found");
    }

    #[test]
    fn refusals_quote_the_server_and_name_the_field() {
        assert_eq!(
            text(
                400,
                r#"{"status":"error","error":{"hash_salt":["Ensure this field has exactly 32 characters."]}}"#,
                Some("a")
            ),
            "flag `a`: Mixpanel refused to update it (400: `hash_salt`: Ensure this field has exactly 32 characters.)"
        );
        assert_eq!(
            text(
                400,
                "{\"status\":\"error\",\"error\":\"bad\\n::error::x \\u001b[31m\"}",
                Some("a")
            ),
            "flag `a`: Mixpanel refused to update it (400: bad ::error::x [31m)"
        );
        assert_eq!(
            text(400, r#"{"error":"Workspace is required"}"#, None),
            "unexpected answer when trying to list flags of project 7 (400: Workspace is required)"
        );
        assert_eq!(
            text(502, "<html>Bad gateway</html>", None),
            "server error 502: the answer is not JSON: <html>Bad gateway</html>"
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(retry_after_secs(Some("7")), Some(7));
        assert_eq!(retry_after_secs(Some(" ")), None);
        assert_eq!(retry_after_secs(None), None);
        assert_eq!(
            retry_after_secs(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(0)
        );
        assert_eq!(
            retry_after_secs(Some("99999999999999999999999")),
            Some(u64::MAX)
        );
        assert_eq!(retry_after_secs(Some("soon")), None);
    }

    #[test]
    fn a_redirect_names_the_paths_and_never_another_origins_path() {
        let call = call(Some("a"));
        let url = "https://mixpanel.com/api/app/projects/7/workspaces/3/feature-flags";
        assert_eq!(
            redirect(
                301,
                Some("/api/app/projects/7/workspaces/3/feature-flags/"),
                url,
                &call
            )
            .to_string(),
            "the answer to `update flag `a`` (/api/app/projects/7/workspaces/3/feature-flags) is a redirect (301) to `/api/app/projects/7/workspaces/3/feature-flags/`; flagops follows no redirect (it would turn a write into a GET), so nothing was sent there; check that `host` is the App API origin"
        );
        let elsewhere =
            redirect(302, Some("https://evil.example/steal?token=x"), url, &call).to_string();
        assert!(
            elsewhere.contains("another origin, `https://evil.example`"),
            "{elsewhere}"
        );
        assert!(!elsewhere.contains("steal"), "{elsewhere}");
    }

    #[test]
    fn scrub_removes_the_secret_everywhere() {
        let e = scrub(
            BackendError::Auth("echo s3cret and s3cret".into()),
            &["s3cret"],
        );
        assert_eq!(e.to_string(), "echo *** and ***");
    }
}
