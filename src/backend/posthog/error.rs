//! HTTP responses and transport failures → `BackendError`, with messages a user can act on.
//!
//! Every message names what was being done (the flag key, or the project for a list), says
//! which scope or setting to fix, and never contains the API key (the request path scrubs
//! it from any text that came back from the server or the HTTP client). What every adapter
//! maps alike (transport failures, unreadable answers, quoting) is in `backend::http`.

use std::time::Duration;

use super::wire::ApiError;
use crate::backend::BackendError;
use crate::backend::http::{self, Access, Call, quote};

/// The scope a call of `access` needs (named in a 403).
fn scope(access: Access) -> &'static str {
    match access {
        Access::Read => "feature_flag:read",
        Access::Write => "feature_flag:write",
    }
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
    // An answer without a detail (an HTML error page of a proxy) is quoted itself.
    let detail = api
        .detail
        .as_deref()
        .or(api.error.as_deref())
        .map(quote)
        .or_else(|| http::answer_text(body));
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
            scope(call.access),
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

/// Seconds from a `Retry-After` header (`http::retry_after_secs`), else from PostHog's
/// throttle message ("Expected available in N seconds."); `None` when neither says.
fn retry_after_secs(header: Option<&str>, detail: Option<&str>) -> Option<u64> {
    if let Some(secs) = http::retry_after_secs(header) {
        return Some(secs);
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
    let (from, to) = http::redirect_ends(request, location);
    let target = match to {
        Some(to) => {
            let origin = to.origin().ascii_serialization();
            let same = from.is_some_and(|from| from.origin().ascii_serialization() == origin);
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
}
