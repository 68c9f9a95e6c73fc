//! Geolocation of events and profile updates by IP address (wire-semantics §1.6).
//!
//! Events: the `ip` property, when it is an address, else the request's address when
//! the request says `ip=1`; `ip` of `0` skips. The place fills `$city`, `$region` and
//! `mp_country_code` where the event does not set them; `ip` itself is never stored.
//!
//! Profiles: `$ip` at the top of the update (an address, or `0` to skip), else the
//! request's address unless the request says `ip=0`. Only updates that `$set` or
//! `$set_once` something are placed, as Mixpanel does: `$city`, `$region`,
//! `$country_code` and `$timezone` are set first, so the update's own values win.
//!
//! The database itself is behind [`Geolocate`]: the server opens a MaxMind file.

use std::net::IpAddr;

use serde_json::{Map, Value};
use sextant_model::ProfileOp;

/// Where an address is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// City name (English).
    pub city: Option<String>,
    /// First subdivision's name (English): a state, region or province.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
}

/// A geolocation database.
pub trait Geolocate: Send + Sync + std::fmt::Debug {
    /// The place of `ip`, when the database knows it.
    fn locate(&self, ip: IpAddr) -> Option<Place>;
}

/// Which address an update asks to be placed by (`$ip`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddressChoice {
    /// No `$ip`: the request's address, unless the request says `ip=0`.
    #[default]
    Request,
    /// `$ip` of `0`: not placed.
    Skip,
    /// `$ip` naming an address.
    Address(IpAddr),
}

impl AddressChoice {
    /// Reads a `$ip` (or event `ip`) value: an address, `0` to skip, `1` for the
    /// request's address; anything else counts as absent.
    pub fn read(value: Option<&Value>) -> AddressChoice {
        match value {
            Some(Value::String(s)) => match s.trim() {
                "0" => AddressChoice::Skip,
                "1" | "" => AddressChoice::Request,
                text => text.parse().map(AddressChoice::Address).unwrap_or(AddressChoice::Request),
            },
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => AddressChoice::Skip,
            Some(Value::Bool(false)) => AddressChoice::Skip,
            _ => AddressChoice::Request,
        }
    }

    /// The address to place by: the chosen one, or `request` when `use_request` allows.
    pub fn address(self, request: Option<&str>, use_request: bool) -> Option<IpAddr> {
        match self {
            AddressChoice::Skip => None,
            AddressChoice::Address(ip) => Some(ip),
            AddressChoice::Request if use_request => request.and_then(|r| r.parse().ok()),
            AddressChoice::Request => None,
        }
    }
}

/// Fills an event's `$city`, `$region` and `mp_country_code` where it has none.
pub fn place_event(props: &mut Map<String, Value>, place: &Place) {
    for (key, value) in [("$city", &place.city), ("$region", &place.region), ("mp_country_code", &place.country_code)] {
        if let Some(v) = value
            && !props.contains_key(key)
        {
            props.insert(key.to_string(), Value::String(v.clone()));
        }
    }
}

/// Puts the place first among a profile update's operations, as a `$set`, when the
/// update sets something (so the update's own `$set` values win).
pub fn place_profile(ops: &mut Vec<ProfileOp>, place: &Place) {
    if !ops.iter().any(|op| matches!(op, ProfileOp::Set(_) | ProfileOp::SetOnce(_))) {
        return;
    }
    let mut set = Map::new();
    for (key, value) in [
        ("$city", &place.city),
        ("$region", &place.region),
        ("$country_code", &place.country_code),
        ("$timezone", &place.timezone),
    ] {
        if let Some(v) = value {
            set.insert(key.to_string(), Value::String(v.clone()));
        }
    }
    if !set.is_empty() {
        ops.insert(0, ProfileOp::Set(set));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_ip_choices() {
        assert_eq!(AddressChoice::read(Some(&json!("0"))), AddressChoice::Skip);
        assert_eq!(AddressChoice::read(Some(&json!(0))), AddressChoice::Skip);
        assert_eq!(
            AddressChoice::read(Some(&json!("81.2.69.160"))),
            AddressChoice::Address("81.2.69.160".parse().unwrap())
        );
        assert_eq!(AddressChoice::read(None), AddressChoice::Request);
        assert_eq!(AddressChoice::Request.address(Some("10.0.0.1"), false), None);
        assert_eq!(AddressChoice::Request.address(Some("10.0.0.1"), true), Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn explicit_values_win() {
        let place =
            Place { city: Some("London".into()), region: None, country_code: Some("GB".into()), timezone: None };
        let mut props = Map::new();
        props.insert("$city".into(), json!("Leeds"));
        place_event(&mut props, &place);
        assert_eq!(Value::Object(props), json!({"$city": "Leeds", "mp_country_code": "GB"}));
        let mut ops = vec![ProfileOp::Add(Map::new())];
        place_profile(&mut ops, &place);
        assert_eq!(ops.len(), 1, "an update that sets nothing is not placed");
        let mut ops = vec![ProfileOp::Set(Map::new())];
        place_profile(&mut ops, &place);
        assert!(matches!(&ops[0], ProfileOp::Set(m) if m["$country_code"] == "GB"));
    }
}
