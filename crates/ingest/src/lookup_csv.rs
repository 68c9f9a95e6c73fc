//! Lookup-table uploads: a CSV file becomes rows keyed by their first column.
//!
//! The rules are Mixpanel's (`PUT /lookup-tables/{id}`):
//!
//! - RFC 4180; the first row is the header, its names unique and non-empty; they
//!   become property names. The first column is the join key: every row needs one, and
//!   no two rows may share it. Keys stay text.
//! - Every other cell's type is inferred on its own: an integer or decimal number is a
//!   number; `true`/`false` in any case a boolean; a bracketed JSON list of strings
//!   (`"[""Free"",""Paid""]"` in the file) a list; an empty cell is left out (undefined);
//!   anything else, RFC 3339 timestamps included, a string (the expression language
//!   compares strings with datetimes as datetimes).
//!   One choice of ours: a number written with a leading zero (`007`, `02134`) stays a
//!   string, since such values are identifiers and postcodes, not quantities.
//! - A bad row is reported with its index among the data rows (0 is the row after the
//!   header); at most [`MAX_REPORTED`] are reported, and any makes the whole upload fail.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Failing rows reported at most.
pub const MAX_REPORTED: usize = 10;

/// A parsed upload: the header and the rows by key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsvTable {
    /// Column names, the key first.
    pub columns: Vec<String>,
    /// Each row's non-key cells, by key.
    pub rows: HashMap<String, Map<String, Value>>,
}

/// Why an upload was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CsvError {
    /// The file as a whole is unusable (no header, duplicate column names).
    #[error("{0}")]
    File(String),
    /// Some rows failed: `(index, message)`, at most [`MAX_REPORTED`].
    #[error("some data points in the request failed validation")]
    Rows(Vec<(usize, String)>),
}

/// Parses an upload.
pub fn parse(bytes: &[u8]) -> Result<CsvTable, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut records = reader.records();
    let header = match records.next() {
        None => {
            return Err(CsvError::File("the file is empty: it needs a header row and at least one data row".into()));
        }
        Some(Err(e)) => return Err(CsvError::File(format!("the header row is not valid CSV: {e}"))),
        Some(Ok(h)) => h,
    };
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_string()).collect();
    if columns.len() < 2 {
        return Err(CsvError::File("the header needs a key column and at least one more column".into()));
    }
    if let Some(i) = columns.iter().position(String::is_empty) {
        return Err(CsvError::File(format!("header column {} has no name", i + 1)));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = columns.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(CsvError::File(format!("the header names column `{dup}` twice; column names must be unique")));
    }
    let mut table = CsvTable { columns, rows: HashMap::new() };
    let mut first_index: HashMap<String, usize> = HashMap::new();
    let mut failed = Vec::new();
    for (index, record) in records.enumerate() {
        let problem = match record {
            Err(e) => Some(format!("invalid row: {e}")),
            Ok(r) if r.len() != table.columns.len() => Some("invalid row: wrong number of fields".to_string()),
            Ok(r) => {
                let key = r.get(0).unwrap_or("").to_string();
                if key.trim().is_empty() {
                    Some("primary key is required and cannot be blank".to_string())
                } else if let Some(first) = first_index.get(&key) {
                    Some(format!("invalid row: row indexes {first} and {index} have the same primary key"))
                } else {
                    let mut row = Map::new();
                    for (name, cell) in table.columns.iter().zip(r.iter()).skip(1) {
                        if let Some(v) = infer(cell) {
                            row.insert(name.clone(), v);
                        }
                    }
                    first_index.insert(key.clone(), index);
                    table.rows.insert(key, row);
                    None
                }
            }
        };
        if let Some(message) = problem {
            failed.push((index, message));
            if failed.len() == MAX_REPORTED {
                break;
            }
        }
    }
    if !failed.is_empty() {
        return Err(CsvError::Rows(failed));
    }
    if table.rows.is_empty() {
        return Err(CsvError::File("the file has a header but no data rows".into()));
    }
    Ok(table)
}

/// One cell's value; `None` for an empty cell.
pub fn infer(cell: &str) -> Option<Value> {
    if cell.is_empty() {
        return None;
    }
    if cell.eq_ignore_ascii_case("true") {
        return Some(Value::Bool(true));
    }
    if cell.eq_ignore_ascii_case("false") {
        return Some(Value::Bool(false));
    }
    if is_number(cell)
        && let Ok(n) = cell.parse::<f64>()
        && n.is_finite()
    {
        let int = !cell.contains(['.', 'e', 'E']);
        return Some(match (int, cell.parse::<i64>()) {
            (true, Ok(i)) => Value::from(i),
            _ => Value::from(n),
        });
    }
    let trimmed = cell.trim();
    if trimmed.starts_with('[')
        && trimmed.ends_with(']')
        && let Ok(Value::Array(items)) = serde_json::from_str::<Value>(trimmed)
        && items.iter().all(Value::is_string)
    {
        return Some(Value::Array(items));
    }
    Some(Value::String(cell.to_string()))
}

/// `-?digits[.digits][e[+-]digits]`, without a leading zero before more digits.
fn is_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && !(int.len() > 1 && int.starts_with('0'))
        && frac.is_none_or(digits)
        && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_are_typed_one_by_one() {
        assert_eq!(infer("12"), Some(json!(12)));
        assert_eq!(infer("-3.5"), Some(json!(-3.5)));
        assert_eq!(infer("1e3"), Some(json!(1000.0)));
        assert_eq!(infer("0"), Some(json!(0)));
        assert_eq!(infer("0.25"), Some(json!(0.25)));
        assert_eq!(infer("007"), Some(json!("007")));
        assert_eq!(infer("TRUE"), Some(json!(true)));
        assert_eq!(infer("false"), Some(json!(false)));
        assert_eq!(infer(r#"["Free","Paid"]"#), Some(json!(["Free", "Paid"])));
        assert_eq!(infer("[1,2]"), Some(json!("[1,2]")));
        assert_eq!(infer("2024-01-02T03:04:05Z"), Some(json!("2024-01-02T03:04:05Z")));
        assert_eq!(infer("NaN"), Some(json!("NaN")));
        assert_eq!(infer("1."), Some(json!("1.")));
        assert_eq!(infer(""), None);
        assert_eq!(infer(" "), Some(json!(" ")));
    }

    #[test]
    fn a_file_becomes_rows_by_key() {
        let t = parse(b"id,artist,plays,genres\ns1,Nina,10,\"[\"\"jazz\"\",\"\"soul\"\"]\"\ns2,Miles,,\n").unwrap();
        assert_eq!(t.columns, vec!["id", "artist", "plays", "genres"]);
        assert_eq!(
            Value::Object(t.rows["s1"].clone()),
            json!({"artist": "Nina", "plays": 10, "genres": ["jazz", "soul"]})
        );
        assert_eq!(Value::Object(t.rows["s2"].clone()), json!({"artist": "Miles"}));
        let crlf = parse(b"\xEF\xBB\xBFid,x\r\na,1\r\n").unwrap();
        assert_eq!(crlf.columns, vec!["id", "x"]);
    }

    #[test]
    fn bad_rows_are_reported_by_index_up_to_ten() {
        let err = parse(b"id,x\na,1\n,2\nb,1,2\na,3\n").unwrap_err();
        assert_eq!(
            err,
            CsvError::Rows(vec![
                (1, "primary key is required and cannot be blank".into()),
                (2, "invalid row: wrong number of fields".into()),
                (3, "invalid row: row indexes 0 and 3 have the same primary key".into()),
            ])
        );
        let many: String = std::iter::once("id,x\n".to_string()).chain((0..30).map(|_| ",1\n".to_string())).collect();
        let CsvError::Rows(rows) = parse(many.as_bytes()).unwrap_err() else { panic!() };
        assert_eq!(rows.len(), MAX_REPORTED);
    }

    #[test]
    fn bad_files_say_why() {
        assert!(matches!(parse(b""), Err(CsvError::File(_))));
        assert!(matches!(parse(b"id\n1\n"), Err(CsvError::File(_))));
        assert!(matches!(parse(b"id,x,x\n1,2,3\n"), Err(CsvError::File(m)) if m.contains("twice")));
        assert!(matches!(parse(b"id,x\n"), Err(CsvError::File(_))));
        assert!(matches!(parse(b"id,,y\n1,2,3\n"), Err(CsvError::File(_))));
    }
}
