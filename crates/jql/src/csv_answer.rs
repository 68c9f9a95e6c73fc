//! A script's answer as CSV, for `format=csv` (what `mixpanel-utils`' `query_jql(...,
//! format="csv")` asks for). Mixpanel's layout is unconfirmed; Sextant's is one row per
//! element of the answer, under a header row:
//!
//! - an object element is flattened: a nested object's members become `outer.inner`
//!   columns and a list's items `list.0`, `list.1`, ... (so `groupBy`'s
//!   `{"key": ["US", 3], "value": 7}` is `key.0,key.1,value`);
//! - any other element (a number, a string, a list) is one column, `value`;
//! - columns come in the order they are first met; a cell a row lacks, or that is
//!   null, is empty; strings are written as they are, numbers and booleans as JSON
//!   writes them; quoting follows RFC 4180;
//! - an answer with nothing to show (no elements, or only empty objects) is empty.

use serde_json::Value;

/// The JSON array `answer` (what [`crate::run`] answers) as CSV text.
pub fn to_csv(answer: &str) -> Result<String, String> {
    let rows: Vec<Value> = serde_json::from_str(answer).map_err(|e| format!("the answer is not a JSON array: {e}"))?;
    let mut columns: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut cells: Vec<Vec<(usize, String)>> = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut flat = Vec::new();
        match row {
            Value::Object(_) => flatten("", row, &mut flat),
            other => flat.push(("value".to_string(), other)),
        }
        let mut line = Vec::with_capacity(flat.len());
        for (name, value) in flat {
            let at = *index.entry(name.clone()).or_insert_with(|| {
                columns.push(name);
                columns.len() - 1
            });
            line.push((at, text(value)));
        }
        cells.push(line);
    }
    if columns.is_empty() {
        // No element with anything to show (none at all, or only empty objects).
        return Ok(String::new());
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |e: csv::Error| e.to_string();
    out.write_record(&columns).map_err(write)?;
    for line in cells {
        let mut record = vec![String::new(); columns.len()];
        for (at, value) in line {
            record[at] = value;
        }
        out.write_record(&record).map_err(write)?;
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// The leaves of `value`, named by their path below `prefix`.
fn flatten<'v>(prefix: &str, value: &'v Value, out: &mut Vec<(String, &'v Value)>) {
    let name = |key: &str| if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
    match value {
        Value::Object(members) if !members.is_empty() || prefix.is_empty() => {
            for (key, member) in members {
                flatten(&name(key), member, out);
            }
        }
        Value::Array(items) if !items.is_empty() && !prefix.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                flatten(&name(&i.to_string()), item, out);
            }
        }
        leaf => out.push((prefix.to_string(), leaf)),
    }
}

/// A leaf's cell.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::to_csv;

    #[test]
    fn groups_flatten_into_columns_in_the_order_met() {
        let answer = r#"[{"key": ["US", 3], "value": 7}, {"key": ["FR", null], "value": 2, "extra": {"a": "x,y"}}]"#;
        assert_eq!(to_csv(answer).unwrap(), "key.0,key.1,value,extra.a\nUS,3,7,\nFR,,2,\"x,y\"\n");
    }

    #[test]
    fn other_elements_are_one_value_column() {
        assert_eq!(to_csv(r#"[12, "a\"b", [1, 2], true]"#).unwrap(), "value\n12\n\"a\"\"b\"\n\"[1,2]\"\ntrue\n");
        assert_eq!(to_csv("[]").unwrap(), "");
        assert_eq!(to_csv(r#"[{}]"#).unwrap(), "");
    }
}
