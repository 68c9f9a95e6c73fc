//! The databases behind [`sextant_ingest::geo::Geolocate`], read into memory once at
//! start:
//! - a MaxMind City database (GeoIP2 or GeoLite2 `.mmdb`), which places events and
//!   profiles by IP address: `--geoip-db` (`SEXTANT_GEOIP_DB`, `geoip_database`);
//! - a table of places for reverse geocoding `$latitude`/`$longitude`: `--places-db`
//!   (`SEXTANT_PLACES_DB`, `places_database`), a CSV file with the header
//!   `latitude,longitude,city,region,country_code,timezone` (the last column optional;
//!   docs/compatibility.md shows how to make one from GeoNames' `cities1000.txt`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use sextant_ingest::geo::{Geolocate, Place, Places};

/// The configured databases.
#[derive(Debug, Default)]
pub struct Geo {
    /// Addresses to places.
    pub addresses: Option<MaxMind>,
    /// Places by coordinates.
    pub places: Option<Places>,
}

impl Geolocate for Geo {
    fn locate(&self, ip: IpAddr) -> Option<Place> {
        self.addresses.as_ref()?.locate(ip)
    }

    fn nearest(&self, latitude: f64, longitude: f64) -> Option<Place> {
        self.places.as_ref()?.nearest(latitude, longitude).cloned()
    }
}

/// Reads a places table (see the module documentation).
pub fn open_places(path: &Path) -> Result<Places, String> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| e.to_string())?;
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(lat), Some(lon)) = (column("latitude"), column("longitude")) else {
        return Err("the header must name latitude and longitude (and city, region, country_code, timezone)".into());
    };
    let (city, region, country, tz) = (column("city"), column("region"), column("country_code"), column("timezone"));
    let mut points = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("row {}: {e}", i + 2))?;
        let text = |c: Option<usize>| {
            c.and_then(|c| record.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
        };
        let number = |c: usize| record.get(c).and_then(|v| v.trim().parse::<f64>().ok());
        let (Some(la), Some(lo)) = (number(lat), number(lon)) else {
            return Err(format!("row {}: latitude and longitude must be numbers", i + 2));
        };
        let place = Place { city: text(city), region: text(region), country_code: text(country), timezone: text(tz) };
        points.push((la, lo, place));
    }
    if points.is_empty() {
        return Err("the table has no places".into());
    }
    Ok(Places::new(points))
}

/// An opened City database.
pub struct MaxMind {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for MaxMind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxMind").field("database_type", &self.reader.metadata.database_type).finish()
    }
}

/// The parts of a City record Sextant reads.
#[derive(Deserialize)]
struct CityRecord {
    city: Option<Named>,
    subdivisions: Option<Vec<Named>>,
    country: Option<Country>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Named {
    names: Option<BTreeMap<String, String>>,
}

impl Named {
    fn english(&self) -> Option<String> {
        self.names.as_ref()?.get("en").cloned()
    }
}

#[derive(Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    time_zone: Option<String>,
}

impl MaxMind {
    /// Reads the database at `path`.
    pub fn open(path: &Path) -> Result<MaxMind, String> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| e.to_string())?;
        Ok(MaxMind { reader })
    }
}

impl Geolocate for MaxMind {
    fn locate(&self, ip: IpAddr) -> Option<Place> {
        let record: CityRecord = self.reader.lookup(ip).ok()?.decode().ok()??;
        let place = Place {
            city: record.city.as_ref().and_then(Named::english),
            region: record.subdivisions.as_ref().and_then(|s| s.first()).and_then(Named::english),
            country_code: record.country.and_then(|c| c.iso_code),
            timezone: record.location.and_then(|l| l.time_zone),
        };
        (place != Place::default()).then_some(place)
    }
}
