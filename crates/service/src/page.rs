//! One page of a list.

/// A page of `items`: at most `limit`, starting after `offset`, with the
/// total when the list knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items exist in all, when counted.
    pub total: Option<u64>,
    /// Whether `total` is a recent full count rather than one made for this
    /// page: lists longer than the exact-count limit (10,000 by default)
    /// are counted in full at most every few seconds.
    pub total_estimated: bool,
    /// The most this page could hold.
    pub limit: u64,
    /// How many items come before this page.
    pub offset: u64,
    /// For lists paged by keyset: where the next page starts (`None` on
    /// the last page, and for lists paged by offset).
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Maps every item, keeping the paging.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            total_estimated: self.total_estimated,
            limit: self.limit,
            offset: self.offset,
            next_cursor: self.next_cursor,
        }
    }
}

/// Keyset positions as opaque cursors: a row's `created_at` in microseconds
/// and its UUIDv7 id, as 48 hex digits. They hold nothing secret, and tenant
/// scoping applies to whatever position one names.
pub(crate) mod cursor {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    /// The cursor of the position after the row `(at, id)`.
    pub(crate) fn encode(at: DateTime<Utc>, id: Uuid) -> String {
        let mut bytes = at.timestamp_micros().to_be_bytes().to_vec();
        bytes.extend_from_slice(id.as_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The position a cursor names; `None` for anything this API did not
    /// issue (wrong length, not hex, an id that is not a UUIDv7).
    pub(crate) fn decode(raw: &str) -> Option<(DateTime<Utc>, Uuid)> {
        if raw.len() != 48 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bytes = (0..24)
            .map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let (micros, id) = bytes.split_at(8);
        let at = DateTime::from_timestamp_micros(i64::from_be_bytes(micros.try_into().ok()?))?;
        let id = Uuid::from_slice(id).ok()?;
        // Our ids are UUIDv7: anything else was not made here.
        (id.get_version_num() == 7).then_some((at, id))
    }
}

/// The largest `skip` a list accepts: databases count offsets in signed 64 bits.
pub const MAX_SKIP: u64 = i64::MAX as u64;

/// 400 `invalid_query_parameter` for a `skip` beyond [`MAX_SKIP`].
pub(crate) fn check_skip(skip: u64) -> crate::Result<()> {
    if skip > MAX_SKIP {
        return Err(crate::Invalid::Skip { max: MAX_SKIP }.into());
    }
    Ok(())
}
