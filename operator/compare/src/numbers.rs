//! Comparing texts whose numbers may differ within a tolerance.

use std::sync::LazyLock;

use regex::Regex;

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern; the unit tests below exercise it.
    Regex::new(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?").expect("number pattern compiles")
});

/// Whether `a` and `b` are equal once numbers are compared with `tolerance`
/// (absolute or relative). Text between numbers must match exactly, and integers
/// must be equal: only values printed with a fraction or exponent are approximate.
pub(crate) fn equal_within(a: &str, b: &str, tolerance: f64) -> bool {
    let mut na = NUMBER.find_iter(a);
    let mut nb = NUMBER.find_iter(b);
    let (mut pa, mut pb) = (0, 0);
    loop {
        match (na.next(), nb.next()) {
            (None, None) => return a[pa..] == b[pb..],
            (Some(x), Some(y)) => {
                if a[pa..x.start()] != b[pb..y.start()]
                    || !numbers_match(x.as_str(), y.as_str(), tolerance)
                {
                    return false;
                }
                (pa, pb) = (x.end(), y.end());
            }
            _ => return false,
        }
    }
}

fn numbers_match(x: &str, y: &str, tolerance: f64) -> bool {
    if x == y {
        return true;
    }
    let is_float = |s: &str| s.contains(['.', 'e', 'E']);
    if !is_float(x) && !is_float(y) {
        return false;
    }
    match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            let diff = (x - y).abs();
            diff <= tolerance || diff <= tolerance * x.abs().max(y.abs())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_tolerance() {
        assert!(equal_within("x = 0.1000001", "x = 0.1000002", 1e-6));
        assert!(!equal_within("x = 0.1001", "x = 0.1002", 1e-6));
    }

    #[test]
    fn relative_tolerance() {
        assert!(equal_within("mean 123456.7891", "mean 123456.7890", 1e-6));
        assert!(!equal_within("mean 123456.7891", "mean 123457.7890", 1e-6));
    }

    #[test]
    fn exponents_and_signs() {
        assert!(equal_within("-1.0000001e-3", "-1.0000002e-3", 1e-6));
        assert!(!equal_within("1e-3", "-1e-3", 1e-6));
    }

    #[test]
    fn integers_must_be_equal() {
        assert!(!equal_within("count 1000000", "count 1000001", 1e-3));
        assert!(equal_within("count 7", "count 7", 0.0));
    }

    #[test]
    fn text_around_numbers_must_match() {
        assert!(!equal_within("a 1.0", "b 1.0", 1.0));
        assert!(!equal_within("1.0 2.0", "1.0", 1.0));
        assert!(!equal_within("1.0 x", "1.0 y", 1.0));
    }
}
