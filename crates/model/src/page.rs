//! Cursor pagination for collections Sextant owns (`000_*.txt`'s convention): newest
//! first, `limit` (default 50, at most 300), and opaque URL-safe `next`/`previous`
//! cursors.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Page size when the request names none.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_PAGE_LIMIT: u32 = 300;

/// A position in a collection: the id of the item a page ended or started at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor(pub i64);

impl Cursor {
    /// The opaque, URL-safe text form.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("c1:{}", self.0))
    }

    /// Reads a cursor this server produced.
    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        text.strip_prefix("c1:")?.parse().ok().map(Cursor)
    }
}

/// Which page to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items.
    pub limit: u32,
    /// Where to start.
    pub from: PageStart,
}

/// Where a page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageStart {
    /// The newest items.
    Newest,
    /// Items older than the cursor (`next`).
    After(Cursor),
    /// Items newer than the cursor (`previous`), nearest to it first.
    Before(Cursor),
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { limit: DEFAULT_PAGE_LIMIT, from: PageStart::Newest }
    }
}

/// One page of a collection, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor for older items (the last item's), if the page has items.
    pub next: Option<Cursor>,
    /// Whether older items exist now.
    pub has_next: bool,
    /// Cursor for newer items (the first item's), if the page has items.
    pub previous: Option<Cursor>,
    /// Whether newer items exist now.
    pub has_previous: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for id in [0, 1, 42, i64::MAX] {
            let text = Cursor(id).encode();
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(Cursor::decode(&text), Some(Cursor(id)));
        }
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("c1:x")), None);
    }
}
