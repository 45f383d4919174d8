//! Comparing the outputs of one code cell.

use std::borrow::Cow;

use nbv_report::{CellType, DiffKind, Mismatch, Strategy};
use serde_json::Value;

use crate::config::CompareConfig;
use crate::excerpt::{excerpts, unified_diff};
use crate::nbval::CellControl;
use crate::normalize::Normalizer;
use crate::notebook::{MimeBundle, MimeData, Output};
use crate::numbers::equal_within;
use crate::sanitize::{Sanitizers, collapse_carriage_returns};
use crate::tables::{self, Table, TableDiff};

/// An output as compared: ignored outputs dropped, and every chunk of one stream joined at the
/// place of its first (how a kernel splits and interleaves streams is timing, not content; nbval
/// joins them the same way).
enum View<'a> {
    Stream {
        name: &'a str,
        text: Cow<'a, str>,
    },
    Rich {
        output_type: &'static str,
        data: &'a MimeBundle,
    },
    Error {
        ename: &'a str,
        evalue: &'a str,
    },
}

impl View<'_> {
    fn label(&self) -> String {
        match self {
            View::Stream { name, .. } => format!("stream:{name}"),
            View::Rich { output_type, .. } => (*output_type).to_owned(),
            View::Error { .. } => "error".to_owned(),
        }
    }
}

/// Compares texts, JSON values and outputs under one configuration.
pub(crate) struct OutputComparer<'a> {
    pub(crate) config: &'a CompareConfig,
    pub(crate) normalizer: &'a Normalizer,
    pub(crate) sanitizers: &'a Sanitizers,
}

/// Widget views carry a model id that is new on every run (nbval skips them too).
const WIDGET_VIEW: &str = "application/vnd.jupyter.widget-view+json";

/// Where mismatches found in one cell are reported.
pub(crate) struct CellSink<'a> {
    pub(crate) cell_index: usize,
    pub(crate) cell_type: CellType,
    pub(crate) mismatches: &'a mut Vec<Mismatch>,
}

impl CellSink<'_> {
    fn push(
        &mut self,
        output_index: Option<usize>,
        kind: DiffKind,
        mime: Option<&str>,
        expected: &str,
        actual: &str,
        with_diff: bool,
    ) {
        let (expected_excerpt, actual_excerpt) = excerpts(expected, actual);
        self.mismatches.push(Mismatch {
            cell_index: self.cell_index,
            output_index,
            cell_type: self.cell_type,
            kind,
            mime_type: mime.map(str::to_owned),
            expected: expected_excerpt,
            actual: actual_excerpt,
            unified_diff: with_diff.then(|| unified_diff(expected, actual)),
        });
    }
}

impl OutputComparer<'_> {
    fn exact(&self) -> bool {
        self.config.strategy == Strategy::Exact
    }

    pub(crate) fn texts_equal(&self, expected: &str, actual: &str) -> bool {
        if expected == actual || self.exact() {
            return expected == actual;
        }
        let (e, a) = (
            self.normalizer.normalize(expected),
            self.normalizer.normalize(actual),
        );
        e == a || equal_within(&e, &a, self.config.floating_point_tolerance)
    }

    /// A stream's text as compared: sanitized, and in normalized mode as a terminal shows it.
    fn stream_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let shown = if self.exact() {
            Cow::Borrowed(text)
        } else {
            collapse_carriage_returns(text)
        };
        match self.sanitizers.apply(&shown) {
            Cow::Borrowed(_) => shown,
            Cow::Owned(sanitized) => Cow::Owned(sanitized),
        }
    }

    fn json_equal(&self, expected: &Value, actual: &Value) -> bool {
        if self.exact() {
            return expected == actual;
        }
        match (expected, actual) {
            (Value::String(e), Value::String(a)) => self.texts_equal(e, a),
            (Value::Number(e), Value::Number(a)) => {
                e == a
                    || equal_within(
                        &e.to_string(),
                        &a.to_string(),
                        self.config.floating_point_tolerance,
                    )
            }
            (Value::Array(e), Value::Array(a)) => {
                e.len() == a.len() && e.iter().zip(a).all(|(e, a)| self.json_equal(e, a))
            }
            (Value::Object(e), Value::Object(a)) => {
                e.len() == a.len()
                    && e.iter()
                        .all(|(k, ev)| a.get(k).is_some_and(|av| self.json_equal(ev, av)))
            }
            _ => expected == actual,
        }
    }

    /// Compares two output lists, reporting into `sink`.
    pub(crate) fn compare(
        &self,
        golden: &[Output],
        actual: &[Output],
        control: CellControl,
        sink: &mut CellSink<'_>,
    ) {
        let golden = self.views(golden, control);
        let actual = self.views(actual, control);
        if golden.len() != actual.len() {
            let describe = |views: &[(usize, View<'_>)]| {
                let labels: Vec<String> = views.iter().map(|(_, v)| v.label()).collect();
                format!("{} outputs [{}]", views.len(), labels.join(", "))
            };
            sink.push(
                None,
                DiffKind::OutputCountChanged,
                None,
                &describe(&golden),
                &describe(&actual),
                false,
            );
        }
        for ((index, g), (_, a)) in golden.iter().zip(&actual) {
            self.compare_one(*index, g, a, control, sink);
        }
    }

    fn views<'o>(&self, outputs: &'o [Output], control: CellControl) -> Vec<(usize, View<'o>)> {
        let ignored = |what: &str| !control.forces_check() && self.config.ignores(what);
        let mut views: Vec<(usize, View<'o>)> = Vec::with_capacity(outputs.len());
        for (index, output) in outputs.iter().enumerate() {
            if ignored(output.type_name()) {
                continue;
            }
            let view = match output {
                Output::Stream { name, text } => {
                    if ignored(&format!("stream:{name}")) {
                        continue;
                    }
                    if let Some((_, View::Stream { text: joined, .. })) = views.iter_mut().find(
                        |(_, v)| matches!(v, View::Stream { name: first, .. } if first == name),
                    ) {
                        joined.to_mut().push_str(text);
                        continue;
                    }
                    View::Stream {
                        name,
                        text: Cow::Borrowed(text),
                    }
                }
                Output::ExecuteResult { data, .. } | Output::DisplayData { data } => View::Rich {
                    output_type: output.type_name(),
                    data,
                },
                Output::Error { ename, evalue, .. } => View::Error { ename, evalue },
            };
            views.push((index, view));
        }
        views
    }

    fn compare_one(
        &self,
        index: usize,
        golden: &View<'_>,
        actual: &View<'_>,
        control: CellControl,
        sink: &mut CellSink<'_>,
    ) {
        let at = Some(index);
        match (golden, actual) {
            (
                View::Stream { name: gn, text: gt },
                View::Stream {
                    name: an,
                    text: at_,
                },
            ) if gn == an => {
                let (gt, at_) = (self.stream_text(gt), self.stream_text(at_));
                if !self.texts_equal(&gt, &at_) {
                    sink.push(at, DiffKind::OutputMismatch, None, &gt, &at_, true);
                }
            }
            (
                View::Rich {
                    output_type: gt,
                    data: gd,
                },
                View::Rich {
                    output_type: at_,
                    data: ad,
                },
                // An execute_result and a display_data of the same data show the same thing:
                // only exact mode tells them apart.
            ) if gt == at_ || !self.exact() => {
                self.compare_bundles(index, gd, ad, control, sink);
            }
            (
                View::Error {
                    ename: ge,
                    evalue: gv,
                },
                View::Error {
                    ename: ae,
                    evalue: av,
                },
            ) => {
                // An expected exception only has to be of the same type.
                let (ge, ae) = (self.sanitizers.apply(ge), self.sanitizers.apply(ae));
                let (gv, av) = (self.sanitizers.apply(gv), self.sanitizers.apply(av));
                let same = ge == ae && (control.raises_exception || self.texts_equal(&gv, &av));
                if !same {
                    sink.push(
                        at,
                        DiffKind::ErrorMismatch,
                        None,
                        &format!("{ge}: {gv}"),
                        &format!("{ae}: {av}"),
                        false,
                    );
                }
            }
            _ => sink.push(
                at,
                DiffKind::OutputTypeChanged,
                None,
                &golden.label(),
                &actual.label(),
                false,
            ),
        }
    }

    fn compare_bundles(
        &self,
        index: usize,
        golden: &MimeBundle,
        actual: &MimeBundle,
        control: CellControl,
        sink: &mut CellSink<'_>,
    ) {
        let kept = |bundle: &MimeBundle| -> Vec<String> {
            let mut mimes: Vec<String> = bundle
                .0
                .iter()
                .map(|(m, _)| m.clone())
                .filter(|m| control.forces_check() || !self.config.ignores(m))
                .filter(|m| self.exact() || m != WIDGET_VIEW)
                .collect();
            mimes.sort();
            mimes
        };
        let (gm, am) = (kept(golden), kept(actual));
        if gm != am {
            sink.push(
                Some(index),
                DiffKind::MimeTypesChanged,
                None,
                &gm.join(", "),
                &am.join(", "),
                false,
            );
        }
        // DataFrames compare by value; their text/plain repr shows the same frame again.
        let frames = self.frames(golden, actual);
        if let Some((g, a)) = &frames {
            self.compare_frames(index, g, a, sink);
        }
        for mime in gm.iter().filter(|m| am.contains(m)) {
            if frames.is_some() && matches!(mime.as_str(), HTML | "text/plain") {
                continue;
            }
            let (Some(g), Some(a)) = (golden.get(mime), actual.get(mime)) else {
                continue;
            };
            // (expected, actual, whether a line diff helps) of a differing value.
            let differing: Option<(Cow<'_, str>, Cow<'_, str>, bool)> = match (g, a) {
                // Exact compares the bytes; normalized what the images show (images.rs).
                (MimeData::Text(g), MimeData::Text(a)) if is_raster_image(mime) => {
                    if self.exact() {
                        (g != a).then(|| (g.into(), a.into(), false))
                    } else {
                        crate::images::differ(g, a).map(|(g, a)| (g.into(), a.into(), false))
                    }
                }
                (MimeData::Text(g), MimeData::Text(a)) => {
                    let (g, a) = (self.sanitizers.apply(g), self.sanitizers.apply(a));
                    (!self.texts_equal(&g, &a)).then_some((g, a, true))
                }
                (MimeData::Json(g), MimeData::Json(a)) => (!self.json_equal(g, a)).then(|| {
                    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
                    (pretty(g).into(), pretty(a).into(), true)
                }),
                // The MIME type decides the representation, so both sides agree.
                _ => None,
            };
            if let Some((expected, actual, with_diff)) = differing {
                sink.push(
                    Some(index),
                    DiffKind::OutputMismatch,
                    Some(mime),
                    &expected,
                    &actual,
                    with_diff,
                );
            }
        }
    }
}

impl OutputComparer<'_> {
    /// The DataFrames both bundles' HTML shows, in normalized mode.
    fn frames(&self, golden: &MimeBundle, actual: &MimeBundle) -> Option<(Table, Table)> {
        if self.exact() {
            return None;
        }
        let frame = |bundle: &MimeBundle| match bundle.get(HTML)? {
            MimeData::Text(html) => tables::parse(html),
            MimeData::Json(_) => None,
        };
        Some((frame(golden)?, frame(actual)?))
    }

    fn compare_frames(
        &self,
        index: usize,
        golden: &Table,
        actual: &Table,
        sink: &mut CellSink<'_>,
    ) {
        // Sanitizers rewrite every text before it is compared, a table's cells included.
        let equal = |g: &str, a: &str| {
            self.texts_equal(&self.sanitizers.apply(g), &self.sanitizers.apply(a))
        };
        for diff in tables::differences(golden, actual, equal) {
            let (kind, expected, actual) = match diff {
                TableDiff::Columns { expected, actual } => {
                    (DiffKind::TableColumnsChanged, expected, actual)
                }
                TableDiff::Index { expected, actual } => {
                    (DiffKind::TableIndexChanged, expected, actual)
                }
                TableDiff::Dtype {
                    column,
                    expected,
                    actual,
                } => (
                    DiffKind::TableDtypeChanged,
                    format!("column {column}: {expected}"),
                    format!("column {column}: {actual}"),
                ),
                TableDiff::Values { cells, total } => {
                    let side = |pick: fn(&(String, String, String, String)) -> &String| {
                        let mut lines: Vec<String> = cells
                            .iter()
                            .map(|cell| {
                                format!("row {}, column {}: {}", cell.0, cell.1, pick(cell))
                            })
                            .collect();
                        if total > cells.len() {
                            lines.push(format!("... {} more cells differ", total - cells.len()));
                        }
                        lines.join("\n")
                    };
                    (DiffKind::TableValuesDiffer, side(|c| &c.2), side(|c| &c.3))
                }
            };
            sink.push(Some(index), kind, Some(HTML), &expected, &actual, false);
        }
    }
}

const HTML: &str = "text/html";

fn is_raster_image(mime: &str) -> bool {
    mime.starts_with("image/") && mime != "image/svg+xml"
}
