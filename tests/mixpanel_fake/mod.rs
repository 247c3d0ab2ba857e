//! The fake Mixpanel refuses what Mixpanel refuses and owns what Mixpanel owns
//! (mixpanel-api.md §1.2, §2, §3), spoken to with plain HTTP as any client would; and what it
//! stores means what Mixpanel's own SDK says it means.

mod bodies;
mod faults;
mod routes;
mod rules;
pub(crate) mod sdk;

use serde_json::{Value, json};

use crate::support::fake_mixpanel::FakeMixpanel;

/// A client that never follows redirects, authenticated as the fake's service account.
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    origin: String,
    flags: String,
    auth: Option<String>,
}

impl Api {
    pub(crate) fn new(fake: &FakeMixpanel) -> Self {
        Api {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            origin: fake.base_url(),
            flags: FakeMixpanel::flags_path(),
            auth: Some(fake.authorization()),
        }
    }

    pub(crate) fn with_auth(mut self, auth: Option<String>) -> Self {
        self.auth = auth;
        self
    }

    /// `method` on `path` (absolute, from the origin): status, `Retry-After`, JSON body.
    pub(crate) async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Option<String>, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.origin));
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        (
            status,
            retry,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// `method` on the flags collection + `rest`: status and JSON body.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        rest: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (status, _, value) = self
            .raw(method, &format!("{}{rest}", self.flags), body)
            .await;
        (status, value)
    }

    pub(crate) async fn create(&self, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "", Some(body)).await
    }

    pub(crate) async fn put(&self, id: &Value, body: &Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("{}/", id.as_str().unwrap()),
            Some(body),
        )
        .await
    }
}

/// A valid create body: a 25 % rollout of a boolean gate.
pub(crate) fn gate(key: &str) -> Value {
    json!({
        "name": format!("Flag {key}"), "key": key, "tags": [], "context": "distinct_id",
        "serving_method": "server",
        "ruleset": {
            "variants": [
                {"key": "off", "value": false, "is_control": true, "split": 0.5},
                {"key": "on", "value": true, "is_control": false, "split": 0.5}
            ],
            "rollout": [{"rollout_percentage": 0.25, "variant_splits": {"off": 0.0, "on": 1.0}}]
        }
    })
}

/// `body` with the value at JSON pointer `at` set (`Some`) or removed (`None`).
pub(crate) fn with(mut body: Value, at: &str, value: Option<Value>) -> Value {
    let (parent, field) = at.rsplit_once('/').unwrap();
    let parent = body.pointer_mut(parent).unwrap();
    match (parent, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(field.to_owned(), v);
        }
        (Value::Object(map), None) => {
            map.remove(field);
        }
        (Value::Array(items), Some(v)) => items[field.parse::<usize>().unwrap()] = v,
        (Value::Array(items), None) => {
            items.remove(field.parse::<usize>().unwrap());
        }
        _ => panic!("{at} is not in a container"),
    }
    body
}

pub(crate) fn error(message: &str) -> Value {
    json!({"status": "error", "error": message})
}
