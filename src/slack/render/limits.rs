//! Slack's documented Block Kit limits (characters, or items where said).
//! Every text the render modules emit is cut to its limit on a `char`
//! boundary, with "…" when something was cut.
//!
//! | what | limit | source |
//! |---|---|---|
//! | blocks in a message / in a modal | 50 / 100 | docs.slack.dev/reference/block-kit/blocks ("up to 50 blocks in each message, and 100 blocks in modals") |
//! | message `text` | 40,000 chars | api.slack.com/changelog/2018-04-truncating-really-long-messages |
//! | section `text` | 3,000 chars | docs.slack.dev/reference/block-kit/blocks/section-block |
//! | section `fields` | 10 items, 2,000 chars each | same |
//! | context `elements` | 10 | docs.slack.dev/reference/block-kit/blocks/context-block |
//! | text object (context element) | 3,000 chars | docs.slack.dev/reference/block-kit/composition-objects/text-object |
//! | header `text` | 150 chars | docs.slack.dev/reference/block-kit/blocks/header-block |
//! | `block_id`, `action_id` | 255 chars; block ids unique per message, action ids unique per block | header/section block pages, button element page |
//! | button `text` / `value` | 75 / 2,000 chars | docs.slack.dev/reference/block-kit/block-elements/button-element |
//! | actions block `elements` | 25 | docs.slack.dev/reference/block-kit/blocks/actions-block (`@slack/types` ActionsBlock) |
//! | multi_static_select `options` / `placeholder` | 100 / 150 chars; works in section and input blocks only | docs.slack.dev/reference/block-kit/block-elements/multi-select-menu-element |
//! | option `text` / `value` | 75 / 150 chars | docs.slack.dev/reference/block-kit/composition-objects/option-object |
//! | overflow `options` | up to 5 | docs.slack.dev/reference/block-kit/block-elements/overflow-menu-element |
//! | confirm dialog title / text / buttons | 100 / 300 / 30 chars | api.slack.com/reference/block-kit/composition-objects (confirmation dialog) |
//! | modal `title` / `close` | 24 chars each | docs.slack.dev/reference/views/modal-views |
//! | a view's JSON | 250 kB (`view_too_large`, "provided view is greater than 250kb"; taken as 250,000 bytes of UTF-8, the stricter reading) | docs.slack.dev/reference/methods/views.open (errors) |

/// Blocks in one message.
pub const MESSAGE_BLOCKS: usize = 50;
/// Blocks in one modal view.
pub const MODAL_BLOCKS: usize = 100;
/// A message's top-level `text` (Slack truncates past this).
pub const MESSAGE_TEXT: usize = 40_000;
/// A section block's `text`; also any text object.
pub const SECTION_TEXT: usize = 3_000;
/// Items in a section's `fields`.
pub const SECTION_FIELDS: usize = 10;
/// Each of a section's `fields`.
pub const SECTION_FIELD_TEXT: usize = 2_000;
/// Elements of a context block.
pub const CONTEXT_ELEMENTS: usize = 10;
/// A header block's text.
pub const HEADER_TEXT: usize = 150;
/// `block_id` and `action_id`.
pub const ID: usize = 255;
/// A button's label.
pub const BUTTON_TEXT: usize = 75;
/// A button's value.
pub const BUTTON_VALUE: usize = 2_000;
/// Elements of an actions block.
pub const ACTIONS_ELEMENTS: usize = 25;
/// Options of a static (multi-)select.
pub const SELECT_OPTIONS: usize = 100;
/// A select's placeholder.
pub const SELECT_PLACEHOLDER: usize = 150;
/// An option's text.
pub const OPTION_TEXT: usize = 75;
/// An option's value.
pub const OPTION_VALUE: usize = 150;
/// Options of an overflow menu.
pub const OVERFLOW_OPTIONS: usize = 5;
/// A confirmation dialog's title.
pub const CONFIRM_TITLE: usize = 100;
/// A confirmation dialog's text.
pub const CONFIRM_TEXT: usize = 300;
/// A confirmation dialog's confirm / deny labels.
pub const CONFIRM_BUTTON: usize = 30;
/// A modal's title, close and submit labels.
pub const MODAL_TITLE: usize = 24;
/// An input block's label.
pub const INPUT_LABEL: usize = 2000;
/// A modal's `private_metadata`.
pub const PRIVATE_METADATA: usize = 3000;
/// A view's JSON, in bytes (views.open / views.update: `view_too_large`,
/// "provided view is greater than 250kb"; read as 250,000 bytes, the
/// stricter).
pub const VIEW_BYTES: usize = 250_000;
