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
//! | text objects | `plain_text` or `mrkdwn`, 1 to 3,000 chars | composition objects (text) |
//! | `plain_text` only | header, button and option text, placeholders, input label and hint, confirmation title and buttons, modal title, close, submit | each one's page |
//! | button `style` | `primary` or `danger` | button element |
//! | confirmation dialog title / text / confirm, deny | 100 / 300 / 30 chars | confirmation dialog object |
//! | option values | unique within their menu | option object |
//! | multi-select menus | section and input blocks only | multi-select menu element |
//! | actions and context `elements`, menu `options` | at least 1 | docs silent; the fake refuses an empty list |
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
/// A confirmation dialog's title, text, and confirm and deny labels
/// (composition-objects/confirmation-dialog-object).
const CONFIRM_TITLE: usize = 100;
const CONFIRM_TEXT: usize = 300;
const CONFIRM_BUTTON: usize = 30;

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

/// What a check answers: nothing, or the first rule broken.
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
    // "Must be a plain_text text element" (reference/views/modal-views).
    required_plain(view, "title", MODAL_TEXT, "/view")?;
    optional_plain(view, "close", MODAL_TEXT, "/view")?;
    optional_plain(view, "submit", MODAL_TEXT, "/view")?;
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
            let elements = required_items(block, "elements", ACTIONS_ELEMENTS, at)?;
            for (i, element) in elements.iter().enumerate() {
                let at = format!("{at}/elements/{i}");
                allowed_in_actions(element, &at)?;
                check_element(element, &at, &mut action_ids)?;
            }
            Ok(())
        }
        // An input block needs a label (at most 2,000 characters) and
        // an element; label and hint are plain_text (blocks/input-block).
        "input" => {
            required_plain(block, "label", INPUT_LABEL, at)?;
            optional_plain(block, "hint", INPUT_LABEL, at)?;
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
    required_plain(block, "text", HEADER_TEXT, at)
}

fn check_context(block: &Value, at: &str) -> Checked {
    let elements = required_items(block, "elements", CONTEXT_ELEMENTS, at)?;
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
    // Every placeholder is "A plain_text only text object" (the
    // select, multi-select and input elements' pages).
    optional_plain(element, "placeholder", PLACEHOLDER, at)?;
    if let Some(dialog) = element.get("confirm") {
        check_confirm(dialog, &format!("{at}/confirm"))?;
    }
    match type_of(element) {
        "button" => {
            // "Can only be of type: plain_text" (block-elements/button-element).
            required_plain(element, "text", BUTTON_TEXT, at)?;
            optional_str(element, "value", BUTTON_VALUE, at)?;
            optional_str(element, "url", URL, at)?;
            check_style(element, at)
        }
        "static_select" | "multi_static_select" => {
            check_options(element, SELECT_OPTIONS, Menu::PlainText, at)?;
            if element.get("option_groups").is_some() {
                let groups = required_array(element, "option_groups", OPTION_GROUPS, at)?;
                for (i, group) in groups.iter().enumerate() {
                    let at = format!("{at}/option_groups/{i}");
                    // "A plain_text text object" (composition-objects/option-group-object).
                    required_plain(group, "label", OPTION_TEXT, &at)?;
                    check_options(group, SELECT_OPTIONS, Menu::PlainText, &at)?;
                }
            }
            Ok(())
        }
        "overflow" => check_options(element, OVERFLOW_OPTIONS, Menu::PlainText, at),
        // "Maximum number of options is 10" (block-elements/
        // radio-button-group-element, checkboxes-element).
        "checkboxes" | "radio_buttons" => check_options(element, CHOICE_OPTIONS, Menu::AnyText, at),
        _ => Ok(()),
    }
}

/// The `type` of a block, element or text object.
fn type_of(object: &Value) -> &str {
    object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Multi-select menus work "with block types: Section, Input"
/// (block-elements/multi-select-menu-element): not in an actions block.
fn allowed_in_actions(element: &Value, at: &str) -> Checked {
    if type_of(element).starts_with("multi_") {
        return Err(Violation::new(
            &format!("{at}/type"),
            "multi-select menus are not allowed in actions blocks",
        ));
    }
    Ok(())
}

/// A button's `style`: "primary", "danger" or none (block-elements/
/// button-element).
fn check_style(button: &Value, at: &str) -> Checked {
    match button.get("style").map(|style| style.as_str()) {
        None | Some(Some("primary" | "danger")) => Ok(()),
        Some(_) => Err(Violation::new(
            &format!("{at}/style"),
            "must be \"primary\" or \"danger\"",
        )),
    }
}

/// A confirmation dialog: title, confirm and deny plain_text of at
/// most 100, 30 and 30 characters, text of at most 300
/// (composition-objects/confirmation-dialog-object).
fn check_confirm(dialog: &Value, at: &str) -> Checked {
    required_plain(dialog, "title", CONFIRM_TITLE, at)?;
    required_text(dialog, "text", CONFIRM_TEXT, at)?;
    required_plain(dialog, "confirm", CONFIRM_BUTTON, at)?;
    required_plain(dialog, "deny", CONFIRM_BUTTON, at)
}

/// Which text objects a menu's options may use: "Overflow, select, and
/// multi-select menus can only use plain_text objects, while radio
/// buttons and checkboxes can use mrkdwn" (composition-objects/option-object).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Menu {
    PlainText,
    AnyText,
}

/// The `options` of a menu, if it has any: at least one, each value
/// "A unique string value" (composition-objects/option-object).
fn check_options(element: &Value, max: usize, menu: Menu, at: &str) -> Checked {
    if element.get("options").is_none() {
        return Ok(());
    }
    let options = required_items(element, "options", max, at)?;
    let mut values = HashSet::new();
    for (i, option) in options.iter().enumerate() {
        let at = format!("{at}/options/{i}");
        match menu {
            Menu::PlainText => required_plain(option, "text", OPTION_TEXT, &at)?,
            Menu::AnyText => required_text(option, "text", OPTION_TEXT, &at)?,
        }
        let pointer = format!("{at}/value");
        let Some(value) = option.get("value").and_then(Value::as_str) else {
            return Err(Violation::new(&pointer, "missing required field"));
        };
        filled(value, OPTION_VALUE, &pointer)?;
        if !values.insert(value) {
            return Err(Violation::new(
                &pointer,
                format!("duplicate option value \"{value}\""),
            ));
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

/// `s` of 1 to `limit` characters.
fn filled(s: &str, limit: usize, at: &str) -> Checked {
    if s.is_empty() {
        return Err(Violation::new(at, "must be at least 1 character"));
    }
    length(s, limit, at)
}

/// A text object (`{"type": …, "text": …}`): `plain_text` or `mrkdwn`,
/// 1 to `limit` characters ("The minimum length is 1",
/// composition-objects/text-object).
fn text(object: &Value, limit: usize, at: &str) -> Checked {
    let Some(s) = object.get("text").and_then(Value::as_str) else {
        return Err(Violation::new(at, "must be a text object"));
    };
    if !matches!(type_of(object), "plain_text" | "mrkdwn") {
        return Err(Violation::new(
            &format!("{at}/type"),
            "must be \"plain_text\" or \"mrkdwn\"",
        ));
    }
    filled(s, limit, &format!("{at}/text"))
}

/// [`required_text`] that must be `plain_text`.
fn required_plain(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
    required_text(parent, key, limit, at)?;
    plain_only(parent, key, at)
}

/// [`optional_text`] that must be `plain_text`.
fn optional_plain(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
    optional_text(parent, key, limit, at)?;
    plain_only(parent, key, at)
}

fn plain_only(parent: &Value, key: &str, at: &str) -> Checked {
    match parent.get(key) {
        Some(object) if type_of(object) != "plain_text" => Err(Violation::new(
            &format!("{at}/{key}/type"),
            "must be \"plain_text\"",
        )),
        _ => Ok(()),
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

/// [`required_array`] with at least one item. The pages give no
/// minimum for a block's elements or a menu's options; an empty list
/// shows nothing to read or pick, and the fake takes the stricter
/// reading and refuses it.
fn required_items<'a>(
    parent: &'a Value,
    key: &str,
    max: usize,
    at: &str,
) -> Result<&'a Vec<Value>, Violation> {
    let items = required_array(parent, key, max, at)?;
    if items.is_empty() {
        return Err(Violation::new(
            &format!("{at}/{key}"),
            "must provide at least 1 items",
        ));
    }
    Ok(items)
}
