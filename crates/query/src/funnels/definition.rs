//! What a saved funnel may be: a save or a change, given as typed fields (read from the
//! App API's body or the CLI's flags by their callers), checked into a
//! [`FunnelDefinition`] that will run.
//!
//! The rules, as the App API has always applied them (the first broken one is the
//! answer): the window's unit is one the `/funnels` parameter takes ([`length_unit`]); a
//! new funnel has steps; the ordering is `ordered` or `any` ([`order`]); the shape holds
//! ([`FunnelDefinition::check`]); and every step's `where` parses ([`super::selectors`]).
//! Callers read the text fields with [`length_unit`] and [`order`] in that order, so a
//! request with several mistakes is told about the same one as before. Every mistake is
//! a [`FieldErrors`] of [`INVALID`].

use sextant_expr::Options;
use sextant_model::funnel::{DEFAULT_LENGTH, DEFAULT_LENGTH_UNIT};
use sextant_model::{FunnelDefinition, FunnelOrder, FunnelStep, LengthUnit};

use crate::FieldErrors;

/// The context of every mistake in a funnel.
pub const INVALID: &str = "invalid funnel";

/// A save or a change of a funnel: each field given, or `None` to keep the base's (the
/// default's, for a new funnel).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunnelSpec {
    /// The steps, all of them.
    pub steps: Option<Vec<FunnelStep>>,
    /// The conversion window, in `length_unit`s.
    pub length: Option<u32>,
    /// The window's unit.
    pub length_unit: Option<LengthUnit>,
    /// The ordering rule.
    pub order: Option<FunnelOrder>,
}

/// Reads a `length_unit` as the `/funnels` parameter is read: `day`, `hour`, `minute` or
/// `second`, plural and any case.
pub fn length_unit(text: &str) -> Result<LengthUnit, FieldErrors> {
    LengthUnit::parse(text)
        .ok_or_else(|| FieldErrors::one(INVALID, "length_unit", "must be one of day, hour, minute, second"))
}

/// Reads an `order`: `ordered` or `any`, any case. A mistake names the field `body` and
/// is worded as serde words an unknown variant: the App API has always answered so.
pub fn order(text: &str) -> Result<FunnelOrder, FieldErrors> {
    match text.trim().to_ascii_lowercase().as_str() {
        "ordered" => Ok(FunnelOrder::Ordered),
        "any" => Ok(FunnelOrder::Any),
        other => {
            Err(FieldErrors::one(INVALID, "body", format!("unknown variant `{other}`, expected `ordered` or `any`")))
        }
    }
}

/// The definition `spec` gives over `base` (`None`: a new funnel), checked: its shape and
/// every step's `where`, read with the project's `options`.
pub fn define(
    spec: FunnelSpec,
    base: Option<&FunnelDefinition>,
    options: &Options,
) -> Result<FunnelDefinition, FieldErrors> {
    let bad = |field: &str, why: String| FieldErrors::one(INVALID, field, why);
    let steps = match (spec.steps, base) {
        (Some(steps), _) => steps,
        (None, Some(base)) => base.steps.clone(),
        (None, None) => return Err(bad("steps", "is required: a list of at least two steps".into())),
    };
    let definition = FunnelDefinition {
        steps,
        length: spec.length.or(base.map(|b| b.length)).unwrap_or(DEFAULT_LENGTH),
        length_unit: spec.length_unit.or(base.map(|b| b.length_unit)).unwrap_or(DEFAULT_LENGTH_UNIT),
        order: spec.order.or(base.map(|b| b.order)).unwrap_or_default(),
    };
    definition.check().map_err(|e| bad("steps", e))?;
    super::selectors(&definition, options).map_err(|e| bad("steps", e.0))?;
    Ok(definition)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(event: &str) -> FunnelStep {
        FunnelStep { event: event.into(), selector: None, label: None }
    }

    #[test]
    fn a_new_funnel_takes_defaults_and_a_change_keeps_the_rest() {
        let options = Options::default();
        let spec = FunnelSpec { steps: Some(vec![step("A"), step("B")]), ..FunnelSpec::default() };
        let new = define(spec, None, &options).unwrap();
        assert_eq!((new.length, new.length_unit, new.order), (30, LengthUnit::Day, FunnelOrder::Ordered));
        let change = FunnelSpec { length: Some(2), length_unit: Some(LengthUnit::Hour), ..FunnelSpec::default() };
        let changed = define(change, Some(&new), &options).unwrap();
        assert_eq!((changed.steps.len(), changed.length, changed.length_unit), (2, 2, LengthUnit::Hour));
    }

    #[test]
    fn mistakes_name_their_field() {
        let options = Options::default();
        let missing = define(FunnelSpec::default(), None, &options).unwrap_err();
        assert_eq!(missing.to_string(), "invalid funnel: `steps` is required: a list of at least two steps");
        let one = FunnelSpec { steps: Some(vec![step("A")]), ..FunnelSpec::default() };
        assert_eq!(define(one, None, &options).unwrap_err().fields[0].0, "steps");
        let mut bad_where = vec![step("A"), step("B")];
        bad_where[1].selector = Some("properties[".into());
        let spec = FunnelSpec { steps: Some(bad_where), ..FunnelSpec::default() };
        assert!(define(spec, None, &options).unwrap_err().fields[0].1.contains("step 2"));
        assert_eq!(length_unit("Hours"), Ok(LengthUnit::Hour));
        assert_eq!(length_unit("month").unwrap_err().fields[0].0, "length_unit");
        assert_eq!(order(" ANY "), Ok(FunnelOrder::Any));
    }

    #[test]
    fn an_unknown_order_is_worded_as_serde_words_it() {
        let serde = serde_json::from_value::<FunnelOrder>(serde_json::json!("sideways")).unwrap_err().to_string();
        assert_eq!(order("Sideways").unwrap_err().fields, vec![("body".to_string(), serde)]);
    }
}
