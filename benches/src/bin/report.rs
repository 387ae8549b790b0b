//! Writes the markdown tables of a benchmark run: for every group criterion saved under
//! a directory (`target/criterion` unless given), each case's median time per call, its
//! overhead and ratio to the bare service, and each Hardy case's ratio to each peer.
//!
//! `benches/run.sh` runs the suite and then this report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One measured case: its group, its name and its median in nanoseconds.
struct Case {
    group: String,
    function: String,
    median_ns: f64,
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Every `new/benchmark.json` under `dir`, with the median beside it.
fn cases(dir: &Path, found: &mut Vec<Case>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|name| name == "new") {
            let (Some(benchmark), Some(estimates)) = (
                read_json(&path.join("benchmark.json")),
                read_json(&path.join("estimates.json")),
            ) else {
                continue;
            };
            let (Some(group), Some(function), Some(median)) = (
                benchmark["group_id"].as_str(),
                benchmark["function_id"].as_str(),
                estimates["median"]["point_estimate"].as_f64(),
            ) else {
                continue;
            };
            found.push(Case {
                group: group.to_string(),
                function: function.to_string(),
                median_ns: median,
            });
        } else {
            cases(&path, found);
        }
    }
}

fn time(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else if ns >= 100.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{ns:.1} ns")
    }
}

/// A ratio with two decimals, or as one in so many when it is below 0.01.
fn ratio(r: f64) -> String {
    if r >= 0.01 {
        format!("{r:.2}")
    } else {
        format!("1/{:.0}", 1.0 / r)
    }
}

fn is_hardy(function: &str) -> bool {
    function.starts_with("hardy")
}

/// The report of `cases`, one table per group.
fn report(cases: &[Case]) -> String {
    let mut groups: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in cases {
        groups.entry(&case.group).or_default().push(case);
    }
    let mut out = String::new();
    for (group, cases) in groups {
        let bare = cases
            .iter()
            .find(|case| case.function == "bare")
            .map(|case| case.median_ns);
        // A group without a Hardy case (the machine's floor) has nothing to compare.
        let has_hardy = cases.iter().any(|case| is_hardy(&case.function));
        let peers: Vec<&Case> = cases
            .iter()
            .copied()
            .filter(|case| has_hardy && case.function != "bare" && !is_hardy(&case.function))
            .collect();
        let _ = writeln!(out, "### {group}\n");
        let mut header = String::from("| case | median | over bare |");
        let mut rule = String::from("| --- | --- | --- |");
        for peer in &peers {
            let _ = write!(header, " ÷ {} |", peer.function);
            rule.push_str(" --- |");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        let mut ordered: Vec<&Case> = cases.clone();
        ordered.sort_by_key(|case| {
            (
                case.function != "bare",
                !is_hardy(&case.function),
                case.function.clone(),
            )
        });
        for case in ordered {
            let mut row = format!("| {} | {} |", case.function, time(case.median_ns));
            match bare {
                Some(bare) if case.function != "bare" => {
                    let _ = write!(
                        row,
                        " +{} ({:.1}×) |",
                        time(case.median_ns - bare),
                        case.median_ns / bare
                    );
                }
                _ => row.push_str(" |"),
            }
            for peer in &peers {
                if is_hardy(&case.function) {
                    let _ = write!(row, " **{}** |", ratio(case.median_ns / peer.median_ns));
                } else {
                    row.push_str(" |");
                }
            }
            let _ = writeln!(out, "{row}");
        }
        out.push('\n');
    }
    out
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let mut found = Vec::new();
    cases(&dir, &mut found);
    if found.is_empty() {
        eprintln!("no criterion results under {}", dir.display());
        std::process::exit(1);
    }
    print!("{}", report(&found));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_gets_overheads_and_ratios_to_each_peer() {
        let case = |function: &str, median_ns| Case {
            group: "timeout/ready".into(),
            function: function.into(),
            median_ns,
        };
        let text = report(&[case("tower", 60.0), case("bare", 2.0), case("hardy", 12.0)]);
        assert_eq!(ratio(0.0007), "1/1429");
        assert_eq!(
            text,
            "### timeout/ready\n\n\
             | case | median | over bare | ÷ tower |\n\
             | --- | --- | --- | --- |\n\
             | bare | 2.0 ns | | |\n\
             | hardy | 12.0 ns | +10.0 ns (6.0×) | **0.20** |\n\
             | tower | 60.0 ns | +58.0 ns (30.0×) | |\n\n"
        );
    }

    #[test]
    fn a_group_without_hardy_lists_its_cases_alone() {
        let case = |function: &str, median_ns| Case {
            group: "floor".into(),
            function: function.into(),
            median_ns,
        };
        let text = report(&[case("atomic_add", 5.0), case("plain_add", 0.4)]);
        assert_eq!(
            text,
            "### floor\n\n\
             | case | median | over bare |\n\
             | --- | --- | --- |\n\
             | atomic_add | 5.0 ns | |\n\
             | plain_add | 0.4 ns | |\n\n"
        );
    }
}
