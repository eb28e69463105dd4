//! Building `filterByFormula` expressions safely.
//!
//! Values are always string literals: wrapped in double quotes with
//! backslashes and quotes escaped, so an external id containing `"`, `'`,
//! `{`, `}` or `\` is matched literally and can never change the formula.

/// `{field name}`; a `}` inside the name is escaped.
pub fn field(name: &str) -> String {
    format!("{{{}}}", name.replace('\\', "\\\\").replace('}', "\\}"))
}

/// A string literal for `value`.
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// Records whose `field_name` equals any of `values`.
pub fn field_in(field_name: &str, values: &[&str]) -> String {
    let reference = field(field_name);
    let terms: Vec<String> = values
        .iter()
        .map(|value| format!("{reference}={}", string_literal(value)))
        .collect();
    match terms.as_slice() {
        [] => "FALSE()".to_owned(),
        [one] => one.clone(),
        _ => format!("OR({})", terms.join(",")),
    }
}

/// Records whose id is one of `record_ids` (`RECORD_ID()`, "the ID of the
/// current record": support.airtable.com/docs/formula-field-reference).
pub fn record_in(record_ids: &[&str]) -> String {
    let terms: Vec<String> = record_ids
        .iter()
        .map(|id| format!("RECORD_ID()={}", string_literal(id)))
        .collect();
    match terms.as_slice() {
        [] => "FALSE()".to_owned(),
        [one] => one.clone(),
        _ => format!("OR({})", terms.join(",")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(string_literal(r#"a"b\c'd{e}"#), r#""a\"b\\c'd{e}""#);
        assert_eq!(string_literal("שלום"), "\"שלום\"");
    }

    #[test]
    fn field_lists_become_one_or() {
        assert_eq!(field_in("external_id", &["L1"]), r#"{external_id}="L1""#);
        assert_eq!(
            field_in("ext}id", &["L1", "L\"2"]),
            r#"OR({ext\}id}="L1",{ext\}id}="L\"2")"#
        );
    }

    #[test]
    fn record_ids_become_one_or() {
        assert_eq!(record_in(&["recA"]), r#"RECORD_ID()="recA""#);
        assert_eq!(
            record_in(&["recA", "rec\"B"]),
            r#"OR(RECORD_ID()="recA",RECORD_ID()="rec\"B")"#
        );
        assert_eq!(record_in(&[]), "FALSE()");
    }
}
