//! Documentation generated from what the strategies declare of themselves.

use crate::catalog::Catalog;

/// The feature-parity matrix of the compiled strategies, as Markdown: one row per feature, one
/// column per strategy, from [`buildstrategy_api::BuildStrategy::capabilities`].
pub fn parity_matrix(catalog: &Catalog) -> String {
    let strategies: Vec<_> = catalog.registry().iter().collect();
    let columns: Vec<Vec<(&'static str, String)>> =
        strategies.iter().map(|s| s.capabilities().rows()).collect();
    let mut out = String::from(
        "<!-- Generated from the strategies' declarations by `cargo xtask codegen` (the test `generated`). -->\n\n",
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

/// The order `auto` tries the compiled strategies in, as a Markdown table: rank, strategy, what
/// the cluster must serve for it to be chosen, and what it builds with.
pub fn auto_order(catalog: &Catalog) -> String {
    let mut rows = String::from(
        "| rank | strategy | chosen when the cluster serves | builds with |\n| --- | --- | --- | --- |\n",
    );
    for strategy in crate::reconcile::select::auto_order(catalog.registry()) {
        let info = strategy.info();
        let rank = match info.auto {
            buildstrategy_api::AutoRank::Rank(rank) => rank.to_string(),
            _ => String::new(),
        };
        let kinds: Vec<String> = strategy
            .required_kinds()
            .iter()
            .map(|gvk| format!("{} {}", gvk.api_version(), gvk.kind))
            .collect();
        let needs = if kinds.is_empty() {
            "(pods only)".to_owned()
        } else {
            kinds.join(", ")
        };
        rows.push_str(&format!(
            "| {rank} | {} | {needs} | {} |\n",
            info.name, info.description
        ));
    }
    let never: Vec<&str> = catalog
        .registry()
        .iter()
        .map(|s| s.info())
        .filter(|info| info.auto == buildstrategy_api::AutoRank::Never)
        .map(|info| info.name)
        .collect();
    if !never.is_empty() {
        rows.push_str(&format!(
            "\nNever chosen by `auto` (name them in `buildConfig.strategy`): {}.\n",
            never.join(", ")
        ));
    }
    rows
}
