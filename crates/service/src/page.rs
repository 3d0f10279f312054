//! One page of a list.

/// A page of `items`: at most `limit`, starting after `offset`, with the
/// total when the list knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items exist in all, when counted.
    pub total: Option<u64>,
    /// The most this page could hold.
    pub limit: u64,
    /// How many items come before this page.
    pub offset: u64,
}

impl<T> Page<T> {
    /// Maps every item, keeping the paging.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

/// The largest `skip` a list accepts: databases count offsets in signed 64 bits.
pub const MAX_SKIP: u64 = i64::MAX as u64;

/// 400 `invalid_query_parameter` for a `skip` beyond [`MAX_SKIP`].
pub(crate) fn check_skip(skip: u64) -> crate::Result<()> {
    if skip > MAX_SKIP {
        return Err(crate::ServiceError::new(
            crate::ErrorCode::InvalidQueryParameter,
            format!("skip must be at most {MAX_SKIP}"),
        ));
    }
    Ok(())
}
