//! Collections Sextant owns, as `000_*.txt` shapes them: newest first, `limit` (default
//! 50, at most 300), opaque `next`/`previous` cursors with `hasNext`/`hasPrevious`, and
//! a `fields` projection with dot notation. The keys sit beside Mixpanel's own
//! (`status`, `results`), so Mixpanel clients still parse the response.

use serde_json::{Map, Value, json};
use sextant_ingest::Params;
use sextant_model::page::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use sextant_model::{Cursor, Page, PageRequest, PageStart};

use crate::error::ApiError;

/// The paging parameters every collection takes, as the OpenAPI document lists them
/// ([`CollectionQuery::parse`] reads them).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; parsing is `CollectionQuery::parse`
pub struct PageParams {
    /// Items per page (default 50).
    #[param(minimum = 1, maximum = 300)]
    limit: Option<u32>,
    /// Cursor from a previous page's `next`: the page after it.
    next: Option<String>,
    /// Cursor from a previous page's `previous`: the page before it.
    previous: Option<String>,
    /// Comma-separated fields to keep, dot notation (`id,name`).
    fields: Option<String>,
}

/// The paging and projection a request asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionQuery {
    /// Which page.
    pub page: PageRequest,
    /// Dotted field paths to keep; empty keeps everything.
    pub fields: Vec<Vec<String>>,
}

impl CollectionQuery {
    /// Reads `limit`, `next`, `previous` and `fields`.
    pub fn parse(params: &Params) -> Result<CollectionQuery, ApiError> {
        let mut problems = Vec::new();
        let limit = match params.get("limit").map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_PAGE_LIMIT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
                _ => {
                    problems.push(("limit".to_string(), format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}")));
                    DEFAULT_PAGE_LIMIT
                }
            },
        };
        let cursor = |name: &str, problems: &mut Vec<(String, String)>| {
            let text = params.get(name).map(str::trim).filter(|s| !s.is_empty())?;
            let c = Cursor::decode(text);
            if c.is_none() {
                problems.push((name.to_string(), "is not a cursor from a previous response".to_string()));
            }
            c
        };
        let (next, previous) = (cursor("next", &mut problems), cursor("previous", &mut problems));
        let from = match (next, previous) {
            (Some(_), Some(_)) => {
                problems.push(("next".to_string(), "give `next` or `previous`, not both".to_string()));
                PageStart::Newest
            }
            (Some(c), None) => PageStart::After(c),
            (None, Some(c)) => PageStart::Before(c),
            (None, None) => PageStart::Newest,
        };
        if !problems.is_empty() {
            return Err(ApiError::invalid_fields("", problems));
        }
        let fields = params
            .get("fields")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| f.split('.').map(str::to_string).collect())
            .collect();
        Ok(CollectionQuery { page: PageRequest { limit, from }, fields })
    }

    /// The response body for `page`, each item rendered by `render`.
    pub fn respond<T>(&self, page: Page<T>, render: impl Fn(&T) -> Value) -> Value {
        let results: Vec<Value> = page.items.iter().map(|item| project(&render(item), &self.fields)).collect();
        json!({
            "status": "ok",
            "results": results,
            "next": page.next.map(Cursor::encode),
            "hasNext": page.has_next,
            "previous": page.previous.map(Cursor::encode),
            "hasPrevious": page.has_previous,
        })
    }
}

/// Keeps only `fields` (dotted paths) of `value`; through lists, applies to each element.
/// No fields keeps everything.
pub fn project(value: &Value, fields: &[Vec<String>]) -> Value {
    if fields.is_empty() || fields.iter().any(|f| f.is_empty()) {
        return value.clone();
    }
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| project(i, fields)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let rest: Vec<Vec<String>> = fields.iter().filter(|f| f[0] == *key).map(|f| f[1..].to_vec()).collect();
                if !rest.is_empty() {
                    out.insert(key.clone(), project(v, &rest));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_dotted_paths_through_lists() {
        let v = json!({"_id": 1, "title": "t", "secret": "s", "users": [{"userId": 1, "name": "a"}, {"userId": 2}]});
        let fields = vec![vec!["_id".to_string()], vec!["title".into()], vec!["users".into(), "userId".into()]];
        assert_eq!(project(&v, &fields), json!({"_id": 1, "title": "t", "users": [{"userId": 1}, {"userId": 2}]}));
        assert_eq!(project(&v, &[]), v);
    }

    #[test]
    fn bad_paging_parameters_name_the_field() {
        let err = CollectionQuery::parse(&Params::parse(b"limit=301&next=zzz")).unwrap_err();
        let details = err.details.unwrap();
        assert!(details.contains_key("limit") && details.contains_key("next"), "{details:?}");
        let ok = CollectionQuery::parse(&Params::parse(b"limit=3&fields=id,name")).unwrap();
        assert_eq!(ok.page.limit, 3);
        assert_eq!(ok.fields.len(), 2);
    }
}
