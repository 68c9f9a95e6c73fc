//! The MaxMind City database (GeoIP2 or GeoLite2 `.mmdb`) behind
//! [`sextant_ingest::geo::Geolocate`]: what places events and profiles by IP address.
//! Configured with `--geoip-db` (`SEXTANT_GEOIP_DB`, `geoip_database` in the file); read
//! into memory once at start.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use sextant_ingest::geo::{Geolocate, Place};

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
