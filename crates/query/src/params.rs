//! Reading a report's parameters: each mistake is a [`QueryError`] naming the
//! parameter and what it should be.

use chrono::{Datelike, NaiveDate};
use sextant_expr::{Options, Program, Scope};
use sextant_storage::BucketUnit;

use crate::QueryError;

/// Looks a parameter up by name.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<&'a str> + 'a>;

/// A request's parameters, by name (query string and form body alike).
pub struct Params<'a> {
    get: Lookup<'a>,
}

impl<'a> Params<'a> {
    /// Parameters read through `get`.
    pub fn new(get: impl Fn(&str) -> Option<&'a str> + 'a) -> Self {
        Params { get: Box::new(get) }
    }

    /// The parameter, trimmed, when it has something in it.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        (self.get)(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&'a str, QueryError> {
        self.text(name).ok_or_else(|| QueryError::new(format!("missing required parameter `{name}`")))
    }

    /// A `YYYY-MM-DD` date (required).
    pub fn date(&self, name: &str) -> Result<NaiveDate, QueryError> {
        let v = self.required(name)?;
        let d = NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| QueryError::new(format!("Error in {name}: invalid date `{v}`, expected yyyy-mm-dd")))?;
        if !(2000..=2100).contains(&d.year()) {
            return Err(QueryError::new(format!("Error in {name}: invalid date, bad year")));
        }
        Ok(d)
    }

    /// `from_date` and `to_date`, in order.
    pub fn date_range(&self) -> Result<(NaiveDate, NaiveDate), QueryError> {
        let (from, to) = (self.date("from_date")?, self.date("to_date")?);
        if from > to {
            return Err(QueryError::new(format!("from_date ({from}) is after to_date ({to})")));
        }
        Ok((from, to))
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn integer(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, QueryError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(QueryError::new(format!("`{name}` must be an integer from {min} to {max}, got `{v}`"))),
            },
        }
    }

    /// One of `choices` (the first is the default).
    pub fn choice(&self, name: &str, choices: &[&'static str]) -> Result<&'static str, QueryError> {
        match self.text(name) {
            None => Ok(choices[0]),
            Some(v) => {
                choices.iter().find(|c| c.eq_ignore_ascii_case(v)).copied().ok_or_else(|| {
                    QueryError::new(format!("`{name}` must be one of {}, got `{v}`", choices.join(", ")))
                })
            }
        }
    }

    /// `unit` among `allowed` (default `day`), or `interval` days counted from `origin`.
    pub fn unit(&self, allowed: &[&'static str], origin: i64) -> Result<BucketUnit, QueryError> {
        if let Some(v) = self.text("interval")
            && self.text("unit").is_none()
        {
            let days = v.parse::<u32>().ok().filter(|d| (1..=3650).contains(d)).ok_or_else(|| {
                QueryError::new(format!("`interval` must be a number of days from 1 to 3650, got `{v}`"))
            })?;
            return Ok(BucketUnit::Days { days, origin });
        }
        self.unit_only(allowed)
    }

    /// `unit` among `allowed` (default `day`), without `interval`.
    pub fn unit_only(&self, allowed: &[&'static str]) -> Result<BucketUnit, QueryError> {
        let mut choices = vec!["day"];
        choices.extend(allowed.iter().filter(|u| **u != "day"));
        Ok(match self.choice("unit", &choices)? {
            "minute" => BucketUnit::Minute,
            "hour" => BucketUnit::Hour,
            "week" => BucketUnit::Week,
            "month" => BucketUnit::Month,
            _ => BucketUnit::Day,
        })
    }

    /// The expression in `name`, checked for `scope`, when given.
    pub fn expression(&self, name: &str, scope: Scope, options: &Options) -> Result<Option<Program>, QueryError> {
        match self.text(name) {
            None => Ok(None),
            Some(src) => Program::parse(src, scope, options.clone())
                .map(Some)
                .map_err(|e| QueryError::new(format!("invalid `{name}` expression: {e}"))),
        }
    }
}
