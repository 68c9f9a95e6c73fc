//! Any query string given to the Query API's reports: reading the parameters, building
//! the store query and shaping an answer (empty, so every bucket of the range is laid
//! out) never panics, in timezones with and without daylight saving and half-hour
//! offsets. Dates are where arithmetic on request input lives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_expr::Options;
use sextant_model::ProjectId;
use sextant_query::params::Params;
use sextant_query::retention::{AddictionRequest, RetentionRequest};
use sextant_query::segmentation::Segmentation;
use sextant_storage::BehaviourRows;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, query)) = data.split_first() else { return };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query).into_owned().collect();
    let params = Params::new(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()));
    let timezone = match choice % 4 {
        0 => chrono_tz::UTC,
        1 => chrono_tz::Europe::Paris,
        2 => chrono_tz::Pacific::Apia,
        _ => chrono_tz::Asia::Kathmandu,
    };
    let options = Options { timezone, now_ms: 1_700_000_000_000, ..Options::default() };
    let project = ProjectId(1);
    if let Ok(s) = Segmentation::parse(&params, &options) {
        let _ = s.query(project);
        let _ = s.answer(&[]);
    }
    if let Ok(s) = Segmentation::parse_numeric(&params, &options) {
        let _ = s.query(project);
    }
    if let Ok(r) = RetentionRequest::parse(&params, &options) {
        let _ = r.query(project);
        let _ = r.answer(&BehaviourRows::new());
    }
    if let Ok(a) = AddictionRequest::parse(&params, &options) {
        let _ = a.query(project);
        let _ = a.answer(&BehaviourRows::new());
    }
});
