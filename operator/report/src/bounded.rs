//! Fitting a [`Summary`] into the termination-message size limit.
//!
//! Cuts are applied in order of least information lost: shorter texts, then
//! passing cells, then failing cells and diffs from the end, so the first
//! failures always survive. What was cut is recorded in `truncated`.

use crate::summary::{CellResult, Summary, Truncation};
use crate::text::truncate_chars;

/// Text lengths tried, in characters, before dropping entries.
const TEXT_CAPS: [usize; 3] = [256, 64, 16];

/// Why a summary could not be serialized within its limit.
#[derive(Debug, thiserror::Error)]
pub enum BoundError {
    #[error("summary cannot be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("a summary needs at least {needed} bytes, the limit is {limit}")]
    LimitTooSmall { limit: usize, needed: usize },
}

impl Summary {
    /// Serializes to compact JSON of at most `limit` bytes, cutting as described
    /// in the module documentation.
    pub fn to_bounded_json(&self, limit: usize) -> Result<String, BoundError> {
        let full = serde_json::to_string(self)?;
        if full.len() <= limit {
            return Ok(full);
        }
        let mut smallest = full.len();
        for cap in TEXT_CAPS {
            let shortened = self.with_texts_capped(cap);
            match shortened.fit_by_dropping(limit)? {
                Ok(json) => return Ok(json),
                Err(needed) => smallest = smallest.min(needed),
            }
        }
        // Only the verdict and counters are left to give.
        let mut bare = self.with_texts_capped(TEXT_CAPS[TEXT_CAPS.len() - 1]);
        let truncation = Truncation {
            results_omitted: bare.results.len(),
            diffs_omitted: bare.comparison_result.as_ref().map_or(0, |c| c.diffs.len()),
            text_shortened: true,
        };
        bare.results.clear();
        if let Some(comparison) = bare.comparison_result.as_mut() {
            comparison.diffs.clear();
        }
        if let Some(generated) = bare.generated_requirements.as_mut() {
            *generated = generated.bounded(0, 0);
        }
        bare.truncated = Some(truncation);
        let json = serde_json::to_string(&bare)?;
        if json.len() <= limit {
            Ok(json)
        } else {
            Err(BoundError::LimitTooSmall {
                limit,
                needed: json.len().min(smallest),
            })
        }
    }

    fn with_texts_capped(&self, cap: usize) -> Self {
        let mut s = self.clone();
        s.message = truncate_chars(&s.message, cap * 2);
        s.notebook = truncate_chars(&s.notebook, cap);
        for r in &mut s.results {
            r.output = r.output.as_deref().map(|t| truncate_chars(t, cap));
            r.error_message = r.error_message.as_deref().map(|t| truncate_chars(t, cap));
        }
        if let Some(c) = s.comparison_result.as_mut() {
            for d in &mut c.diffs {
                d.expected = truncate_chars(&d.expected, cap);
                d.actual = truncate_chars(&d.actual, cap);
            }
        }
        s.truncated = Some(Truncation {
            text_shortened: true,
            ..Truncation::default()
        });
        s
    }

    /// Drops passing results, then trailing failures and diffs, until the JSON
    /// fits. Returns the JSON, or the smallest size reached.
    fn fit_by_dropping(&self, limit: usize) -> Result<Result<String, usize>, serde_json::Error> {
        let (failing, passing): (Vec<&CellResult>, Vec<&CellResult>) =
            self.results.iter().partition(|r| r.status.is_failure());
        let diffs = self.comparison_result.as_ref().map_or(0, |c| c.diffs.len());

        // First: keep every failure and diff, as many passing cells as fit.
        let keep_passing = |k: usize| self.cut(&failing, &passing[..k], failing.len(), diffs);
        if let Some(json) = largest_fitting(passing.len(), limit, keep_passing)? {
            return Ok(Ok(json));
        }
        // Then: no passing cells; the first k failures and the first k diffs.
        let longest = failing.len().max(diffs);
        let keep_first = |k: usize| self.cut(&failing, &[], k.min(failing.len()), k.min(diffs));
        if let Some(json) = largest_fitting(longest, limit, keep_first)? {
            return Ok(Ok(json));
        }
        Ok(Err(serde_json::to_string(&keep_first(0))?.len()))
    }

    fn cut(
        &self,
        failing: &[&CellResult],
        passing: &[&CellResult],
        keep_failing: usize,
        keep_diffs: usize,
    ) -> Self {
        let mut results: Vec<CellResult> = failing[..keep_failing]
            .iter()
            .chain(passing)
            .map(|r| (*r).clone())
            .collect();
        results.sort_by_key(|r| r.cell_index);
        let mut s = self.clone();
        let mut truncation = s.truncated.take().unwrap_or_default();
        truncation.results_omitted = self.results.len() - results.len();
        s.results = results;
        if let Some(c) = s.comparison_result.as_mut() {
            truncation.diffs_omitted = c.diffs.len() - keep_diffs;
            c.diffs.truncate(keep_diffs);
        }
        s.truncated = Some(truncation);
        s
    }
}

/// Binary search for the largest `k` in `0..=max` whose summary fits `limit`.
/// Sizes grow with `k` (up to a few digits in the counters, re-checked here).
fn largest_fitting(
    max: usize,
    limit: usize,
    build: impl Fn(usize) -> Summary,
) -> Result<Option<String>, serde_json::Error> {
    let fits = |k: usize| -> Result<Option<String>, serde_json::Error> {
        let json = serde_json::to_string(&build(k))?;
        Ok((json.len() <= limit).then_some(json))
    };
    let Some(mut best) = fits(0)? else {
        return Ok(None);
    };
    let (mut lo, mut hi) = (1, max);
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match fits(mid)? {
            Some(json) => {
                best = json;
                lo = mid + 1;
            }
            None => hi = mid - 1,
        }
    }
    Ok(Some(best))
}
