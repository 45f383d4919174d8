//! Small text helpers shared by the summary, the report and their producers.

/// Cuts `text` to at most `max_chars` characters, marking the cut with `…`.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => {
            // Keep room for the marker so the result never exceeds `max_chars`.
            let keep = text[..cut]
                .char_indices()
                .nth(max_chars.saturating_sub(1))
                .map_or(cut, |(i, _)| i);
            format!("{}…", &text[..keep])
        }
    }
}

/// `text` without what XML 1.0 cannot carry (control characters other than tab and line
/// breaks, terminal colour codes from tracebacks among them).
pub fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || !c.is_control())
        .filter(|c| !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        .collect()
}

/// Formats seconds the way Kubernetes and Go durations read them, e.g. `1.250s`.
pub fn format_duration(seconds: f64) -> String {
    format!("{:.3}s", seconds.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_short_text() {
        assert_eq!(truncate_chars("abc", 3), "abc");
    }

    #[test]
    fn truncation_marks_cut_and_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo wörld", 5), "héll…");
        assert_eq!(truncate_chars("héllo wörld", 5).chars().count(), 5);
    }

    #[test]
    fn durations_use_three_decimals() {
        assert_eq!(format_duration(1.25), "1.250s");
        assert_eq!(format_duration(-1.0), "0.000s");
    }
}
