//! Go-style durations (`30m`, `1h30m`, `1.5h`, `90s`), as the CRD's CEL rules accept them.
//!
//! Written here because the common Rust duration parsers reject fractions or require spaces.

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' in {field} is not a duration; write e.g. 30m, 1h30m or 90s")]
pub struct DurationError {
    /// The field, as users write it.
    pub field: String,
    /// The value.
    pub value: String,
}

/// Parses `value` of `field`.
pub fn parse(field: &str, value: &str) -> Result<Duration, DurationError> {
    let error = || DurationError {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    let mut rest = value.trim();
    if rest.is_empty() {
        return Err(error());
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(error)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| error())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(error()),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("t", "30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("t", "1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("t", "1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("t", "250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn refuses_the_rest_naming_the_field() {
        for bad in ["", "30", "m", "1d", "1h 30m", "-5m"] {
            let err = parse("spec.timeout", bad).expect_err(bad);
            assert!(err.to_string().contains("spec.timeout"));
        }
    }
}
