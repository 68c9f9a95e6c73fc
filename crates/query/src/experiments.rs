//! An experiment's results (Sextant's own report; Mixpanel does not publish one): per
//! variant of the flag it reads, the users exposed and how they did on one metric event,
//! with each treatment compared to the control.
//!
//! - Exposed: a user's first `$experiment_started` whose `Experiment name` is the flag's
//!   key, between the experiment's start and end; its `Variant name` is the user's
//!   variant. Users are canonical ids after identity merge, so a user exposed as a device
//!   and converting as a user counts once.
//! - Converted: the metric event at or after the exposure, within `window` of it (until
//!   the end when no window is given). A two-proportion z-test (pooled) gives the
//!   p-value; lift is relative to the control's rate; the 95 % interval is the
//!   difference of rates (unpooled).
//! - With `property`, the metric is that numeric property summed per user over the same
//!   events (zero for users without any); each treatment's mean is compared to the
//!   control's with Welch's t-test.
//!
//! One behavioural scan ([`sextant_storage::BehaviourQuery`]) reads both events, each
//! user's in time order, and one forward pass per user decides.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sextant_expr::{Options, Program, Scope};
use sextant_model::ProjectId;
use sextant_storage::{BehaviourQuery, BehaviourRows, EventCondition};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The event SDKs send on exposure.
pub const EXPOSURE_EVENT: &str = "$experiment_started";

/// What to compute.
#[derive(Clone, Debug)]
pub struct ResultsRequest {
    /// The flag's key (`Experiment name` on exposures).
    pub flag_key: String,
    /// The metric event.
    pub metric: String,
    /// A numeric property of the metric event to sum per user, if any.
    pub property: Option<String>,
    /// How long after exposure a metric event counts (`None`: until `to_ms`).
    pub window_ms: Option<i64>,
    /// The experiment's start, UTC ms.
    pub from_ms: i64,
    /// Its end (or now), UTC ms.
    pub to_ms: i64,
    /// The control variant's key.
    pub control: String,
}

/// One variant's figures.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VariantResult {
    /// Users exposed to it.
    pub exposed: u64,
    /// Of those, users who did the metric event in the window.
    pub converted: u64,
    /// `converted / exposed`.
    pub conversion_rate: f64,
    /// With `property`: the mean per exposed user of its sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Against the control (absent on the control).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versus_control: Option<Comparison>,
}

/// A treatment against the control.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// Relative change of the rate (or of the mean, with `property`); null when the
    /// control's is 0.
    pub lift: Option<f64>,
    /// The 95 % interval of the difference (rate, or mean).
    pub confidence_interval: Vec<f64>,
    /// Two-sided p-value of the z-test (rates) or Welch's t-test (means); null when
    /// either side has too few users to test.
    pub p_value: Option<f64>,
}

/// The results: variant key -> figures.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExperimentResults {
    /// The control's key.
    pub control: String,
    /// Each variant seen, by key.
    pub variants: BTreeMap<String, VariantResult>,
}

const EXPOSED: u32 = 1;
const METRIC: u32 = 2;

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

impl ResultsRequest {
    /// The scan: exposures to this flag (keyed by variant) and the metric events (keyed
    /// by the property's value, with `property`).
    pub fn query(&self, project_id: ProjectId, options: &Options) -> Result<BehaviourQuery, String> {
        let program =
            |src: &str| Program::parse(src, Scope::Event, options.clone()).map(Arc::new).map_err(|e| e.to_string());
        let exposure = program(&format!("properties[\"Experiment name\"] == {}", quote(&self.flag_key)))?;
        let value = match &self.property {
            Some(p) => quote(p),
            None => "\"\"".into(),
        };
        let segment = program(&format!(
            "if(defined(properties[\"Experiment name\"]), properties[\"Variant name\"], number(properties[{value}]))"
        ))?;
        let end = self.window_ms.map_or(self.to_ms, |w| self.to_ms.saturating_add(w));
        Ok(BehaviourQuery {
            project_id,
            from_ms: self.from_ms,
            to_ms: end,
            conditions: vec![
                EventCondition::named(EXPOSURE_EVENT, Some(exposure)),
                EventCondition::named(&self.metric, None),
            ],
            filter: None,
            segment: Some(segment),
            segment_mask: EXPOSED | if self.property.is_some() { METRIC } else { 0 },
        })
    }

    /// One forward pass over each user's events.
    pub fn compute(&self, rows: &BehaviourRows) -> ExperimentResults {
        #[derive(Default)]
        struct Tally {
            exposed: u64,
            converted: u64,
            sums: Vec<f64>,
        }
        let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
        let mut start = 0;
        while start < rows.len() {
            let user = rows.user[start];
            let mut end = start;
            while end < rows.len() && rows.user[end] == user {
                end += 1;
            }
            // The first exposure in the experiment's time decides the variant.
            let exposure = (start..end).find(|&i| {
                rows.mask[i] & EXPOSED != 0
                    && rows.time_ms[i] < self.to_ms
                    && !rows.segments[rows.segment[i] as usize].is_empty()
            });
            if let Some(first) = exposure {
                let variant = rows.segments[rows.segment[first] as usize][0].clone();
                let at = rows.time_ms[first];
                let until = self.window_ms.map_or(self.to_ms, |w| at.saturating_add(w));
                let (mut converted, mut sum) = (false, 0.0);
                for i in first..end {
                    if rows.mask[i] & METRIC != 0 && rows.time_ms[i] >= at && rows.time_ms[i] <= until {
                        converted = true;
                        if self.property.is_some() {
                            sum += rows.segments[rows.segment[i] as usize]
                                .first()
                                .and_then(|k| k.parse::<f64>().ok())
                                .filter(|v| v.is_finite())
                                .unwrap_or(0.0);
                        }
                    }
                }
                let t = tallies.entry(variant).or_default();
                t.exposed += 1;
                t.converted += u64::from(converted);
                if self.property.is_some() {
                    t.sums.push(sum);
                }
            }
            start = end;
        }
        let control = tallies.get(&self.control).map(|t| (t.exposed, t.converted, mean_var(&t.sums)));
        let variants = tallies
            .iter()
            .map(|(key, t)| {
                let rate = ratio(t.converted, t.exposed);
                let stats = mean_var(&t.sums);
                let versus_control = match control {
                    Some((n1, x1, control_stats)) if key != &self.control => Some(if self.property.is_some() {
                        welch(control_stats, stats)
                    } else {
                        two_proportions(n1, x1, t.exposed, t.converted)
                    }),
                    _ => None,
                };
                let mean = self.property.as_ref().map(|_| stats.0);
                (
                    key.clone(),
                    VariantResult {
                        exposed: t.exposed,
                        converted: t.converted,
                        conversion_rate: rate,
                        mean,
                        versus_control,
                    },
                )
            })
            .collect();
        ExperimentResults { control: self.control.clone(), variants }
    }
}

fn ratio(x: u64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { x as f64 / n as f64 }
}

/// Mean, sample variance and count.
fn mean_var(values: &[f64]) -> (f64, f64, usize) {
    let n = values.len();
    if n == 0 {
        return (0.0, 0.0, 0);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    (mean, var, n)
}

const Z_95: f64 = 1.959_963_984_540_054;

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal exists")
}

/// The pooled two-proportion z-test of treatment (n2, x2) against control (n1, x1).
pub fn two_proportions(n1: u64, x1: u64, n2: u64, x2: u64) -> Comparison {
    let (p1, p2) = (ratio(x1, n1), ratio(x2, n2));
    let lift = (p1 > 0.0).then(|| (p2 - p1) / p1);
    if n1 == 0 || n2 == 0 {
        return Comparison { lift, confidence_interval: vec![f64::NAN, f64::NAN], p_value: None };
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    let p_value = if se > 0.0 {
        let z = (p2 - p1) / se;
        Some(2.0 * (1.0 - standard_normal().cdf(z.abs())))
    } else {
        Some(1.0)
    };
    let se_diff = (p1 * (1.0 - p1) / n1f + p2 * (1.0 - p2) / n2f).sqrt();
    let diff = p2 - p1;
    Comparison { lift, confidence_interval: vec![diff - Z_95 * se_diff, diff + Z_95 * se_diff], p_value }
}

/// Welch's t-test of treatment against control, each (mean, sample variance, n).
pub fn welch(control: (f64, f64, usize), treatment: (f64, f64, usize)) -> Comparison {
    let ((m1, v1, n1), (m2, v2, n2)) = (control, treatment);
    let lift = (m1 != 0.0).then(|| (m2 - m1) / m1.abs());
    if n1 < 2 || n2 < 2 {
        return Comparison { lift, confidence_interval: vec![f64::NAN, f64::NAN], p_value: None };
    }
    let (a, b) = (v1 / n1 as f64, v2 / n2 as f64);
    let se = (a + b).sqrt();
    let diff = m2 - m1;
    if se == 0.0 {
        return Comparison {
            lift,
            confidence_interval: vec![diff, diff],
            p_value: Some(if diff == 0.0 { 1.0 } else { 0.0 }),
        };
    }
    let df = (a + b).powi(2) / (a * a / (n1 as f64 - 1.0) + b * b / (n2 as f64 - 1.0));
    let t = StudentsT::new(0.0, 1.0, df).ok();
    let p_value = t.as_ref().map(|t| 2.0 * (1.0 - t.cdf((diff / se).abs())));
    let critical = t.map_or(Z_95, |t| t.inverse_cdf(0.975));
    Comparison { lift, confidence_interval: vec![diff - critical * se, diff + critical * se], p_value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_proportion_z_test_by_hand() {
        // 1000 users at 10 % against 1000 at 12.5 %: pooled p 0.1125, z = 1.7691, p = 0.07687.
        let c = two_proportions(1000, 100, 1000, 125);
        assert!((c.p_value.unwrap() - 0.076_869).abs() < 1e-5, "{c:?}");
        assert!((c.lift.unwrap() - 0.25).abs() < 1e-12);
        assert!(c.confidence_interval[0] < 0.025 && c.confidence_interval[1] > 0.025);
    }

    #[test]
    fn welchs_t_test_by_hand() {
        // Means 10 and 12, variances 4 and 9, 20 users each: t = 2.4807, df = 33.09, p = 0.0184.
        let c = welch((10.0, 4.0, 20), (12.0, 9.0, 20));
        assert!((c.p_value.unwrap() - 0.0184).abs() < 5e-4, "{c:?}");
        assert!((c.lift.unwrap() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn too_few_users_test_nothing() {
        assert_eq!(two_proportions(0, 0, 10, 1).p_value, None);
        assert_eq!(welch((1.0, 0.0, 1), (2.0, 1.0, 5)).p_value, None);
    }
}
