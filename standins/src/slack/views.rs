//! `views.open`, `views.push`, `views.update` and `views.publish`: modals
//! and App Home tabs, and the trigger ids that open a modal.
//!
//! | rule | limit | Slack's documentation |
//! |---|---|---|
//! | a modal's or Home tab's blocks and fields | Block Kit's limits (`invalid_arguments`, see [`crate::block_kit`]) | reference/views/modal-views; reference/app-surfaces/app-home |
//! | modal stack (`views.push`) | 3 views (`push_limit_reached`) | views.push errors |
//! | view JSON (`views.open/push/update/publish`) | 250,000 bytes (`view_too_large`) | views.open errors: "greater than 250kb" |
//! | `trigger_id` | minted by Slack (`invalid_trigger_id`), 3 seconds (`expired_trigger_id`), single use (`exchanged_trigger_id`) | <https://api.slack.com/docs/triggers>; views.open errors |
//! | `views.publish` with the Home tab off | `not_enabled` | methods/views.publish |
//! | a view's `hash` | a new one on every change (views.update, a submission's `response_action: update`); views.update with another one is refused (`hash_conflict`: "the provided `hash` doesn't match the current stored value"), without one it updates | methods/views.update (argument `hash`, error `hash_conflict`); docs.slack.dev/surfaces/modals#handling_race_conditions |
//! | a `view_submission`'s answer | `response_action: update` replaces the view, `errors` leaves it, anything else closes it | docs.slack.dev/surfaces/modals ("Modifying modals" in response to `view_submission`) |
//!
//! Where the documentation is loose the fake takes the stricter reading:
//! "250kb" is 250,000 bytes, not 256,000; a `trigger_id` the fake did not
//! mint is refused, so a test can only open a modal with one from
//! `FakeSlack::trigger_id`. Interaction payloads carry the view's hash as
//! it was when the user acted (reference/interaction-payloads: `view.hash`),
//! so a payload built from an older [`OpenedView`] carries a stale one.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::params::str_param;
use super::reply::{Outcome, Reply};
use super::state::{OpenedView, Workspace};
use crate::block_kit;
use crate::workspace::{APP_ID, BOT_ID, TEAM_ID};

/// How long a `trigger_id` may be exchanged for a modal.
const TRIGGER_LIFETIME: Duration = Duration::from_secs(3);
/// Most views one modal may stack with `views.push`.
const MODAL_STACK: usize = 3;
/// The largest view `views.*` accept. Slack's error list says "provided
/// view is greater than 250kb" (views.open `view_too_large`) without saying
/// which kilobyte: the fake takes the smaller, 250,000 bytes of JSON.
const MAX_VIEW_BYTES: usize = 250_000;

impl OpenedView {
    /// The view as Slack returns it: the caller's object plus its state.
    fn as_response(&self) -> Value {
        let mut shown = self.view.as_object().cloned().unwrap_or_default();
        shown.insert("id".into(), json!(self.id));
        shown.insert("team_id".into(), json!(TEAM_ID));
        shown.insert("hash".into(), json!(self.hash));
        shown.insert("state".into(), json!({ "values": {} }));
        shown.insert("root_view_id".into(), json!(self.root_view_id));
        shown.insert("previous_view_id".into(), json!(self.previous_view_id));
        shown.insert("app_id".into(), json!(APP_ID));
        shown.insert("bot_id".into(), json!(BOT_ID));
        Value::Object(shown)
    }
}

impl Workspace {
    /// A fresh `trigger_id`, as an interaction payload carries one.
    pub(super) fn mint_trigger(&mut self) -> String {
        let (count, scrambled) = self.new_secret();
        let trigger = format!("{count}.{}.{scrambled:016x}", self.clock / 1_000_000);
        self.triggers_issued.insert(trigger.clone(), Instant::now());
        trigger
    }

    /// `views.open`, or `views.push` onto the most recent modal.
    pub(super) fn open_view(&mut self, params: &Value, push: bool) -> Outcome {
        let view = checked_view(params)?;
        let previous = if push { self.views.last() } else { None };
        let root = previous.map(|v| v.root_view_id.clone());
        let previous_view_id = previous.map(|v| v.id.clone());
        if let Some(root) = &root {
            if self
                .views
                .iter()
                .filter(|v| &v.root_view_id == root)
                .count()
                >= MODAL_STACK
            {
                return Err(Reply::error("push_limit_reached"));
            }
        }
        let trigger_id = self.exchange_trigger(params)?;
        let id = self.new_id("V");
        let opened = OpenedView {
            root_view_id: root.unwrap_or_else(|| id.clone()),
            id,
            previous_view_id,
            trigger_id: Some(trigger_id),
            hash: self.new_hash(),
            view: view.clone(),
            updates: 0,
        };
        let reply = json!({ "view": opened.as_response() });
        self.views.push(opened);
        Ok(reply)
    }

    /// A trigger may open one view, within 3 seconds of the interaction.
    fn exchange_trigger(&mut self, params: &Value) -> Result<String, Reply> {
        let trigger = str_param(params, "trigger_id")
            .or_else(|| str_param(params, "interactivity_pointer"))
            .ok_or_else(|| Reply::error("invalid_arguments"))?;
        if self.triggers_exchanged.contains(trigger) {
            return Err(Reply::error("exchanged_trigger_id"));
        }
        // Slack mints every trigger in an interaction payload; one it never
        // handed out (a hard-coded test value) is not a trigger at all.
        let Some(issued) = self.triggers_issued.get(trigger) else {
            return Err(Reply::error("invalid_trigger_id"));
        };
        if issued.elapsed() > TRIGGER_LIFETIME {
            return Err(Reply::error("expired_trigger_id"));
        }
        self.triggers_exchanged.insert(trigger.to_owned());
        Ok(trigger.to_owned())
    }

    /// `views.update`: the view found by `view_id` or `external_id`,
    /// replaced when `hash` is absent or still the view's own.
    pub(super) fn update_view(&mut self, params: &Value) -> Outcome {
        let view = checked_view(params)?;
        let view_id = str_param(params, "view_id");
        let external_id = str_param(params, "external_id");
        let hash = self.new_hash();
        let opened = self
            .views
            .iter_mut()
            .find(|v| {
                view_id == Some(v.id.as_str())
                    || (external_id.is_some()
                        && v.view.get("external_id").and_then(Value::as_str) == external_id)
            })
            .ok_or_else(|| Reply::error("not_found"))?;
        // "hash_conflict: the provided hash doesn't match the current
        // stored value" (methods/views.update): the view changed since the
        // caller's copy of it.
        if str_param(params, "hash").is_some_and(|expected| expected != opened.hash) {
            return Err(Reply::error("hash_conflict"));
        }
        opened.view = view.clone();
        opened.hash = hash;
        opened.updates += 1;
        Ok(json!({ "view": opened.as_response() }))
    }

    /// What Slack does with the app's answer to a `view_submission` of
    /// `view_id`: `response_action: update` replaces the view (checked as
    /// views.update checks one; a new hash), `errors` leaves it as it was,
    /// anything else closes it. Returns what Slack would show the user
    /// instead when the answer is refused.
    pub(super) fn answer_submission(
        &mut self,
        view_id: &str,
        answer: &Value,
    ) -> Result<(), String> {
        let Some(index) = self.views.iter().position(|v| v.id == view_id) else {
            return Err("not_found".to_owned());
        };
        match answer.get("response_action").and_then(Value::as_str) {
            Some("update") => {
                let view = answer.get("view").cloned().unwrap_or(Value::Null);
                check_response_view(&view)?;
                let hash = self.new_hash();
                let opened = &mut self.views[index];
                opened.view = view;
                opened.hash = hash;
                opened.updates += 1;
            }
            Some("errors") => {}
            _ => {
                self.views.remove(index);
            }
        }
        Ok(())
    }

    /// `views.publish`: a user's App Home tab, replaced whole.
    pub(super) fn publish_view(&mut self, params: &Value) -> Outcome {
        let view = checked_home(params)?;
        // "not_enabled: … a home view is published but the Home tab isn't
        // enabled for the app" (methods/views.publish).
        if self.home_tab_disabled {
            return Err(Reply::error("not_enabled"));
        }
        let user = str_param(params, "user_id").ok_or_else(|| Reply::error("invalid_arguments"))?;
        if !self.users.iter().any(|u| u.id == user) {
            return Err(Reply::error("user_not_found"));
        }
        let published = OpenedView {
            id: self.new_id("V"),
            root_view_id: String::new(),
            previous_view_id: None,
            trigger_id: None,
            hash: self.new_hash(),
            view: view.clone(),
            updates: 0,
        };
        let mut shown = published.as_response();
        if let Some(fields) = shown.as_object_mut() {
            fields.remove("root_view_id");
            fields.remove("previous_view_id");
        }
        self.homes.insert(user.to_owned(), published);
        Ok(json!({ "view": shown }))
    }
}

/// The `view` of a views.* call: an object of at most [`MAX_VIEW_BYTES`].
fn sized_view(params: &Value) -> Result<&Value, Reply> {
    let view = params
        .get("view")
        .filter(|v| v.is_object())
        .ok_or_else(|| Reply::error("invalid_arguments"))?;
    if view.to_string().len() > MAX_VIEW_BYTES {
        return Err(Reply::error("view_too_large"));
    }
    Ok(view)
}

/// Checks a modal as Slack checks one that comes back in a
/// `response_action` (`update` or `push`) of a `view_submission`: the same
/// Block Kit limits and 250 kB as views.open. Slack then shows the caller
/// an error instead of the view; tests call this on what tagbot answered.
pub fn check_response_view(view: &Value) -> Result<(), String> {
    if view.to_string().len() > MAX_VIEW_BYTES {
        return Err("view_too_large".to_owned());
    }
    block_kit::check_modal(view).map_err(|violation| violation.to_string())
}

/// The `view` of views.open, views.push or views.update, checked as a modal.
fn checked_view(params: &Value) -> Result<&Value, Reply> {
    let view = sized_view(params)?;
    block_kit::check_modal(view)
        .map_err(|violation| Reply::refused("invalid_arguments", &violation))?;
    Ok(view)
}

/// The `view` of views.publish, checked as a Home tab.
fn checked_home(params: &Value) -> Result<&Value, Reply> {
    let view = sized_view(params)?;
    block_kit::check_home(view)
        .map_err(|violation| Reply::refused("invalid_arguments", &violation))?;
    Ok(view)
}
