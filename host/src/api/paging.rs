//! The `limit` parameter every list of the API takes, read one way everywhere so that a
//! platform meets the same bound and the same problem on every list.

use super::problem::Problem;

/// The most items one page may ask for.
pub const MAX_LIMIT: u32 = 1000;

/// The `limit` parameter: a whole number from 1 to [`MAX_LIMIT`]; otherwise a 400 problem
/// naming the parameter.
pub fn limit(value: &str) -> Result<u32, Problem> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "limit is a number from 1 to {MAX_LIMIT}, not {value:?}"
            ))
            .at("limit".to_string())
        })
}
