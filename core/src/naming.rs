//! Deterministic, valid Kubernetes names.

use sha2::{Digest, Sha256};

/// The longest DNS-1123 label, the limit for names that end up in labels and pod names.
pub const MAX_LABEL_LEN: usize = 63;

/// A DNS-1123 label made of `parts` joined by `-`: lowercase, `[a-z0-9-]`, starting and ending
/// with an alphanumeric, at most 63 characters. When the plain form is too long it is cut and
/// ends with a hash of the full form, so two long inputs never collide.
pub fn dns_label(parts: &[&str]) -> String {
    let joined = parts.join("-");
    let mapped: String = joined
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    let clean = mapped.trim_matches('-');
    if clean == joined && !clean.is_empty() && clean.len() <= MAX_LABEL_LEN {
        return joined;
    }
    // Changed or cut: a hash of the original keeps distinct inputs distinct.
    let hash = hex8(&joined);
    let keep = MAX_LABEL_LEN - hash.len() - 1;
    let head = clean[..clean.len().min(keep)].trim_end_matches('-');
    if head.is_empty() {
        format!("x-{hash}")
    } else {
        format!("{head}-{hash}")
    }
}

/// The build name for a job: `<job>-build`, shortened with a hash when needed.
pub fn build_name(job_name: &str) -> String {
    dns_label(&[job_name, "build"])
}

/// Whether `name` is a valid DNS-1123 label.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LABEL_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn hex8(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept() {
        assert_eq!(build_name("churn-model"), "churn-model-build");
    }

    #[test]
    fn long_or_odd_names_become_valid_distinct_labels() {
        let long = "a".repeat(80);
        let one = build_name(&long);
        let two = build_name(&format!("{long}b"));
        assert!(is_dns_label(&one), "{one}");
        assert_ne!(one, two);
        assert!(is_dns_label(&dns_label(&["My.Job_", "x"])));
        assert_ne!(dns_label(&["a.b"]), dns_label(&["a-b"]));
    }
}
