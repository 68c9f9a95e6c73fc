//! A form's fields as create and edit requests carry them (`application/x-www-form-urlencoded`
//! pairs, a field possibly repeated), read into values with every problem named by its
//! field: what the pipeline modules share.

/// One problem with a request: the field, and what is wrong with it.
pub type Problem = (String, String);

/// A problem with `field`.
pub fn problem(field: &str, why: impl Into<String>) -> Problem {
    (field.to_string(), why.into())
}

/// The single value of `field`, if sent; a second value is a problem.
pub fn single<'a>(fields: &'a [(String, String)], field: &str, problems: &mut Vec<Problem>) -> Option<&'a str> {
    let mut values = fields.iter().filter(|(k, _)| k == field).map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        problems.push(problem(field, "is given more than once"));
    }
    first
}

/// The value of `field` as a boolean (`true`, `True`, `1`, `false`, `False`, `0`).
pub fn boolean(fields: &[(String, String)], field: &str, problems: &mut Vec<Problem>) -> Option<bool> {
    match single(fields, field, problems)? {
        "true" | "True" | "1" => Some(true),
        "false" | "False" | "0" => Some(false),
        other => {
            problems.push(problem(field, format!("must be true or false, not `{other}`")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_or_odd_field_is_a_problem() {
        let fields = vec![("a".to_string(), "1".to_string()), ("a".to_string(), "2".to_string())];
        let mut problems = Vec::new();
        assert_eq!(single(&fields, "a", &mut problems), Some("1"));
        assert_eq!(boolean(&fields[..1], "a", &mut problems), Some(true));
        assert_eq!(boolean(&[("b".into(), "yes".into())], "b", &mut problems), None);
        assert_eq!(problems.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }
}
