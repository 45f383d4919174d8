//! Generates a golden/actual notebook pair (default 5,000 cells, about 50 MB each)
//! and times parsing and comparing it.
//!
//! cargo run --release -p nbv-compare --example bench_pair -- [--cells N] [--out DIR]
//!
//! The actual notebook differs from the golden one the way reruns do (timestamps,
//! object addresses, float noise, re-rendered images) and, every 500th cell, by a
//! real change. With --out, both files are kept there for other tools.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use nbv_compare::{Comparator, CompareConfig, notebook};
use nbv_report::Strategy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cells = 5000;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cells" => cells = args.next().ok_or("--cells needs a number")?.parse()?,
            "--out" => out = Some(args.next().ok_or("--out needs a directory")?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let golden = generate(cells, false);
    let actual = generate(cells, true);
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("golden.ipynb"), &golden)?;
        std::fs::write(dir.join("actual.ipynb"), &actual)?;
    }
    let mb = |bytes: usize| bytes as f64 / 1e6;
    println!(
        "cells: {cells}, golden: {:.1} MB, actual: {:.1} MB",
        mb(golden.len()),
        mb(actual.len())
    );

    let t = Instant::now();
    let g = notebook::parse(golden.as_bytes())?;
    let a = notebook::parse(actual.as_bytes())?;
    let parse = t.elapsed();
    drop((golden, actual));

    for strategy in [Strategy::Normalized, Strategy::Exact] {
        let comparator = Comparator::new(CompareConfig {
            strategy,
            ..CompareConfig::default()
        })?;
        let t = Instant::now();
        let result = comparator.compare(&g, &a);
        println!(
            "{}: parse both {:.2} s, compare {:.2} s, {} mismatches",
            strategy.as_str(),
            parse.as_secs_f64(),
            t.elapsed().as_secs_f64(),
            result.mismatches.len()
        );
    }
    if let Some(peak) = peak_rss_mb() {
        println!("peak RSS (including generation): {peak:.0} MB");
    }
    Ok(())
}

/// Peak resident memory from /proc (Linux only).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A deterministic notebook; `rerun` applies the volatile changes.
fn generate(cells: usize, rerun: bool) -> String {
    let mut nb = String::from(
        r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}}, "cells": ["#,
    );
    for i in 0..cells {
        if i > 0 {
            nb.push_str(", ");
        }
        let cell = cell(i, rerun);
        nb.push_str(&cell);
    }
    nb.push_str("]}\n");
    nb
}

fn cell(i: usize, rerun: bool) -> String {
    let shift = if rerun { 7 } else { 0 };
    let mut stream = String::new();
    for line in 0..30 {
        let noise = if rerun { 1e-12 } else { 0.0 };
        let _ = write!(
            stream,
            "step {line} at 2024-03-0{} 12:{:02}:{:02} loss={:.12} obj=<Model at 0x7f{:010x}>\\n",
            1 + (shift % 8),
            (line + shift) % 60,
            (i + shift) % 60,
            1.0 / (line as f64 + 1.0) + noise,
            i * 4096 + line + shift
        );
    }
    if rerun && i % 500 == 250 {
        stream.push_str("an extra line only the rerun prints\\n");
    }
    let mut html = String::from("<table><tr><th>k</th><th>v</th></tr>");
    for row in 0..40 {
        let _ = write!(html, "<tr><td>{row}</td><td>{}</td></tr>", row * i);
    }
    html.push_str("</table>");
    let pixel = if rerun { 'B' } else { 'A' };
    let image: String = std::iter::repeat_n(pixel, 6000).collect();
    format!(
        r#"{{"cell_type": "code", "execution_count": {ec}, "metadata": {{}}, "source": ["x = compute({i})\n", "x"], "outputs": [
{{"output_type": "stream", "name": "stdout", "text": ["{stream}"]}},
{{"output_type": "execute_result", "execution_count": {ec}, "metadata": {{}}, "data": {{"text/plain": ["{i}"], "text/html": ["{html}"]}}}},
{{"output_type": "display_data", "metadata": {{}}, "data": {{"image/png": "{image}", "text/plain": ["<Figure size 640x480 with 1 Axes>"]}}}}]}}"#,
        ec = i + 1 + shift,
    )
}
