//! `config/grafana/chorus.json` is a dashboard Grafana imports, over the
//! metrics chorus really exports: every PromQL expression names only
//! exported series, and every name of API.md 12 has a panel.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::metrics_contract::{Binary, CONTRACT};

fn dashboard() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/grafana/chorus.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every panel, those inside rows included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// The `chorus_*` metric names a PromQL expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            quoted = !quoted;
            word.clear();
        } else if quoted {
            continue;
        } else if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if word.starts_with("chorus_") {
                names.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    names
}

#[test]
fn the_dashboard_is_an_importable_grafana_document() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion"
    );
    assert!(d["uid"].is_string() && d["title"].is_string());
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["type"] == "datasource"
            && v["query"] == "prometheus"
            && v["name"] == "datasource"),
        "a Prometheus datasource variable"
    );
    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        let id = p["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} twice");
        assert!(p["type"].is_string() && p["title"].is_string(), "{p}");
        let g = &p["gridPos"];
        for k in ["h", "w", "x", "y"] {
            assert!(g[k].is_u64(), "gridPos.{k} of panel {id}");
        }
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "panel {id} is wider than the grid"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "panel {id} uses the variable"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} has no query");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "panel {id} target without expr"
            );
        }
    }
}

#[tokio::test]
async fn every_query_reads_exported_metrics_and_every_contract_name_has_a_panel() {
    let server = Binary::start(&[]);
    let exported = server.scrape().await.names();
    let d = dashboard();
    let mut used = BTreeSet::new();
    for p in panels(&d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            for name in metric_names(expr) {
                assert!(
                    exported.contains(&name),
                    "panel {:?} reads {name}, which chorus does not export",
                    p["title"]
                );
                used.insert(name);
            }
        }
    }
    for (name, kind, _) in CONTRACT {
        let read = if *kind == "histogram" {
            ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| used.contains(&format!("{name}{s}")))
        } else {
            used.contains(*name)
        };
        assert!(read, "no panel reads {name}");
    }
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.9, sum by (le) (rate(chorus_a_bucket{x="chorus_not"}[5m]))) / chorus_b"#,
    );
    let want: BTreeSet<String> = ["chorus_a_bucket", "chorus_b"].map(String::from).into();
    assert_eq!(names, want, "label values in quotes are not metric names");
}
