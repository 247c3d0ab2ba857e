//! HTTP responses and transport failures → `BackendError`, with messages a user can act on.
//!
//! Every message names what was being done (the flag key, or the project for a list), says
//! which scope or setting to fix, and never contains the API key: `scrub` removes it from any
//! text that came back from the server or the HTTP client.

use super::wire::ApiError;
use crate::backend::{BackendError, Unsupported};

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
    let detail = api.detail.clone().or_else(|| api.error.clone());
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
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => "(unknown)".to_owned(),
                    Some(other) => other.to_string(),
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

/// Seconds from a `Retry-After` header (delay-seconds form); else from the throttle message
/// ("Expected available in N seconds."); else a conservative minute.
fn retry_after_secs(header: Option<&str>, detail: Option<&str>) -> u64 {
    if let Some(secs) = header.and_then(|h| h.trim().parse::<u64>().ok()) {
        return secs;
    }
    detail
        .and_then(|d| d.split("available in ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map_or(60, |n| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let secs = n.ceil() as u64;
            secs
        })
}

/// A transport failure: the request may or may not have reached the server.
pub(crate) fn from_transport(error: &reqwest::Error, call: &Call<'_>) -> BackendError {
    let why = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut chain = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain = cause.to_string();
        source = cause.source();
    }
    let cause = if chain.is_empty() {
        String::new()
    } else {
        format!(" ({chain})")
    };
    BackendError::Transport(format!(
        "could not {}: {why}{cause}; the outcome is unknown",
        call.action
    ))
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
    if secret.is_empty() {
        return error;
    }
    let clean = |s: String| s.replace(secret, "***");
    match error {
        BackendError::Auth(m) => BackendError::Auth(clean(m)),
        BackendError::NotFound { key } => BackendError::NotFound { key: clean(key) },
        BackendError::Conflict { key, detail } => BackendError::Conflict {
            key: clean(key),
            detail: clean(detail),
        },
        BackendError::ApprovalRequired {
            key,
            change_request_id,
        } => BackendError::ApprovalRequired {
            key: clean(key),
            change_request_id: clean(change_request_id),
        },
        BackendError::Invalid { key, detail } => BackendError::Invalid {
            key: clean(key),
            detail: clean(detail),
        },
        BackendError::Server { status, detail } => BackendError::Server {
            status,
            detail: detail.map(clean),
        },
        BackendError::Transport(m) => BackendError::Transport(clean(m)),
        BackendError::Unsupported { key, reason } => BackendError::Unsupported {
            key: clean(key),
            reason: clean(reason),
        },
        BackendError::Io(m) => BackendError::Io(clean(m)),
        other @ BackendError::RateLimited { .. } => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_the_header_then_the_message() {
        assert_eq!(retry_after_secs(Some("7"), None), 7);
        assert_eq!(
            retry_after_secs(
                None,
                Some("Request was throttled. Expected available in 2.5 seconds.")
            ),
            3
        );
        assert_eq!(
            retry_after_secs(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None),
            60
        );
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
