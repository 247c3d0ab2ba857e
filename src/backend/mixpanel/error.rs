//! Mixpanel's answers and transport failures → `BackendError`, with messages a user can act on.
//!
//! Every message names what was being done (the flag key, or the project for a list), which
//! variable or permission to fix, and quotes the server's text on one short line. None
//! contains the service account's secret: the request path scrubs it from any text that came
//! back from the server or the HTTP client. What every adapter maps alike (transport
//! failures, unreadable answers, quoting) is in `backend::http`.

use std::time::Duration;

use serde_json::Value;

use super::wire::ApiError;
use crate::backend::BackendError;
use crate::backend::http::{self, Access, Call, quote};

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
    let detail = message(&api).or_else(|| http::answer_text(body));
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
            retry_after_secs: http::retry_after_secs(retry_after),
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

/// A redirect: never followed. Mixpanel 301s a write whose path lacks its trailing slash,
/// and following it would turn a POST or PUT into a GET. Names the request's path and where
/// the redirect pointed (its path on the same origin, else only the other origin).
pub(crate) fn redirect(
    status: u16,
    location: Option<&str>,
    request: &str,
    call: &Call<'_>,
) -> BackendError {
    let (from, to) = http::redirect_ends(request, location);
    let path = from
        .as_ref()
        .map_or_else(|| "?".to_owned(), |u| quote(u.path()));
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
}
