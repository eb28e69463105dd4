//! Who made a decision: a Slack user, the sync worker, or a person at the
//! command line. Stored in `events.actor` as `slack:U…`, `worker`, `cli:<name>`.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A Slack user, with the display name shown at the time of the decision.
    Slack {
        user_id: String,
        display_name: Option<String>,
    },
    Worker,
    Cli {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorParseError {
    #[error("a Slack user id is upper-case letters and digits, like U012AB3CD; got {0:?}")]
    SlackUserId(String),
    #[error("a command-line actor needs a name (cli:<name>)")]
    EmptyCliName,
    #[error("an actor is slack:<user id>, worker or cli:<name>; got {0:?}")]
    Unknown(String),
}

const MAX_NAME_CHARS: usize = 200;

impl Actor {
    pub fn slack(
        user_id: impl Into<String>,
        display_name: Option<String>,
    ) -> Result<Actor, ActorParseError> {
        let user_id = user_id.into();
        let valid = user_id.len() >= 2
            && user_id.len() <= 32
            && user_id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid {
            return Err(ActorParseError::SlackUserId(user_id));
        }
        let display_name = display_name
            .map(|name| clip(name.trim()))
            .filter(|name| !name.is_empty());
        Ok(Actor::Slack {
            user_id,
            display_name,
        })
    }

    pub fn cli(name: impl AsRef<str>) -> Result<Actor, ActorParseError> {
        let name = clip(name.as_ref().trim());
        if name.is_empty() {
            return Err(ActorParseError::EmptyCliName);
        }
        Ok(Actor::Cli { name })
    }

    /// The form stored in `events.actor`.
    pub fn as_db(&self) -> String {
        self.to_string()
    }

    /// The name a person reads, when there is one.
    pub fn display_name(&self) -> Option<&str> {
        match self {
            Actor::Slack { display_name, .. } => display_name.as_deref(),
            Actor::Worker => None,
            Actor::Cli { name } => Some(name),
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_NAME_CHARS).collect()
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Slack { user_id, .. } => write!(f, "slack:{user_id}"),
            Actor::Worker => f.write_str("worker"),
            Actor::Cli { name } => write!(f, "cli:{name}"),
        }
    }
}

impl FromStr for Actor {
    type Err = ActorParseError;

    /// Parses the stored form; the display name lives in its own column.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "worker" {
            Ok(Actor::Worker)
        } else if let Some(user_id) = s.strip_prefix("slack:") {
            Actor::slack(user_id, None)
        } else if let Some(name) = s.strip_prefix("cli:") {
            Actor::cli(name)
        } else {
            Err(ActorParseError::Unknown(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_round_trip() {
        for text in ["slack:U012AB3CD", "worker", "cli:dana"] {
            assert_eq!(text.parse::<Actor>().unwrap().as_db(), text);
        }
    }

    #[test]
    fn malformed_actors_are_refused() {
        assert!(Actor::slack("u123", None).is_err());
        assert!(Actor::slack("U1 2", None).is_err());
        assert!(Actor::cli("   ").is_err());
        assert!("robot".parse::<Actor>().is_err());
    }

    #[test]
    fn slack_display_name_is_kept_and_blank_dropped() {
        let named = Actor::slack("U1", Some("דנה כהן".into())).unwrap();
        assert_eq!(named.display_name(), Some("דנה כהן"));
        let blank = Actor::slack("U1", Some("  ".into())).unwrap();
        assert_eq!(blank.display_name(), None);
    }
}
