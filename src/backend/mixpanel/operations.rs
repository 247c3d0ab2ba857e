//! The five operations of the `Backend` trait over Mixpanel's Feature Flags API: `list` (one
//! `GET` with archived flags), `get`, `create` (`POST`), `update` (full `PUT`) and `delete`
//! (archive, or disable and `DELETE` with `hard_delete`), each write after its precondition.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::Value;

use super::wire::FeatureFlagResponse;
use super::{MixpanelBackend, RATE_LIMIT, identity, translate};
use crate::backend::http::{Access, Call};
use crate::backend::{
    Backend, BackendError, BackendResult, Capabilities, LiveFlag, LiveState, Unsupported,
};
use crate::vendor::mixpanel::{MixpanelFlag, Status};

/// What identifies a listed flag, and whether it is deleted (as
/// [`FeatureFlagResponse::is_deleted`] says), read before the whole flag is.
#[derive(serde::Deserialize)]
struct Head {
    id: String,
    key: String,
    #[serde(default)]
    deleted: Option<Value>,
    #[serde(default)]
    status: Option<String>,
}

impl Head {
    fn is_deleted(&self) -> bool {
        super::wire::is_deleted(self.deleted.as_ref(), self.status.as_deref())
    }
}

impl Backend for MixpanelBackend {
    type Flag = MixpanelFlag;

    fn read_only(&mut self) {
        self.keeps_seen = false;
    }

    /// No flag names another on Mixpanel; no version (the `modified` time and the content are
    /// compared instead); 60 requests an hour by default.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            flag_dependencies: false,
            versioned: false,
            rate_limit: Some(RATE_LIMIT),
        }
    }

    fn requests_sent(&self) -> Option<u64> {
        Some(MixpanelBackend::requests_sent(self))
    }

    /// One list, which replaces what the adapter last read: the next writes compare the flag
    /// with it.
    async fn refresh(&self) -> BackendResult<()> {
        self.list().await.map(|_| ())
    }

    async fn list(&self) -> BackendResult<LiveState<MixpanelFlag>> {
        let call = Call {
            key: None,
            action: format!("list flags of project {}", self.project_id),
            access: Access::Read,
        };
        let url = format!("{}?include_archived=true", self.flags_url().await?);
        let answer = self.send_list(&url, &call).await?;
        // First what identifies each flag; each is parsed whole only when it is translated,
        // one at a time.
        let mut by_key: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
        let mut state = LiveState::default();
        for text in answer.flags() {
            let head = serde_json::from_str::<Head>(text);
            if head.as_ref().is_ok_and(Head::is_deleted) {
                continue;
            }
            let (key, id) = match head {
                Ok(head) => (head.key, head.id),
                Err(_) => identity(&serde_json::from_str(text).unwrap_or_default()),
            };
            by_key.entry(key).or_default().push((id, text));
        }
        self.cache().clear();
        state.flags.reserve_exact(by_key.len());
        for (key, flags) in by_key {
            if flags.len() > 1 {
                // Never one of them silently: a plan would update whichever came first.
                let ids: Vec<String> = flags
                    .iter()
                    .map(|(id, _)| {
                        crate::backend::http::quote(if id.is_empty() { "?" } else { id })
                    })
                    .collect();
                for id in &ids {
                    state.unsupported.push(Unsupported {
                        key: key.clone(),
                        id: id.clone(),
                        reason: format!(
                            "{} live flags have this key (ids {})",
                            ids.len(),
                            ids.join(", ")
                        ),
                    });
                }
                continue;
            }
            for (id, text) in flags {
                let wire = serde_json::from_str::<FeatureFlagResponse>(text);
                match self.absorb_wire(key.clone(), id, wire, self.keeps_seen) {
                    Ok(live) => state.flags.push(live),
                    Err(unsupported) => state.unsupported.push(unsupported),
                }
            }
        }
        // Keys are unique here (a key held by two live flags is reported above): a sort in
        // place needs no second buffer of the flags.
        state
            .flags
            .sort_unstable_by(|a, b| a.flag.key.cmp(&b.flag.key));
        state
            .unsupported
            .sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
        Ok(state)
    }

    async fn get(&self, key: &str) -> BackendResult<Option<LiveFlag<MixpanelFlag>>> {
        let known = self
            .cache()
            .iter()
            .find(|(_, seen)| seen.key == key)
            .map(|(id, _)| id.clone());
        if let Some(id) = known {
            self.cache().remove(&id);
            if let Some(seen) = self.seen(&id, key).await?
                && seen.key == key
            {
                return match seen.flag {
                    Ok(flag) => Ok(Some(LiveFlag {
                        id,
                        flag,
                        token: seen.modified.map(crate::backend::Token::Text),
                    })),
                    Err(reason) => Err(BackendError::Unsupported {
                        key: key.to_owned(),
                        reason,
                    }),
                };
            }
        }
        // No get-by-key exists: one list (with archived flags) finds it.
        let state = self.list().await?;
        if let Some(unsupported) = state.unsupported.into_iter().find(|u| u.key == key) {
            return Err(BackendError::Unsupported {
                key: key.to_owned(),
                reason: unsupported.reason,
            });
        }
        Ok(state.flags.into_iter().find(|f| f.flag.key == key))
    }

    async fn create(&self, flag: &MixpanelFlag) -> BackendResult<LiveFlag<MixpanelFlag>> {
        let call = Call {
            key: Some(&flag.key),
            action: format!("create flag `{}`", flag.key),
            access: Access::Write,
        };
        let body = body(flag, None)?;
        let url = self.flags_url().await?;
        let answer: Value = self
            .send_results(Method::POST, &url, Some(&body), &call)
            .await?;
        self.stored(answer, &call)
    }

    async fn update(
        &self,
        live: &LiveFlag<MixpanelFlag>,
        desired: &MixpanelFlag,
    ) -> BackendResult<LiveFlag<MixpanelFlag>> {
        let key = &live.flag.key;
        let call = Call {
            key: Some(key),
            action: format!("update flag `{key}`"),
            access: Access::Write,
        };
        let (seen, _) = self.unchanged(live).await?;
        let body = body(desired, seen.hash_salt.as_deref())?;
        let url = self.flag_url(&live.id, "").await?;
        let answer: Value = self
            .send_results(Method::PUT, &url, Some(&body), &call)
            .await?;
        self.stored(answer, &call)
    }

    async fn delete(&self, live: &LiveFlag<MixpanelFlag>) -> BackendResult<()> {
        let key = &live.flag.key;
        let (seen, flag) = match self.unchanged(live).await {
            Ok(current) => current,
            // Already gone: deleting converges.
            Err(BackendError::NotFound { .. }) => {
                self.cache().remove(&live.id);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if !self.hard_delete {
            if flag.status == Status::Archived {
                return Ok(());
            }
            let call = Call {
                key: Some(key),
                action: format!("archive flag `{key}`"),
                access: Access::Write,
            };
            let url = self.flag_url(&live.id, "archive/").await?;
            let answer: Value = self.send_results(Method::POST, &url, None, &call).await?;
            // The answer is the archived flag; anything else leaves it to be read again.
            if self.stored(answer, &call).is_err() {
                self.cache().remove(&live.id);
            }
            return Ok(());
        }
        if flag.status == Status::Enabled {
            // Mixpanel refuses to delete an enabled flag.
            let call = Call {
                key: Some(key),
                action: format!("disable flag `{key}` before deleting it"),
                access: Access::Write,
            };
            let disabled = MixpanelFlag {
                status: Status::Disabled,
                ..flag
            };
            let body = body(&disabled, seen.hash_salt.as_deref())?;
            let url = self.flag_url(&live.id, "").await?;
            let answer: Value = self
                .send_results(Method::PUT, &url, Some(&body), &call)
                .await?;
            self.stored(answer, &call)?;
        }
        let call = Call {
            key: Some(key),
            action: format!("delete flag `{key}`"),
            access: Access::Write,
        };
        let url = self.flag_url(&live.id, "").await?;
        match self.send(Method::DELETE, &url, None, &call).await {
            Ok(_) | Err(BackendError::NotFound { .. }) => {
                self.cache().remove(&live.id);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// The JSON body for `flag` (see `translate::to_request`).
fn body(flag: &MixpanelFlag, live_salt: Option<&str>) -> BackendResult<Value> {
    let invalid = |detail: String| BackendError::Invalid {
        key: flag.key.clone(),
        detail,
    };
    let request = translate::to_request(flag, live_salt).map_err(invalid)?;
    serde_json::to_value(request).map_err(|e| invalid(e.to_string()))
}
