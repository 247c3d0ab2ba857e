//! The five operations of the `Backend` trait over PostHog's REST API: `list` (every page of
//! the default and the archived list, the archived one started once the default list's last
//! page is asked for), `get`, `create` (POST), `update` (PATCH of the changed
//! fields with `version` and `original_flag`) and `delete` (re-read, then PATCH `deleted`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::ids::Ids;
use super::pages::Handoff;
use super::wire::Listed;
use super::{PosthogBackend, RATE_LIMIT, identity, live_version, object, translate};
use crate::backend::http::{Access, Call};
use crate::backend::{
    Backend, BackendError, BackendResult, Capabilities, LiveFlag, LiveState, Unsupported,
};
use crate::model::{Catalogue, Needs};
use crate::vendor::posthog::Flag;
use crate::vendor::posthog::normalize::normalize;

impl Backend for PosthogBackend {
    type Flag = Flag;

    async fn catalogue(&self, needs: &Needs) -> BackendResult<Catalogue> {
        self.read_catalogue(needs).await
    }

    fn read_only(&mut self) {
        self.keeps_originals = false;
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            flag_dependencies: true,
            versioned: true,
            rate_limit: Some(RATE_LIMIT),
        }
    }

    async fn list(&self) -> BackendResult<LiveState> {
        let call = Call {
            key: None,
            action: format!("list flags of project {}", self.project_id),
            access: Access::Read,
        };
        let mut raw: BTreeMap<i64, Listed> = BTreeMap::new();
        let mut without_id: BTreeMap<String, Unsupported> = BTreeMap::new();
        // The archived list starts once the default list's last page has been asked for: the
        // two overlap by the pages in flight then (within `list_concurrency` requests at
        // once), and a one-page list is read before the other, as always.
        let handoff = Handoff::default();
        // Boxed: two lists read side by side would make every caller's future large.
        let default = Box::pin(self.list_query_then(&[], &call, &handoff));
        let archived = Box::pin(async {
            if handoff.wait().await {
                self.list_query(&[("archived", "true")], &call).await
            } else {
                Ok(Vec::new())
            }
        });
        let (default, archived) = tokio::join!(default, archived);
        for listed in [default?, archived?] {
            for flag in listed {
                if let Some(id) = flag.id {
                    raw.insert(id, flag);
                } else {
                    // Never dropped silently: a plan would then try to create it again.
                    let (key, id) = identity(&flag.object());
                    let reason = "the server listed it without a numeric `id`".to_owned();
                    without_id.insert(key.clone(), Unsupported { key, id, reason });
                }
            }
        }
        let raw: Vec<Listed> = raw.into_values().filter(|f| !f.deleted).collect();
        {
            let mut ids = Ids::default();
            for flag in &raw {
                if let (Some(id), Some(key)) = (flag.id, &flag.key) {
                    ids.insert(id, key);
                }
            }
            let mut cache = self.cache();
            cache.ids.replace(ids);
            cache.raw.clear();
            cache.unsupported.clear();
        }
        let mut state = LiveState::default();
        state.flags.reserve_exact(raw.len());
        for flag in raw {
            match self.absorb(flag) {
                Ok(live) => state.flags.push(live),
                Err(unsupported) => state.unsupported.push(unsupported),
            }
        }
        state.unsupported.extend(
            without_id
                .into_values()
                .map(|u| u.scrubbed(&[self.api_key.expose()])),
        );
        state.flags.sort_by(|a, b| a.flag.key.cmp(&b.flag.key));
        state.unsupported.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(state)
    }

    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag>> {
        let call = Call {
            key: Some(key),
            action: format!("read flag `{key}`"),
            access: Access::Read,
        };
        let known = self.cache().ids.id_of(key);
        let found = match known {
            Some(id) => match self
                .send(Method::GET, &self.flag_url(id), None, &call)
                .await
            {
                Ok(v) => Some(object(v, &call)?),
                Err(BackendError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let found = match found {
            Some(flag) if flag.get("key").and_then(Value::as_str) == Some(key) => {
                (flag.get("deleted").and_then(Value::as_bool) != Some(true)).then_some(flag)
            }
            _ => {
                // `key` filters exactly but case-insensitively, and hides archived flags.
                let list_call = Call {
                    key: Some(key),
                    action: format!("look up flag `{key}`"),
                    access: Access::Read,
                };
                let mut hits = self.list_query(&[("key", key)], &list_call).await?;
                if !hits.iter().any(|f| f.key.as_deref() == Some(key)) {
                    hits = self
                        .list_query(&[("key", key), ("archived", "true")], &list_call)
                        .await?;
                }
                hits.into_iter()
                    .find(|f| f.key.as_deref() == Some(key) && !f.deleted)
                    .map(|f| f.object())
            }
        };
        let Some(flag) = found else {
            if let Some(id) = known {
                self.cache().ids.remove(id);
            }
            return Ok(None);
        };
        self.learn_dependency_keys(std::slice::from_ref(&flag))
            .await?;
        match self.absorb(Listed::from_object(&flag)) {
            Ok(live) => Ok(Some(live)),
            Err(u) => Err(BackendError::Unsupported {
                key: u.key,
                reason: u.reason,
            }),
        }
    }

    async fn create(&self, flag: &Flag) -> BackendResult<LiveFlag> {
        let call = Call {
            key: Some(&flag.key),
            action: format!("create flag `{}`", flag.key),
            access: Access::Write,
        };
        let body = {
            let cache = self.cache();
            translate::to_wire(flag, &cache.ids).map_err(|detail| BackendError::Invalid {
                key: flag.key.clone(),
                detail,
            })?
        };
        let answer = self
            .send(
                Method::POST,
                &self.flags_url(),
                Some(&Value::Object(body)),
                &call,
            )
            .await?;
        self.stored(answer, &call).await
    }

    async fn update(&self, live: &LiveFlag, desired: &Flag) -> BackendResult<LiveFlag> {
        let key = &live.flag.key;
        let call = Call {
            key: Some(key),
            action: format!("update flag `{key}`"),
            access: Access::Write,
        };
        let id = Self::parse_id(live)?;
        self.refuse_unsupported(id, key)?;
        let (desired_body, desired_form, live_form) = {
            let cache = self.cache();
            let invalid = |detail| BackendError::Invalid {
                key: desired.key.clone(),
                detail,
            };
            let desired_body = translate::to_wire(desired, &cache.ids).map_err(invalid)?;
            // Fields are compared in canonical form (as the plan compares them), so that one
            // that differs only in form (a null rollout, `negation: false`, the order of a
            // set) is not sent. A live dependency whose target vanished cannot be written
            // back by key; then every field counts as changed.
            let desired_form =
                translate::to_wire(&normalize(desired), &cache.ids).map_err(invalid)?;
            (
                desired_body,
                desired_form,
                translate::to_wire(&normalize(&live.flag), &cache.ids).ok(),
            )
        };
        let mut body = match &live_form {
            Some(live_form) => translate::changed_fields(live_form, &desired_form)
                .into_iter()
                .filter_map(|(field, _)| {
                    let value = desired_body.get(&field)?.clone();
                    Some((field, value))
                })
                .collect(),
            None => desired_body.clone(),
        };
        if body.is_empty() {
            return Ok(live.clone());
        }
        if let Some(version) = live_version(live) {
            body.insert("version".into(), json!(version));
            body.insert(
                "original_flag".into(),
                self.original(id, live, live_form.as_ref()),
            );
        }
        let answer = self
            .send(
                Method::PATCH,
                &self.flag_url(id),
                Some(&Value::Object(body)),
                &call,
            )
            .await?;
        self.stored(answer, &call).await
    }

    async fn delete(&self, live: &LiveFlag) -> BackendResult<()> {
        let key = &live.flag.key;
        let call = Call {
            key: Some(key),
            action: format!("delete flag `{key}`"),
            access: Access::Write,
        };
        let id = Self::parse_id(live)?;
        self.refuse_unsupported(id, key)?;
        let read_call = Call {
            key: Some(key),
            action: format!("read flag `{key}`"),
            access: Access::Read,
        };
        let current = match self
            .send(Method::GET, &self.flag_url(id), None, &read_call)
            .await
        {
            Ok(v) => object(v, &read_call)?,
            // Already gone: deleting converges.
            Err(BackendError::NotFound { .. }) => {
                self.cache().ids.remove(id);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if current.get("deleted").and_then(Value::as_bool) == Some(true) {
            self.cache().ids.remove(id);
            return Ok(());
        }
        let version = current.get("version").and_then(Value::as_i64);
        if live.token.is_some() && version != live_version(live) {
            return Err(BackendError::Conflict {
                key: key.clone(),
                detail: format!(
                    "its version is {} now, {} when it was read; plan again",
                    version.map_or_else(|| "unknown".to_owned(), |v| v.to_string()),
                    live.token
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            });
        }
        let mut body = Map::new();
        body.insert("deleted".into(), json!(true));
        if let Some(version) = version {
            body.insert("version".into(), json!(version));
            body.insert("original_flag".into(), Value::Object(current));
        }
        self.send(
            Method::PATCH,
            &self.flag_url(id),
            Some(&Value::Object(body)),
            &call,
        )
        .await?;
        let mut cache = self.cache();
        cache.ids.remove(id);
        cache.raw.remove(&id);
        Ok(())
    }
}
