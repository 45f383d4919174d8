//! Showing a difference: short excerpts around where texts diverge, and a
//! bounded unified diff.

use std::time::Duration;

use nbv_report::truncate_chars;
use similar::TextDiff;

/// Characters of each side shown in a mismatch.
const EXCERPT_CHARS: usize = 200;
/// Characters kept before the first difference, for context.
const LEAD_CHARS: usize = 40;
/// Upper bound of a unified diff, in characters.
const DIFF_CHARS: usize = 16 * 1024;
/// Diffing huge outputs falls back to a coarser diff after this long.
const DIFF_DEADLINE: Duration = Duration::from_millis(500);

/// Excerpts of both texts starting shortly before their first difference.
pub(crate) fn excerpts(expected: &str, actual: &str) -> (String, String) {
    let common = expected
        .char_indices()
        .zip(actual.chars())
        .find(|((_, a), b)| a != b)
        .map_or(expected.len().min(actual.len()), |((i, _), _)| i);
    // Both texts share the prefix, so the same byte offset is a char boundary in each.
    let lead_start = expected[..common]
        .char_indices()
        .rev()
        .nth(LEAD_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let cut = |text: &str| {
        let body = truncate_chars(&text[lead_start..], EXCERPT_CHARS);
        if lead_start > 0 {
            format!("…{body}")
        } else {
            body
        }
    };
    (cut(expected), cut(actual))
}

/// Unified diff of two texts, line by line.
pub(crate) fn unified_diff(expected: &str, actual: &str) -> String {
    let diff = TextDiff::configure()
        .timeout(DIFF_DEADLINE)
        .diff_lines(expected, actual);
    let text = diff
        .unified_diff()
        .context_radius(2)
        .missing_newline_hint(false)
        .header("expected", "actual")
        .to_string();
    truncate_chars(&text, DIFF_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_start_near_the_difference() {
        let prefix = "p".repeat(100);
        let (e, a) = excerpts(&format!("{prefix}old tail"), &format!("{prefix}new tail"));
        assert!(e.starts_with('…') && e.ends_with("old tail"), "{e}");
        assert!(a.ends_with("new tail"), "{a}");
        assert_eq!(e.chars().count(), 1 + LEAD_CHARS + "old tail".len());
    }

    #[test]
    fn excerpts_of_short_texts_are_whole() {
        assert_eq!(excerpts("a", "b"), ("a".into(), "b".into()));
        assert_eq!(excerpts("ab", "abc"), ("ab".into(), "abc".into()));
    }

    #[test]
    fn unified_diff_has_headers_and_changed_lines() {
        let d = unified_diff("a\nb\nc\n", "a\nB\nc\n");
        assert!(d.starts_with("--- expected\n+++ actual\n"), "{d}");
        assert!(d.contains("-b\n+B\n"), "{d}");
    }
}
