//! Reading one paginated list (DRF limit/offset): the first page, then the others at once.
//!
//! - The first page gives `count`, and its `next` link the offset of the second page (the
//!   page step). The other pages' offsets follow from those two: they are read concurrently,
//!   at most `list_concurrency` at a time (every request still waits for the shared pacer, so
//!   the budget holds), and taken in offset order. A plan of N pages takes about the time of
//!   two pages instead of N (with `list_concurrency` at least N - 1).
//! - Two lists read side by side (a plan's default and archived lists) share those
//!   `list_concurrency` slots. The second starts once the first has asked for the last page
//!   its count needs ([`Handoff`]): it fills the slots the first list's last round leaves
//!   free, and a one-page list is still read before the other.
//! - The pages are merged by id and checked: every page counted what the first did, no id is
//!   on two pages, and the flags add up to the count. A flag created or deleted between two
//!   pages shifts the offsets (newest first: one flag would be read twice, or one missed), so
//!   the list fails these checks; it is then read again, whole, once. If it fails again, that
//!   is an error: a partial list is never returned (a plan would create or delete flags).
//! - A first page without a numeric `count`, or whose `next` has no numeric `offset`, is read
//!   page after page following `next`; unchecked, as before (there is nothing to check
//!   against).
//! - Only the fields the adapter reads of each flag (`page::FLAG_FIELDS`: those of
//!   `WireFlag`, which include every field an update sends, and so every field its
//!   `original_flag` needs) are kept; the others (the creator, experiments, dashboards…) are
//!   skipped while the page is parsed (`page.rs`), never allocated: a project's flags are held
//!   once, and small.
//! - Bounds: a list stops after the pages its first page's `count` needs (plus slack), and
//!   after `MAX_PAGES` in any case (a server whose `next` never ends is an error); it reads at
//!   most `LIST_BYTES_IN_ANSWERS` of the largest answer (checked as each page is taken, so the
//!   pages already on their way, `list_concurrency - 1` at most, may come on top). Only the
//!   query of a `next` link is used: every page is read on the configured origin.

use std::collections::BTreeSet;

use futures_util::StreamExt;
use reqwest::{Method, Url};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

use super::page::{FlagPage, read_page};
use super::wire::Listed;
use super::{MAX_PAGES, PosthogBackend};
use crate::backend::http::Call;
use crate::backend::{BackendError, BackendResult};

/// Pages a list may read beyond what its `count` needs (flags created meanwhile).
const PAGE_SLACK: usize = 2;

/// Most bytes of answers one list reads over all its pages, in units of the largest answer.
const LIST_BYTES_IN_ANSWERS: usize = 4;

/// Pages of one list read at once, unless the settings say otherwise.
pub const LIST_CONCURRENCY: usize = 4;

/// Query pairs of one page's URL.
type Query = Vec<(String, String)>;

/// One reading of a list.
enum Reading {
    /// Every flag, each once.
    Whole(Vec<Listed>),
    /// The pages do not add up (the list changed meanwhile): why.
    Changed(String),
}

/// What one reading of a list has read so far, for its bounds and messages.
struct Progress<'a> {
    call: &'a Call<'a>,
    /// Pages read.
    pages: usize,
    /// Bytes of answers read.
    bytes: usize,
    /// The most bytes allowed.
    most_bytes: usize,
}

impl Progress<'_> {
    /// Count one page of `size` bytes; past the bound it is an error.
    fn add(&mut self, size: usize) -> BackendResult<()> {
        self.pages += 1;
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.most_bytes {
            return Err(BackendError::Server {
                status: 200,
                detail: Some(format!(
                    "the answer to `{}` is larger than {} bytes over its first {} pages; check that `host` is the PostHog API origin",
                    self.call.action, self.most_bytes, self.pages
                )),
            });
        }
        Ok(())
    }
}

/// When a list lets the next one start (a plan's archived list follows its default list):
/// once the last page the first list knows it needs has been asked for, so the two overlap
/// only by the pages in flight then; never when the first list failed.
#[derive(Default)]
pub(super) struct Handoff {
    notify: Notify,
    stopped: AtomicBool,
}

impl Handoff {
    fn go(&self) {
        self.notify.notify_one();
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Wait for the first list: `true` when the next may start, `false` when it failed.
    pub(super) async fn wait(&self) -> bool {
        self.notify.notified().await;
        !self.stopped.load(Ordering::Acquire)
    }
}

impl PosthogBackend {
    /// Every flag of one list query, each once; `extra` are query pairs besides
    /// `limit`/`offset`. A list whose pages do not add up is read again once.
    pub(super) async fn list_query(
        &self,
        extra: &[(&str, &str)],
        call: &Call<'_>,
    ) -> BackendResult<Vec<Listed>> {
        self.list_query_then(extra, call, &Handoff::default()).await
    }

    /// [`list_query`](Self::list_query), telling `handoff` when another list may start: once
    /// the last page this list knows it needs has been asked for (or the list is read), and
    /// never when it failed.
    pub(super) async fn list_query_then(
        &self,
        extra: &[(&str, &str)],
        call: &Call<'_>,
        handoff: &Handoff,
    ) -> BackendResult<Vec<Listed>> {
        let listed = self.read_twice(extra, call, handoff).await;
        match &listed {
            Ok(_) => handoff.go(),
            Err(_) => handoff.stop(),
        }
        listed
    }

    async fn read_twice(
        &self,
        extra: &[(&str, &str)],
        call: &Call<'_>,
        handoff: &Handoff,
    ) -> BackendResult<Vec<Listed>> {
        let first = match self.read_list(extra, call, handoff).await? {
            Reading::Whole(flags) => return Ok(flags),
            Reading::Changed(why) => why,
        };
        match self.read_list(extra, call, handoff).await? {
            Reading::Whole(flags) => Ok(flags),
            Reading::Changed(again) => Err(BackendError::Server {
                status: 200,
                detail: Some(format!(
                    "the pages of `{}` did not add up, twice: {first}; read again, {again}; the flags were probably being changed meanwhile, so flagops cannot tell which exist; try again",
                    call.action
                )),
            }),
        }
    }

    /// Read a list once: the first page, then the others at once (or one after another when
    /// the first page gives no count or offset).
    async fn read_list(
        &self,
        extra: &[(&str, &str)],
        call: &Call<'_>,
        handoff: &Handoff,
    ) -> BackendResult<Reading> {
        let mut query: Query = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        query.push(("limit".into(), self.page_size.to_string()));
        let mut progress = Progress {
            call,
            pages: 0,
            bytes: 0,
            // Memory is bounded too: pages of the largest size, up to the page cap, would not be.
            most_bytes: self
                .max_response_bytes
                .saturating_mul(LIST_BYTES_IN_ANSWERS),
        };
        let (page, size) = self.read_page(&query, call).await?;
        progress.add(size)?;
        let mut seen = BTreeSet::from([sorted(&query)]);
        let on_page = page.results.len();
        let mut flags = page.results;
        let Some(first_next) = page.next else {
            return Ok(Reading::Whole(flags));
        };
        let counted = page.count.as_ref().and_then(Value::as_u64);
        let next = next_query(&first_next, call)?;
        // What a page holds, for the bounds (the offsets come from `next`).
        let per_page = if on_page > 0 {
            on_page
        } else {
            self.page_size as usize
        };
        let Some((count, step)) = counted.zip(offset_of(&next)) else {
            // Nothing to plan the pages with, nor to check them against: follow `next`.
            let tail = Tail {
                next: first_next,
                counted: counted.map(|count| (count, per_page)),
            };
            self.follow(tail, &mut seen, &mut flags, &mut progress)
                .await?;
            return Ok(Reading::Whole(flags));
        };
        let needed = pages_for(count, step);
        let queries: Vec<Query> = (1..needed.min(MAX_PAGES))
            .map(|k| with_offset(&next, step.saturating_mul(k)))
            .collect();
        let planned = queries.len();
        for query in &queries {
            seen.insert(sorted(query));
        }
        // With no other page needed, what follows the first page is the tail.
        let mut tail = (planned == 0).then_some(first_next);
        let mut pages = futures_util::stream::iter(queries.into_iter().enumerate())
            .map(|(k, query)| async move {
                // The last page is on its way: the next list may take the slots it frees.
                if k + 1 == planned {
                    handoff.go();
                }
                self.read_page(&query, call).await
            })
            .buffered(self.list_concurrency.max(1));
        let mut index = 0;
        while let Some(answer) = pages.next().await {
            let (page, size) = answer?;
            progress.add(size)?;
            index += 1;
            let number = index + 1;
            let page_count = page.count.as_ref().and_then(Value::as_u64);
            if page_count != Some(count) {
                return Ok(Reading::Changed(match page_count {
                    Some(said) => {
                        format!("page {number} counted {said} flags, the first page {count}")
                    }
                    None => format!(
                        "page {number} has no `count`, the first page counted {count} flags"
                    ),
                }));
            }
            if index < planned && (page.next.is_none() || page.results.is_empty()) {
                return Ok(Reading::Changed(format!(
                    "page {number} ended the list, although {count} flags need {needed} pages"
                )));
            }
            flags.extend(page.results);
            if index == planned {
                tail = page.next;
            }
        }
        // The last page the count needs links further: a server that never ends (or a list
        // that grew without its count saying so). Read on, within the bounds.
        if let Some(next) = tail {
            let tail = Tail {
                next,
                counted: Some((count, per_page)),
            };
            self.follow(tail, &mut seen, &mut flags, &mut progress)
                .await?;
        }
        Ok(check(flags, count))
    }

    /// Follow `next` links page after page until one has none, within the bounds: the pages
    /// the count needs plus slack (`MAX_PAGES` without a count), and never a page twice.
    async fn follow(
        &self,
        tail: Tail,
        seen: &mut BTreeSet<Query>,
        flags: &mut Vec<Listed>,
        progress: &mut Progress<'_>,
    ) -> BackendResult<()> {
        let call = progress.call;
        let allowed = tail.counted.map_or(MAX_PAGES, |(count, per_page)| {
            pages_for(count, per_page)
                .saturating_add(PAGE_SLACK)
                .min(MAX_PAGES)
        });
        let mut next = tail.next;
        loop {
            if progress.pages >= allowed {
                let count = match tail.counted {
                    Some((count, per_page)) if allowed < MAX_PAGES => format!(
                        " although its first page counted {count} flags ({per_page} a page)"
                    ),
                    _ => " (the most flagops reads)".to_owned(),
                };
                return Err(BackendError::Server {
                    status: 200,
                    detail: Some(format!(
                        "the answer to `{}` did not end after {} pages{count}: its `next` link goes on; check that `host` is the PostHog API origin",
                        call.action, progress.pages
                    )),
                });
            }
            let query = next_query(&next, call)?;
            // A `next` that leads back to any page already read would loop forever.
            if !seen.insert(sorted(&query)) {
                return Err(BackendError::Server {
                    status: 200,
                    detail: Some(format!(
                        "the `next` link of the answer to `{}` points back to a page already read",
                        call.action
                    )),
                });
            }
            let (page, size) = self.read_page(&query, call).await?;
            progress.add(size)?;
            flags.extend(page.results);
            match page.next {
                Some(link) => next = link,
                None => return Ok(()),
            }
        }
    }

    /// One page of the list, read on the configured origin with `query`.
    async fn read_page(&self, query: &Query, call: &Call<'_>) -> BackendResult<(FlagPage, usize)> {
        let url = Url::parse_with_params(&self.flags_url(), query)
            .map_err(|e| BackendError::Io(format!("cannot build the list URL: {e}")))?;
        // The semaphore is never closed: a slot always comes.
        let _slot = self.list_slots.acquire().await.ok();
        self.send_read(Method::GET, url.as_str(), None, call, read_page)
            .await
    }
}

/// The rest of a list, read by following `next` links.
struct Tail {
    /// The `next` link of the last page read.
    next: String,
    /// The first page's count and the flags a page holds, when known (bounds the pages).
    counted: Option<(u64, usize)>,
}

/// The pages `count` flags take at `per_page` a page (at least one).
fn pages_for(count: u64, per_page: usize) -> usize {
    usize::try_from(count.div_ceil(per_page.max(1) as u64))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The merged pages of a counted list, if they add up: no id twice, `count` flags in all.
fn check(flags: Vec<Listed>, count: u64) -> Reading {
    let mut ids = BTreeSet::new();
    for flag in &flags {
        if let Some(id) = flag.id
            && !ids.insert(id)
        {
            return Reading::Changed(format!("flag id {id} was on two pages"));
        }
    }
    if flags.len() as u64 != count {
        return Reading::Changed(format!(
            "the pages held {} flags, the first page counted {count}",
            flags.len()
        ));
    }
    Reading::Whole(flags)
}

/// The query pairs of a `next` link. Only its query is used: the key is never sent to an
/// origin other than the configured one (a proxy may rewrite the scheme or host in `next`).
fn next_query(next: &str, call: &Call<'_>) -> BackendResult<Query> {
    Ok(Url::parse(next)
        .map_err(|e| BackendError::Server {
            status: 200,
            detail: Some(format!(
                "the answer to `{}` has an invalid `next` link ({e})",
                call.action
            )),
        })?
        .query_pairs()
        .into_owned()
        .collect())
}

/// The `offset` of a page's query, when it has exactly one, a positive number.
fn offset_of(query: &Query) -> Option<usize> {
    let mut offsets = query.iter().filter(|(k, _)| k == "offset");
    let (_, offset) = offsets.next()?;
    if offsets.next().is_some() {
        return None;
    }
    offset.parse().ok().filter(|o| *o > 0)
}

/// `query` with its `offset` set to `offset` (the pairs keep their order).
fn with_offset(query: &Query, offset: usize) -> Query {
    query
        .iter()
        .map(|(k, v)| {
            let v = if k == "offset" {
                offset.to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

/// A query in a canonical order, to recognise a page already read.
fn sorted(query: &Query) -> Query {
    let mut query = query.clone();
    query.sort();
    query
}
