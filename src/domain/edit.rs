//! What Airtable's change stream says people did to a record's tags:
//! who made a change, and each value's last edit by someone other than
//! tagbot. Shared by the stream's checks and the tables that keep them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A set of tag values (record ids or option names), ordered so that two
/// cells compare equal whatever order Airtable lists them in.
pub type Values = BTreeSet<String>;

/// A cell's values as a set, to compare cells whatever their order.
pub fn value_set(values: &[String]) -> Values {
    values.iter().cloned().collect()
}

/// Who made a change, from the payload's `actionMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// `client` (a person in Airtable), `publicApi`, `automation`,
    /// `formSubmission`…: Airtable says to expect new ones.
    pub source: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl Author {
    /// A change made through the Web API, as tagbot's own writes are.
    pub fn is_api(&self) -> bool {
        self.source == "publicApi"
    }

    /// How people are told who it was: the name, else the email, else
    /// what kind of change it was.
    pub fn describe(&self) -> String {
        if let Some(name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return name.to_owned();
        }
        if let Some(email) = self.email.as_deref().filter(|e| !e.is_empty()) {
            return email.to_owned();
        }
        match self.source.as_str() {
            "client" => "someone in Airtable".to_owned(),
            "publicApi" => "an API client".to_owned(),
            "automation" => "an Airtable automation".to_owned(),
            "formSubmission" | "formPageSubmission" => "a form submission".to_owned(),
            "sync" => "an Airtable sync".to_owned(),
            other => format!("Airtable ({other})"),
        }
    }
}

/// What a value's last change by someone other than tagbot was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub change: EditKind,
    pub by: Author,
    pub at: DateTime<Utc>,
    /// The base transaction of the change: the stream's order.
    #[serde(default)]
    pub transaction: i64,
}

impl Edit {
    /// Whether this is a `change` made after base transaction `through`.
    pub fn is_after(&self, change: EditKind, through: i64) -> bool {
        self.change == change && self.transaction > through
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    Added,
    Removed,
}

/// A record's tags cell as known, and who last edited each value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub lecture: Option<String>,
    /// In the cell's order.
    pub tags: Vec<String>,
    pub edits: BTreeMap<String, Edit>,
}
