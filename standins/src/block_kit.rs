//! Block Kit's documented limits, checked as Slack checks a message's
//! `blocks`, a modal and an App Home view: the first rule a payload
//! breaks, with its place as a JSON pointer ([`Violation`]). The Slack
//! stand-in refuses what fails here (`invalid_blocks` for a message,
//! `invalid_arguments` for a view), and tests call it on what tagbot
//! renders.
//!
//! | rule | limit | Slack's documentation |
//! |---|---|---|
//! | blocks per message | 50 (`invalid_blocks`) | reference/block-kit/blocks |
//! | blocks per modal | 100 (`invalid_arguments`) | reference/views/modal-views |
//! | blocks per Home tab | 100, as a modal | reference/app-surfaces/app-home |
//! | section `text`, context text, any other text object | 3,000 chars | section block; composition objects (text) |
//! | section `fields` | 10 items of at most 2,000 chars | section block |
//! | header text | 150 chars, `plain_text` | header block |
//! | context `elements` | 10 | context block |
//! | actions `elements` | 25 | actions block |
//! | input `label`, `hint` | 2,000 chars; an `element` required | blocks/input-block |
//! | button text / value / url | 75 / 2,000 / 3,000 chars | button element |
//! | `action_id`, `block_id`, `callback_id` | 255 chars | button element; every block; modal views |
//! | `action_id` unique within its block, `block_id` unique within the message | | button element; every block |
//! | static selects: options, option groups | 100 each | select menu element; option group object |
//! | option text / value / description | 75 / 150 / 75 chars | option object |
//! | overflow menu options | 5 | overflow menu element |
//! | checkboxes, radio buttons options | 10 | block-elements/checkboxes-element, radio-button-group-element |
//! | placeholders | 150 chars | select menu element |
//! | modal title, close, submit | 24 chars | reference/views/modal-views |
//! | modal `submit` | required with an input block | reference/views/modal-views |
//! | modal `private_metadata` | 3,000 chars | reference/views/modal-views |

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

const MESSAGE_BLOCKS: usize = 50;
const MODAL_BLOCKS: usize = 100;
const TEXT_OBJECT: usize = 3_000;
const SECTION_FIELDS: usize = 10;
const SECTION_FIELD_TEXT: usize = 2_000;
const HEADER_TEXT: usize = 150;
const CONTEXT_ELEMENTS: usize = 10;
const ACTIONS_ELEMENTS: usize = 25;
const BUTTON_TEXT: usize = 75;
const BUTTON_VALUE: usize = 2_000;
const URL: usize = 3_000;
const ID: usize = 255;
const SELECT_OPTIONS: usize = 100;
const OPTION_GROUPS: usize = 100;
const OPTION_TEXT: usize = 75;
const OPTION_VALUE: usize = 150;
const OVERFLOW_OPTIONS: usize = 5;
const CHOICE_OPTIONS: usize = 10;
/// An input block's label and hint (blocks/input-block).
const INPUT_LABEL: usize = 2_000;
const PLACEHOLDER: usize = 150;
const MODAL_TEXT: usize = 24;
const PRIVATE_METADATA: usize = 3_000;

/// Where a payload breaks a rule, as a JSON pointer, and which rule.
#[derive(Debug)]
pub struct Violation {
    pointer: String,
    reason: String,
}

impl Violation {
    fn new(pointer: &str, reason: impl Into<String>) -> Violation {
        Violation {
            pointer: pointer.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Violation {
    // Slack's own wording: "must be less than 3001 characters [json-pointer:/blocks/0/text/text]".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [json-pointer:{}]", self.reason, self.pointer)
    }
}

/// What a check finds: nothing wrong, or the first rule the payload breaks.
pub type Checked = Result<(), Violation>;

/// A message's `blocks` array.
pub fn check_message_blocks(blocks: &Value) -> Checked {
    check_blocks(blocks, MESSAGE_BLOCKS, "/blocks")
}

/// A `view` for views.open, views.push or views.update.
pub fn check_modal(view: &Value) -> Checked {
    if view.get("type").and_then(Value::as_str) != Some("modal") {
        return Err(Violation::new("/view/type", "must be \"modal\""));
    }
    required_text(view, "title", MODAL_TEXT, "/view")?;
    optional_text(view, "close", MODAL_TEXT, "/view")?;
    optional_text(view, "submit", MODAL_TEXT, "/view")?;
    optional_str(view, "private_metadata", PRIVATE_METADATA, "/view")?;
    optional_str(view, "callback_id", ID, "/view")?;
    // "submit … Required if an input block is included" (reference/
    // views/modal-views).
    let has_input = view["blocks"]
        .as_array()
        .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "input"));
    if has_input && view.get("submit").is_none() {
        return Err(Violation::new(
            "/view/submit",
            "required when the view has an input block",
        ));
    }
    match view.get("blocks") {
        Some(blocks) => check_blocks(blocks, MODAL_BLOCKS, "/view/blocks"),
        None => Err(Violation::new("/view/blocks", "missing required field")),
    }
}

/// A `view` for views.publish: a Home tab holds up to 100 blocks, as a
/// modal does (reference/app-surfaces/app-home).
pub fn check_home(view: &Value) -> Checked {
    if view.get("type").and_then(Value::as_str) != Some("home") {
        return Err(Violation::new("/view/type", "must be \"home\""));
    }
    optional_str(view, "private_metadata", PRIVATE_METADATA, "/view")?;
    optional_str(view, "callback_id", ID, "/view")?;
    match view.get("blocks") {
        Some(blocks) => check_blocks(blocks, MODAL_BLOCKS, "/view/blocks"),
        None => Err(Violation::new("/view/blocks", "missing required field")),
    }
}

fn check_blocks(blocks: &Value, max: usize, at: &str) -> Checked {
    let blocks = array(blocks, max, at)?;
    let mut block_ids = HashSet::new();
    for (i, block) in blocks.iter().enumerate() {
        check_block(block, &format!("{at}/{i}"), &mut block_ids)?;
    }
    Ok(())
}

fn check_block(block: &Value, at: &str, block_ids: &mut HashSet<String>) -> Checked {
    let Some(kind) = block.get("type").and_then(Value::as_str) else {
        return Err(Violation::new(
            &format!("{at}/type"),
            "missing required field",
        ));
    };
    if let Some(id) = block.get("block_id") {
        let pointer = format!("{at}/block_id");
        let id = identifier(id, &pointer)?;
        if !block_ids.insert(id.to_owned()) {
            return Err(Violation::new(
                &pointer,
                format!("duplicate block_id \"{id}\""),
            ));
        }
    }
    // action_id must be unique among the elements of one block.
    let mut action_ids = HashSet::new();
    match kind {
        "section" => check_section(block, at, &mut action_ids),
        "header" => check_header(block, at),
        "context" => check_context(block, at),
        "actions" => {
            let elements = required_array(block, "elements", ACTIONS_ELEMENTS, at)?;
            for (i, element) in elements.iter().enumerate() {
                check_element(element, &format!("{at}/elements/{i}"), &mut action_ids)?;
            }
            Ok(())
        }
        // An input block needs a label (at most 2,000 characters) and
        // an element (blocks/input-block).
        "input" => {
            required_text(block, "label", INPUT_LABEL, at)?;
            optional_text(block, "hint", INPUT_LABEL, at)?;
            match block.get("element") {
                Some(element) => check_element(element, &format!("{at}/element"), &mut action_ids),
                None => Err(Violation::new(
                    &format!("{at}/element"),
                    "missing required field",
                )),
            }
        }
        _ => Ok(()),
    }
}

fn check_section(block: &Value, at: &str, action_ids: &mut HashSet<String>) -> Checked {
    if block.get("text").is_none() && block.get("fields").is_none() {
        return Err(Violation::new(at, "must provide either text or fields"));
    }
    optional_text(block, "text", TEXT_OBJECT, at)?;
    if block.get("fields").is_some() {
        let fields = required_array(block, "fields", SECTION_FIELDS, at)?;
        for (i, field) in fields.iter().enumerate() {
            text(field, SECTION_FIELD_TEXT, &format!("{at}/fields/{i}"))?;
        }
    }
    match block.get("accessory") {
        Some(element) => check_element(element, &format!("{at}/accessory"), action_ids),
        None => Ok(()),
    }
}

fn check_header(block: &Value, at: &str) -> Checked {
    required_text(block, "text", HEADER_TEXT, at)?;
    let kind = block.pointer("/text/type").and_then(Value::as_str);
    if kind != Some("plain_text") {
        return Err(Violation::new(
            &format!("{at}/text/type"),
            "must be \"plain_text\"",
        ));
    }
    Ok(())
}

fn check_context(block: &Value, at: &str) -> Checked {
    let elements = required_array(block, "elements", CONTEXT_ELEMENTS, at)?;
    for (i, element) in elements.iter().enumerate() {
        let kind = element.get("type").and_then(Value::as_str);
        if matches!(kind, Some("plain_text" | "mrkdwn")) {
            text(element, TEXT_OBJECT, &format!("{at}/elements/{i}"))?;
        }
    }
    Ok(())
}

fn check_element(element: &Value, at: &str, action_ids: &mut HashSet<String>) -> Checked {
    if let Some(id) = element.get("action_id") {
        let pointer = format!("{at}/action_id");
        let id = identifier(id, &pointer)?;
        if !action_ids.insert(id.to_owned()) {
            return Err(Violation::new(
                &pointer,
                format!("duplicate action_id \"{id}\""),
            ));
        }
    }
    optional_text(element, "placeholder", PLACEHOLDER, at)?;
    match element
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "button" => {
            required_text(element, "text", BUTTON_TEXT, at)?;
            optional_str(element, "value", BUTTON_VALUE, at)?;
            optional_str(element, "url", URL, at)
        }
        "static_select" | "multi_static_select" => {
            check_options(element, SELECT_OPTIONS, at)?;
            if element.get("option_groups").is_some() {
                let groups = required_array(element, "option_groups", OPTION_GROUPS, at)?;
                for (i, group) in groups.iter().enumerate() {
                    let at = format!("{at}/option_groups/{i}");
                    required_text(group, "label", OPTION_TEXT, &at)?;
                    check_options(group, SELECT_OPTIONS, &at)?;
                }
            }
            Ok(())
        }
        "overflow" => check_options(element, OVERFLOW_OPTIONS, at),
        // "Maximum number of options is 10" (block-elements/
        // radio-button-group-element, checkboxes-element).
        "checkboxes" | "radio_buttons" => check_options(element, CHOICE_OPTIONS, at),
        _ => Ok(()),
    }
}

/// The `options` of a menu, if it has any.
fn check_options(element: &Value, max: usize, at: &str) -> Checked {
    if element.get("options").is_none() {
        return Ok(());
    }
    let options = required_array(element, "options", max, at)?;
    for (i, option) in options.iter().enumerate() {
        let at = format!("{at}/options/{i}");
        required_text(option, "text", OPTION_TEXT, &at)?;
        match option.get("value").and_then(Value::as_str) {
            Some(value) => length(value, OPTION_VALUE, &format!("{at}/value"))?,
            None => {
                return Err(Violation::new(
                    &format!("{at}/value"),
                    "missing required field",
                ))
            }
        }
        optional_text(option, "description", OPTION_TEXT, &at)?;
        optional_str(option, "url", URL, &at)?;
    }
    Ok(())
}

fn length(s: &str, limit: usize, at: &str) -> Checked {
    if s.chars().count() > limit {
        return Err(Violation::new(
            at,
            format!("must be less than {} characters", limit + 1),
        ));
    }
    Ok(())
}

/// A text object (`{"type": …, "text": …}`) of at most `limit` characters.
fn text(object: &Value, limit: usize, at: &str) -> Checked {
    match object.get("text").and_then(Value::as_str) {
        Some(s) => length(s, limit, &format!("{at}/text")),
        None => Err(Violation::new(at, "must be a text object")),
    }
}

fn required_text(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
    match parent.get(key) {
        Some(object) => text(object, limit, &format!("{at}/{key}")),
        None => Err(Violation::new(
            &format!("{at}/{key}"),
            "missing required field",
        )),
    }
}

fn optional_text(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
    match parent.get(key) {
        Some(object) => text(object, limit, &format!("{at}/{key}")),
        None => Ok(()),
    }
}

fn optional_str(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
    let pointer = format!("{at}/{key}");
    match parent.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => length(s, limit, &pointer),
        Some(_) => Err(Violation::new(&pointer, "must be a string")),
    }
}

/// An `action_id` or `block_id`.
fn identifier<'a>(id: &'a Value, at: &str) -> Result<&'a str, Violation> {
    let Some(id) = id.as_str() else {
        return Err(Violation::new(at, "must be a string"));
    };
    length(id, ID, at)?;
    Ok(id)
}

fn array<'a>(value: &'a Value, max: usize, at: &str) -> Result<&'a Vec<Value>, Violation> {
    let Some(items) = value.as_array() else {
        return Err(Violation::new(at, "must be an array"));
    };
    if items.len() > max {
        return Err(Violation::new(
            at,
            format!("no more than {max} items allowed"),
        ));
    }
    Ok(items)
}

fn required_array<'a>(
    parent: &'a Value,
    key: &str,
    max: usize,
    at: &str,
) -> Result<&'a Vec<Value>, Violation> {
    let pointer = format!("{at}/{key}");
    match parent.get(key) {
        Some(value) => array(value, max, &pointer),
        None => Err(Violation::new(&pointer, "missing required field")),
    }
}
