//! A small evaluator for the `filterByFormula` subset tagbot sends:
//! `OR(...)`, `AND(...)`, `TRUE()`, `FALSE()` and `{field} = "string"`
//! comparisons, with Airtable's string escapes; `RECORD_ID()`, "the ID of
//! the current record" (support.airtable.com/docs/formula-field-reference),
//! may stand where a field does. Anything else is refused the way Airtable
//! refuses an invalid formula.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Call(String, Vec<Expr>),
    Equals(Operand, Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(String),
    Text(String),
    /// `RECORD_ID()`.
    RecordId,
}

pub fn parse(formula: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        chars: formula.chars().collect(),
        at: 0,
    };
    let expr = parser.expr()?;
    parser.skip_space();
    if parser.at != parser.chars.len() {
        return Err(format!("unexpected text at position {}", parser.at));
    }
    Ok(expr)
}

/// Field names the expression references.
pub fn fields(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::Call(_, args) => args.iter().for_each(|a| fields(a, out)),
        Expr::Equals(a, b) => {
            for operand in [a, b] {
                if let Operand::Field(name) = operand {
                    out.push(name.clone());
                }
            }
        }
    }
}

/// Whether the record `record_id` with cells `record` (keyed by field
/// name) matches.
pub fn matches(expr: &Expr, record_id: &str, record: &Map<String, Value>) -> bool {
    match expr {
        Expr::Call(name, args) => match name.as_str() {
            "OR" => args.iter().any(|a| matches(a, record_id, record)),
            "AND" => args.iter().all(|a| matches(a, record_id, record)),
            "TRUE" => true,
            _ => false,
        },
        Expr::Equals(a, b) => value_of(a, record_id, record) == value_of(b, record_id, record),
    }
}

fn value_of(operand: &Operand, record_id: &str, record: &Map<String, Value>) -> String {
    match operand {
        Operand::Text(text) => text.clone(),
        Operand::RecordId => record_id.to_owned(),
        Operand::Field(name) => match record.get(name) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            Some(other) => other.to_string(),
        },
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        self.skip_space();
        if self.peek() == Some(wanted) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {wanted:?} at position {}", self.at))
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.skip_space();
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            let start = self.at;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.at += 1;
            }
            let name: String = self.chars[start..self.at]
                .iter()
                .collect::<String>()
                .to_uppercase();
            if name == "RECORD_ID" {
                // An operand, not a condition: read the comparison.
                self.at = start;
                return self.comparison();
            }
            if !matches!(name.as_str(), "OR" | "AND" | "TRUE" | "FALSE") {
                return Err(format!("unknown function {name}"));
            }
            self.expect('(')?;
            let mut args = Vec::new();
            self.skip_space();
            if self.peek() == Some(')') {
                self.at += 1;
            } else {
                loop {
                    args.push(self.expr()?);
                    self.skip_space();
                    match self.peek() {
                        Some(',') => self.at += 1,
                        Some(')') => {
                            self.at += 1;
                            break;
                        }
                        _ => return Err(format!("expected ',' or ')' at position {}", self.at)),
                    }
                }
            }
            return Ok(Expr::Call(name, args));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.operand()?;
        self.expect('=')?;
        let right = self.operand()?;
        Ok(Expr::Equals(left, right))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_space();
        match self.peek() {
            Some('{') => {
                self.at += 1;
                Ok(Operand::Field(self.until('}')?))
            }
            Some(quote @ ('"' | '\'')) => {
                self.at += 1;
                Ok(Operand::Text(self.until(quote)?))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let name: String = self.chars[self.at..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                if !name.eq_ignore_ascii_case("RECORD_ID") {
                    return Err(format!("unknown function {name}"));
                }
                self.at += name.chars().count();
                self.expect('(')?;
                self.expect(')')?;
                Ok(Operand::RecordId)
            }
            _ => Err(format!(
                "expected a field or a string at position {}",
                self.at
            )),
        }
    }

    /// Text up to an unescaped `end`, with backslash escapes resolved.
    fn until(&mut self, end: char) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated {end:?}")),
                Some('\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some(c) => out.push(c),
                        None => return Err("dangling backslash".to_owned()),
                    }
                    self.at += 1;
                }
                Some(c) if c == end => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_quoted_string_matches_exactly_the_named_records() {
        let nasty = r#"L"1}\{x}'"#;
        // OR() of equalities, each string quoted with backslash escapes.
        let formula = r#"OR({external_id}="L2",{external_id}="L\"1}\\{x}'")"#;
        let expr = parse(formula).unwrap();
        let record = |id: &str| json!({ "external_id": id }).as_object().cloned().unwrap();
        assert!(matches(&expr, "rec1", &record(nasty)));
        assert!(matches(&expr, "rec1", &record("L2")));
        assert!(!matches(&expr, "rec1", &record("L1")));
        assert!(!matches(&expr, "rec1", &record(r#"L"1}"#)));
    }

    #[test]
    fn record_id_matches_the_records_own_id() {
        let expr = parse("OR(RECORD_ID()='recA',RECORD_ID() = \"recB\")").unwrap();
        let cells = Map::new();
        assert!(matches(&expr, "recA", &cells));
        assert!(matches(&expr, "recB", &cells));
        assert!(!matches(&expr, "recC", &cells));
        assert!(parse("RECORD_ID='recA'").is_err());
        assert!(parse("RECORDS()='recA'").is_err());
    }

    #[test]
    fn injected_formula_text_is_refused_or_literal() {
        assert!(parse(r#"{a}="x") OR(TRUE()"#).is_err());
        assert!(parse("LEN({a})").is_err());
    }
}
