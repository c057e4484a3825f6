//! Pagination (API.md 0.2): `skip` >= 0 (default 0), `limit` 1-100 (default 20).

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Items across all pages.
    pub total: usize,
    pub skip: usize,
    pub limit: usize,
}

impl<T> Page<T> {
    /// A page the core cut out of the list (it decodes only the page's
    /// records), with the list's `total`.
    pub fn new(items: Vec<T>, total: usize, skip: usize, limit: usize) -> Self {
        Self {
            items,
            total,
            skip,
            limit,
        }
    }
}

/// The smallest and largest `limit`.
pub const LIMIT: (i64, i64) = (1, 100);
/// `limit` when a request sets none.
pub const DEFAULT_LIMIT: i64 = 20;

/// Checks `skip` and `limit`, applying the defaults; 422 naming the field.
pub fn bounds(skip: Option<i64>, limit: Option<i64>) -> Result<(usize, usize), ApiError> {
    let skip = skip.unwrap_or(0);
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if skip < 0 {
        return Err(ApiError::validation("skip", "must be 0 or more"));
    }
    let (min, max) = LIMIT;
    if !(min..=max).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            format!("must be {min}-{max}"),
        ));
    }
    Ok((skip as usize, limit as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ranges_follow_the_contract() {
        assert_eq!(bounds(None, None).unwrap(), (0, 20));
        assert_eq!(bounds(Some(5), Some(100)).unwrap(), (5, 100));
        for (skip, limit, field) in [
            (Some(-1), None, "skip"),
            (None, Some(0), "limit"),
            (None, Some(101), "limit"),
        ] {
            let e = bounds(skip, limit).unwrap_err();
            assert_eq!(e.details.unwrap()["field"], field);
        }
    }
}
