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
//! Coordinates (`$latitude` and `$longitude`, on an event or at the top of a profile
//! update) are reverse geocoded to the nearest known city instead, when a table of places
//! is configured ([`Places`]); profiles then also get `$geo_source: "reverse_geocoding"`.
//!
//! The databases are behind [`Geolocate`]: the server opens a MaxMind file and a places
//! table.

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

    /// The nearest known place to a point, when there is a table of places.
    fn nearest(&self, latitude: f64, longitude: f64) -> Option<Place> {
        let _ = (latitude, longitude);
        None
    }
}

/// Known places with their coordinates, for reverse geocoding: the nearest one (by
/// great-circle distance) stands for a point.
#[derive(Clone, Debug, Default)]
pub struct Places {
    points: Vec<(f64, f64, Place)>,
}

impl Places {
    /// A table of `(latitude, longitude, place)`.
    pub fn new(points: Vec<(f64, f64, Place)>) -> Self {
        Places { points }
    }

    /// How many places.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The place nearest to the point; `None` for coordinates out of range or no places.
    /// A linear search: reverse geocoding is rare (server-side updates that send
    /// coordinates), and 150,000 cities take well under a millisecond.
    pub fn nearest(&self, latitude: f64, longitude: f64) -> Option<&Place> {
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
            return None;
        }
        let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
        let distance = |(plat, plon): (f64, f64)| {
            let (plat, plon) = (plat.to_radians(), plon.to_radians());
            let a = ((plat - lat) / 2.0).sin().powi(2) + lat.cos() * plat.cos() * ((plon - lon) / 2.0).sin().powi(2);
            a.sqrt().asin()
        };
        self.points
            .iter()
            .map(|(plat, plon, place)| (distance((*plat, *plon)), place))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, place)| place)
    }
}

/// Where an event or update is: its coordinates' nearest place when there are
/// coordinates and a table of places (with `true`: reverse geocoded), else its address's.
pub fn place_of(
    geo: &dyn Geolocate,
    coordinates: Option<(f64, f64)>,
    address: Option<IpAddr>,
) -> Option<(Place, bool)> {
    if let Some(place) = coordinates.and_then(|(lat, lon)| geo.nearest(lat, lon)) {
        return Some((place, true));
    }
    address.and_then(|ip| geo.locate(ip)).map(|place| (place, false))
}

/// Coordinates from `$latitude` and `$longitude` (numbers or numeric text).
pub fn coordinates(latitude: Option<&Value>, longitude: Option<&Value>) -> Option<(f64, f64)> {
    let number = |v: Option<&Value>| match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Some((number(latitude)?, number(longitude)?))
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
/// update sets something (so the update's own `$set` values win); `reverse` marks a
/// place found from coordinates (`$geo_source`).
pub fn place_profile(ops: &mut Vec<ProfileOp>, place: &Place, reverse: bool) {
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
        if reverse {
            set.insert("$geo_source".into(), Value::String("reverse_geocoding".into()));
        }
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
        place_profile(&mut ops, &place, false);
        assert_eq!(ops.len(), 1, "an update that sets nothing is not placed");
        let mut ops = vec![ProfileOp::Set(Map::new())];
        place_profile(&mut ops, &place, true);
        assert!(
            matches!(&ops[0], ProfileOp::Set(m) if m["$country_code"] == "GB" && m["$geo_source"] == "reverse_geocoding")
        );
    }

    #[test]
    fn the_nearest_place_stands_for_a_point() {
        let at = |city: &str| Place { city: Some(city.into()), ..Place::default() };
        let places = Places::new(vec![
            (51.5074, -0.1278, at("London")),
            (48.8566, 2.3522, at("Paris")),
            (-33.8688, 151.2093, at("Sydney")),
            (64.1466, -21.9426, at("Reykjavik")),
        ]);
        assert_eq!(places.nearest(50.9, 1.8).and_then(|p| p.city.clone()).as_deref(), Some("London"), "Calais");
        assert_eq!(places.nearest(49.4, 2.0).and_then(|p| p.city.clone()).as_deref(), Some("Paris"), "Beauvais");
        // Across the antimeridian and near the pole, great-circle distance still decides.
        assert_eq!(places.nearest(-35.0, -179.0).and_then(|p| p.city.clone()).as_deref(), Some("Sydney"));
        assert_eq!(places.nearest(89.0, 170.0).and_then(|p| p.city.clone()).as_deref(), Some("Reykjavik"));
        assert!(places.nearest(91.0, 0.0).is_none());
        assert_eq!(coordinates(Some(&json!("51.5")), Some(&json!(-0.12))), Some((51.5, -0.12)));
        assert_eq!(coordinates(Some(&json!(true)), Some(&json!(1))), None);
    }
}
