//! The GitHub adapter's request path: every request goes through [`GitHub::send`].
//!
//! - No request leaves the API origin (`GITHUB_API_URL`): redirects are never followed (an
//!   error naming the status), and a `Link: <…>; rel="next"` page on another origin is an
//!   error, never requested.
//! - GitHub's rate limits are waited out and the request sent again: a 403 or 429 with
//!   `Retry-After` (seconds), or with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`
//!   (epoch seconds); a 429 without either doubles from one second. At most
//!   [`RATE_LIMITED_WAITS`] waits, none longer than [`MAX_WAIT`]: beyond that, an error.
//! - A read (`GET`) that failed on GitHub's side (a 5xx or no answer) is repeated
//!   [`READ_REPEATS`] times; a write is not (a repeated comment would be a duplicate).
//! - The token is only ever in the `Authorization` header (marked sensitive); every error
//!   text is scrubbed of it and escaped for a terminal.
//! - An answer larger than [`MAX_RESPONSE_BYTES`] is an error, read no further; a list stops
//!   after [`MAX_PAGES`] pages.

use std::time::Duration;

use reqwest::header::{
    ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, LINK, RETRY_AFTER, USER_AGENT,
};
use reqwest::{Method, Url};
use serde_json::Value;

use super::{GitHub, GitHubError};
use crate::render::escape::terminal;

/// The most rate-limit waits of one request.
pub(crate) const RATE_LIMITED_WAITS: u32 = 4;
/// The longest rate-limit wait flagops accepts; a longer one fails at once.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);
/// The largest answer read.
pub(crate) const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// The most pages one list reads (100 items each).
pub(crate) const MAX_PAGES: usize = 100;
/// How often a read that failed on GitHub's side (5xx, no answer) is repeated (after 1 s,
/// then 2 s).
pub(crate) const READ_REPEATS: u32 = 2;
/// The longest a request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One answer: its JSON body and the URL of the next page, if any.
pub(crate) struct Answer {
    pub(crate) body: Value,
    pub(crate) next: Option<Url>,
}

/// A rate limit asks to wait; `None`: not a rate limit.
fn rate_limit_wait(
    status: u16,
    headers: &HeaderMap,
    waits: u32,
    now_secs: u64,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header(RETRY_AFTER.as_str()).and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
        return Some(Duration::from_secs(reset.saturating_sub(now_secs).max(1)));
    }
    (status == 429).then(|| Duration::from_secs(1u64 << waits.min(5)))
}

/// Seconds since the epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The URL of `rel="next"` in a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then_some(url)
    })
}

/// Whether two URLs share scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl GitHub {
    /// A client for the API at `api` (an `http(s)` origin, checked by the caller).
    pub(crate) fn build_client(token: &str) -> Result<reqwest::Client, GitHubError> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            GitHubError::new("`GITHUB_TOKEN` holds characters a header cannot carry")
        })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("flagops/", env!("CARGO_PKG_VERSION"))),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            // No request leaves the API origin: a redirect is an error, never followed.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| GitHubError::new(format!("cannot set up the HTTP client: {e}")))
    }

    /// The URL of `path` (which starts with `/`) under the API URL.
    pub(crate) fn url(&self, path: &str) -> Result<Url, GitHubError> {
        let base = self.api.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}"))
            .map_err(|e| GitHubError::new(format!("cannot build the URL of `{path}`: {e}")))
    }

    /// Send a request, waiting out rate limits, and return the answer of a success.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        action: &str,
    ) -> Result<Answer, GitHubError> {
        if !same_origin(&url, &self.api) {
            return Err(self.error(format!(
                "cannot {action}: GitHub pointed to `{}`, which is not the API origin; nothing was sent there",
                origin(&url)
            )));
        }
        let mut waits = 0;
        let mut repeats = 0;
        let mut last_failure = String::new();
        loop {
            let mut request = self.client.request(method.clone(), url.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => Some(response),
                Err(e) if method == Method::GET && repeats < READ_REPEATS => {
                    last_failure = without_url(&e);
                    None
                }
                Err(e) => {
                    return Err(self.error(format!(
                        "cannot {action}: no answer from GitHub at `{}`: {}",
                        origin(&self.api),
                        without_url(&e)
                    )));
                }
            };
            let Some(response) = response.filter(|r| {
                // A read that failed on GitHub's side is safe to repeat; a write is not
                // (its outcome is unknown: a repeated comment would be a duplicate).
                !(method == Method::GET && r.status().is_server_error() && repeats < READ_REPEATS)
            }) else {
                repeats += 1;
                let delay = Duration::from_secs(1 << (repeats - 1));
                (self.notice)(&format!(
                    "waiting: GitHub failed to {action}{}; trying again in {} s (attempt {} of {})",
                    if last_failure.is_empty() {
                        String::new()
                    } else {
                        format!(" ({last_failure})")
                    },
                    delay.as_secs(),
                    repeats + 1,
                    READ_REPEATS + 1
                ));
                last_failure.clear();
                tokio::time::sleep(delay).await;
                continue;
            };
            let status = response.status().as_u16();
            if let Some(wait) = rate_limit_wait(status, response.headers(), waits, now_secs()) {
                if wait > MAX_WAIT {
                    return Err(self.error(format!(
                        "cannot {action}: GitHub is rate limiting ({status}) and asks to wait {} s, longer than the {} s flagops waits at most; try again later",
                        wait.as_secs(),
                        MAX_WAIT.as_secs()
                    )));
                }
                if waits >= RATE_LIMITED_WAITS {
                    return Err(self.error(format!(
                        "cannot {action}: GitHub is still rate limiting ({status}) after {waits} waits; try again later"
                    )));
                }
                waits += 1;
                (self.notice)(&format!(
                    "waiting: GitHub is rate limiting ({status}); trying again in {} s",
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
                continue;
            }
            if (300..400).contains(&status) {
                return Err(self.error(format!(
                    "cannot {action}: GitHub answered a redirect ({status}); redirects are not followed (check `GITHUB_API_URL`)"
                )));
            }
            let next = response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .map(str::to_owned);
            let text = read_body(response)
                .await
                .map_err(|e| self.error(format!("cannot {action}: {e}")))?;
            if !(200..300).contains(&status) {
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or(text);
                return Err(self.error(format!(
                    "cannot {action}: GitHub answered {status}: {}",
                    self.scrub(&message)
                )));
            }
            let body = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|e| {
                    self.error(format!("cannot {action}: GitHub's answer is not JSON: {e}"))
                })?
            };
            let next = match next {
                None => None,
                Some(link) => Some(Url::parse(&link).map_err(|e| {
                    self.error(format!(
                        "cannot {action}: GitHub's next-page link cannot be read: {e}"
                    ))
                })?),
            };
            return Ok(Answer { body, next });
        }
    }

    /// Every item of a list, following `rel="next"` on the API origin.
    pub(crate) async fn list(&self, first: Url, action: &str) -> Result<Vec<Value>, GitHubError> {
        let mut items = Vec::new();
        let mut url = Some(first);
        let mut pages = 0;
        while let Some(page) = url {
            if pages == MAX_PAGES {
                return Err(self.error(format!(
                    "cannot {action}: the list did not end after {MAX_PAGES} pages"
                )));
            }
            pages += 1;
            let answer = self.send(Method::GET, page, None, action).await?;
            match answer.body {
                Value::Array(page) => items.extend(page),
                _ => {
                    return Err(
                        self.error(format!("cannot {action}: GitHub's answer is not a list"))
                    );
                }
            }
            url = answer.next;
        }
        Ok(items)
    }

    /// `text` with the token hidden, capped and escaped for a terminal.
    fn scrub(&self, text: &str) -> String {
        let text = if self.token.is_empty() {
            text.to_owned()
        } else {
            text.replace(self.token.as_str(), "***")
        };
        terminal::detail(&text)
    }

    /// An error whose message never holds the token.
    fn error(&self, message: String) -> GitHubError {
        let message = if self.token.is_empty() {
            message
        } else {
            message.replace(self.token.as_str(), "***")
        };
        GitHubError::new(message)
    }
}

/// `scheme://host[:port]` of a URL.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A transport error without its URL (the origin is named by the caller).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({})", terminal::detail(&detail))
    }
}

/// The body as text, at most [`MAX_RESPONSE_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<String, String> {
    let too_large = || format!("GitHub's answer is larger than {MAX_RESPONSE_BYTES} bytes");
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > MAX_RESPONSE_BYTES))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("GitHub's answer was cut off: {}", without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "GitHub's answer is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let link = r#"<https://api.github.com/repositories/1/issues/5/comments?page=2>; rel="next", <https://api.github.com/repositories/1/issues/5/comments?page=3>; rel="last""#;
        assert_eq!(
            next_link(link),
            Some("https://api.github.com/repositories/1/issues/5/comments?page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn rate_limits_ask_for_a_bounded_wait() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            rate_limit_wait(403, &headers, 0, 100),
            None,
            "a plain 403 is refused"
        );
        assert_eq!(
            rate_limit_wait(429, &headers, 2, 100),
            Some(Duration::from_secs(4))
        );
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("130"));
        assert_eq!(
            rate_limit_wait(403, &headers, 0, 100),
            Some(Duration::from_secs(30))
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            rate_limit_wait(403, &headers, 0, 100),
            Some(Duration::from_secs(7))
        );
        assert_eq!(rate_limit_wait(500, &headers, 0, 100), None);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Url::parse("https://api.github.com/x").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://api.github.com:443/y?z").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://api.github.com/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://evil.example/x").unwrap()
        ));
    }
}
