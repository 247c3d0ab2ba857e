//! The adapter's request path: every HTTP request goes through [`MixpanelBackend::send`],
//! which waits for the shared pacer (budget and 429 pause), maps failures to
//! `BackendError`, and repeats what is safe to repeat.
//!
//! - Paths always end with a slash (Mixpanel 301s the slash-less form of a write); no
//!   redirect is ever followed (a followed 301 turns a POST or PUT into a GET): it is an error
//!   naming the path.
//! - Basic auth with the service account on every request (a sensitive header: never in
//!   `Debug`); the secret is scrubbed from every error text.
//! - A 429 means the server did nothing: any request is sent again after `Retry-After`
//!   (seconds or an HTTP date), or without one after `rate_limited_backoff` doubling up to
//!   a minute with up to 10 % jitter; up to `RetryPolicy::rate_limited_waits`
//!   times, and never a wait longer than `RetryPolicy::max_retry_after`.
//! - A 5xx or transport failure of a read is repeated with exponential backoff and jitter; a
//!   write's outcome is then unknown and returned to the caller, never repeated here.
//! - Answers are read up to `max_response_bytes`; a longer one is an error.
//! - The workspace comes from the settings, else from one request (the project's global
//!   workspace, else its default one), cached for the adapter's life.
//!
//! The loop, the exchange and their error mapping are `backend::http`'s, shared with the other
//! adapters; this module adds Mixpanel's URLs, envelope, wording and authentication.

use std::ops::Range;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use super::MixpanelBackend;
use super::error;
use super::wire::{Envelope, Workspace};
use crate::backend::http::{self, Access, Call, Peer, Repeats, Wording, quote, unreadable};
use crate::backend::{BackendError, BackendResult};

/// How Mixpanel's rate limits are worded.
const WORDING: Wording = Wording {
    service: "Mixpanel",
    advice: "try again later or lower `rate_limit`",
    default_backoff: "(it gave no `Retry-After`: exponential backoff)",
};

impl MixpanelBackend {
    /// `{host}/api/app/projects/{project}/workspaces/{workspace}/feature-flags/`.
    pub(super) async fn flags_url(&self) -> BackendResult<String> {
        let workspace = self.workspace().await?;
        Ok(format!(
            "{}/api/app/projects/{}/workspaces/{workspace}/feature-flags/",
            self.origin, self.project_id
        ))
    }

    /// The flag's URL, `…/feature-flags/{id}/`; `tail` (e.g. `archive/`) is appended.
    pub(super) async fn flag_url(&self, id: &str, tail: &str) -> BackendResult<String> {
        let mut url = reqwest::Url::parse(&self.flags_url().await?)
            .map_err(|e| BackendError::Io(format!("cannot build a flag URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| BackendError::Io("cannot build a flag URL".to_owned()))?
            .pop_if_empty()
            .push(id)
            .push("");
        Ok(format!("{url}{tail}"))
    }

    /// The workspace flags live in: configured, else looked up once (global, else default).
    pub(super) async fn workspace(&self) -> BackendResult<u64> {
        self.workspace
            .get_or_try_init(|| self.discover_workspace())
            .await
            .copied()
    }

    async fn discover_workspace(&self) -> BackendResult<u64> {
        let call = Call {
            key: None,
            action: format!("look up the workspaces of project {}", self.project_id),
            access: Access::Read,
        };
        let url = format!(
            "{}/api/app/projects/{}/workspaces/",
            self.origin, self.project_id
        );
        let workspaces: Vec<Workspace> = self.send_results(Method::GET, &url, None, &call).await?;
        workspaces
            .iter()
            .find(|w| w.is_global)
            .or_else(|| workspaces.iter().find(|w| w.is_default))
            .map(|w| w.id)
            .ok_or_else(|| BackendError::Server {
                status: 200,
                detail: Some(format!(
                    "project {} has no global or default workspace among its {} workspaces; set `workspace_id` to the data view that holds the flags",
                    self.project_id,
                    workspaces.len()
                )),
            })
    }

    /// Send a request and return the `results` of the envelope of a success, as `T`.
    pub(super) async fn send_results<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<T> {
        let answer = self.send(method, url, body, call).await?;
        self.results_of(answer, call)
    }

    /// Every flag of the list at `url`, each as its own text: the answer is never held as
    /// one JSON tree (a project's flags would take several times their text's memory); each
    /// is parsed when it is translated. An answer that is not a list says why as
    /// [`send_results`](Self::send_results) does.
    pub(super) async fn send_list(&self, url: &str, call: &Call<'_>) -> BackendResult<ListAnswer> {
        match self
            .send_with(Method::GET, url, None, call, &read_list)
            .await?
        {
            Ok(list) => Ok(list),
            Err(answer) => {
                // Said as for any answer that is not the envelope of flag objects.
                let results: Vec<serde_json::Map<String, Value>> = self.results_of(answer, call)?;
                Ok(ListAnswer::of(&results))
            }
        }
    }

    /// The `results` of the envelope of a success, as `T`.
    fn results_of<T: DeserializeOwned>(&self, answer: Value, call: &Call<'_>) -> BackendResult<T> {
        let hidden = self.hidden();
        if let Some(status) = answer.get("status").and_then(Value::as_str)
            && status != "ok"
        {
            return Err(unreadable(
                None,
                &format!("has status `{}`, not `ok`", quote(status)),
                call,
            )
            .scrubbed(&hidden));
        }
        let envelope: Envelope<T> = serde_json::from_value(answer).map_err(|e| {
            unreadable(
                None,
                &format!(
                    "is not the expected `{{status, results}}` object ({}); check that `host` is the Mixpanel App API origin",
                    quote(&crate::util::without_type_names(&e.to_string()))
                ),
                call,
            )
            .scrubbed(&hidden)
        })?;
        Ok(envelope.results)
    }

    /// Send a request (paced, repeated when safe) and return the JSON body of a success.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> BackendResult<Value> {
        self.send_with(method, url, body, call, &http::read_json)
            .await
    }

    /// [`send`](Self::send), the answer of a success read with `read`.
    async fn send_with<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        read: &impl Fn(String, u16, &Call<'_>) -> BackendResult<T>,
    ) -> BackendResult<T> {
        let repeats = Repeats {
            pacer: &self.pacer,
            retry: &self.retry,
            rate_limited_backoff: self.rate_limited_backoff,
            backoff: default_backoff,
            wording: &WORDING,
        };
        http::repeated(&repeats, call, |_| {
            self.exchange(method.clone(), url, body, call, read)
        })
        .await
    }

    /// Send the request once and read its answer with `read`.
    async fn exchange<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        call: &Call<'_>,
        read: &impl Fn(String, u16, &Call<'_>) -> BackendResult<T>,
    ) -> BackendResult<T> {
        let target = self.target();
        let mut request = self
            .client
            .request(method, url)
            .basic_auth(&self.username, Some(self.secret.expose()));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let peer = Peer {
            origin: target.origin,
            timeout: target.timeout,
            max_response_bytes: self.max_response_bytes,
            api: "the Mixpanel App API origin",
            hidden: &self.hidden(),
        };
        let (value, _) = http::exchange(
            request,
            url,
            call,
            &peer,
            error::redirect,
            |status, retry_after, text| {
                error::from_response(status, retry_after, text, call, &target)
            },
            read,
        )
        .await?;
        Ok(value)
    }
}

/// A list answer: its flags, each as its text; anything else (a status other than `ok`, no
/// `results` array) as JSON, for the error that says what it is.
fn read_list(
    text: String,
    status: u16,
    call: &Call<'_>,
) -> BackendResult<Result<ListAnswer, Value>> {
    let flags = serde_json::from_str::<List<'_>>(&text)
        .ok()
        .and_then(|list| {
            let ok = list.status.as_deref().is_none_or(|s| s == "ok")
                && list.results.iter().all(|f| f.get().starts_with('{'));
            // Where each flag's text is in the answer's (each is a slice of it).
            ok.then(|| {
                list.results
                    .iter()
                    .map(|f| {
                        let start = f.get().as_ptr() as usize - text.as_ptr() as usize;
                        start..start + f.get().len()
                    })
                    .collect::<Vec<_>>()
            })
        });
    match flags {
        // The answer's text is kept as it came: a project's flags are not copied.
        Some(flags) => Ok(Ok(ListAnswer { text, flags })),
        None => http::read_json(text, status, call).map(Err),
    }
}

/// A list answer whose `results` are flag objects (checked when it was read): the answer's
/// text and where each flag is in it, each flag read from it in place
/// ([`flags`](Self::flags)), so that a project's flags are held as their text only, once, and
/// the answer is scanned once.
pub(super) struct ListAnswer {
    text: String,
    flags: Vec<Range<usize>>,
}

/// The envelope of a list answer, its flags borrowed from the text.
#[derive(serde::Deserialize)]
struct List<'a> {
    #[serde(default)]
    status: Option<String>,
    #[serde(borrow)]
    results: Vec<&'a RawValue>,
}

impl ListAnswer {
    /// The answer holding `flags`, each written as JSON.
    fn of(flags: &[serde_json::Map<String, Value>]) -> ListAnswer {
        let mut text = String::new();
        let mut ranges = Vec::with_capacity(flags.len());
        for flag in flags {
            let start = text.len();
            text.push_str(&Value::from(flag.clone()).to_string());
            ranges.push(start..text.len());
        }
        ListAnswer {
            text,
            flags: ranges,
        }
    }

    /// Each flag's JSON text, in the answer's order.
    pub(super) fn flags(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|range| &self.text[range.clone()])
    }
}

/// The wait after the `waits`-th 429 (from 0) without `Retry-After`: `first` doubled each
/// time, at most a minute (`http::doubled_backoff`), plus up to 10 % jitter (so that several
/// clients of one project do not all come back at once).
pub(crate) fn default_backoff(first: Duration, waits: u32) -> Duration {
    let base = http::doubled_backoff(first, waits);
    base + base.mul_f64(fastrand::f64() * 0.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call<'static> {
        Call {
            key: None,
            action: "list flags of project 1".to_owned(),
            access: Access::Read,
        }
    }

    #[test]
    fn a_list_answer_gives_each_flag_as_its_own_text_from_one_scan() {
        let text = r#"{"status": "ok", "results": [{"key": "a"}, {"key": "b", "x": [1, "é"]}]}"#;
        let Ok(Ok(answer)) = read_list(text.to_owned(), 200, &call()) else {
            panic!("not read as a list");
        };
        let flags: Vec<&str> = answer.flags().collect();
        assert_eq!(flags, [r#"{"key": "a"}"#, r#"{"key": "b", "x": [1, "é"]}"#]);
    }

    #[test]
    fn an_answer_read_as_json_instead_still_gives_each_flag() {
        // A `status` that is not a string: not the list's envelope, but `results_of` reads it.
        let text = r#"{"status": 1, "results": [{"key": "a", "tags": ["x"]}]}"#;
        let Ok(Err(answer)) = read_list(text.to_owned(), 200, &call()) else {
            panic!("read as a list");
        };
        let results: Vec<serde_json::Map<String, Value>> =
            serde_json::from_value(answer["results"].clone()).unwrap();
        let list = ListAnswer::of(&results);
        let flags: Vec<&str> = list.flags().collect();
        assert_eq!(flags, [r#"{"key":"a","tags":["x"]}"#]);
    }

    #[test]
    fn the_default_backoff_doubles_with_at_most_ten_percent_jitter_up_to_a_minute() {
        let first = Duration::from_secs(1);
        for (waits, base) in [(0, 1), (1, 2), (2, 4), (5, 32), (6, 60), (40, 60)] {
            let wait = default_backoff(first, waits);
            let base = Duration::from_secs(base);
            assert!(
                wait >= base && wait <= base.mul_f64(1.1),
                "{waits}: {wait:?}"
            );
        }
    }
}
