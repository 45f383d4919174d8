//! Documentation generated from what the strategies declare of themselves.

use crate::catalog::Catalog;

/// The feature-parity matrix of the compiled strategies, as Markdown: one row per feature, one
/// column per strategy, from [`buildstrategy_api::BuildStrategy::capabilities`].
pub fn parity_matrix(catalog: &Catalog) -> String {
    let strategies: Vec<_> = catalog.registry().iter().collect();
    let columns: Vec<Vec<(&'static str, String)>> =
        strategies.iter().map(|s| s.capabilities().rows()).collect();
    let mut out = String::from(
        "<!-- Generated from the strategies' declarations by a test: NBV_UPDATE_GENERATED=1 cargo test -p notebook-validator-operator --features community --test generated -->\n\n",
    );
    out.push_str("| feature |");
    for strategy in &strategies {
        out.push_str(&format!(
            " {} ({}) |",
            strategy.info().name,
            strategy.info().tier
        ));
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(strategies.len()));
    out.push('\n');
    let rows = columns.first().map_or(0, Vec::len);
    for row in 0..rows {
        out.push_str(&format!("| {} |", columns[0][row].0));
        for column in &columns {
            out.push_str(&format!(" {} |", column[row].1.replace('|', "/")));
        }
        out.push('\n');
    }
    out
}
