//! `flotilla service explain ID [ROLE]`: why each role has the size it
//! has, from `GET /service/{id}/explain`, newest decision first.

use super::output::{text, time};
use serde_json::Value;
use std::fmt::Write as _;

/// The explanation as text: per role, its bounds and guards, its
/// policies, then each decision with what it read and what it did.
pub fn render(v: &Value) -> String {
    let mut out = format!(
        "Service {} \"{}\" ({})\n",
        v["service_id"],
        text(v, "service"),
        text(v, "state")
    );
    if v["state"] != "RUNNING" {
        out.push_str("  policies are evaluated only while the service is RUNNING\n");
    }
    for role in v["roles"].as_array().into_iter().flatten() {
        role_text(&mut out, role);
    }
    out
}

fn role_text(out: &mut String, r: &Value) {
    let _ = writeln!(
        out,
        "\nRole {}: {} VMs (min {}, max {})",
        text(r, "name"),
        r["cardinality"],
        r["min_vms"],
        r["max_vms"]
    );
    let last = if r["last_scaled"].is_null() {
        "never scaled".to_string()
    } else {
        format!("last scaled {}", time(&r["last_scaled"]))
    };
    let _ = writeln!(
        out,
        "  cooldown: out {} s, in {} s ({last}); scale-in stabilization {} s; warm-up {} s",
        r["cooldown_out"], r["cooldown_in"], r["scale_in_stabilization"], r["warmup"]
    );
    let policies = r["policies"].as_array().cloned().unwrap_or_default();
    if policies.is_empty() {
        out.push_str("  no policies: only users scale this role\n");
        return;
    }
    out.push_str("  policies:\n");
    for p in &policies {
        let _ = writeln!(
            out,
            "    {:<24} {:<16} {}",
            text(p, "policy"),
            text(p, "plugin"),
            text(p, "rule")
        );
    }
    let decisions = r["decisions"].as_array().cloned().unwrap_or_default();
    if decisions.is_empty() {
        out.push_str("  no evaluation yet\n");
        return;
    }
    out.push_str("  decisions, newest first:\n");
    for d in &decisions {
        let _ = writeln!(
            out,
            "    {}  {} ({})",
            time(&d["time"]),
            text(d, "policy"),
            text(d, "plugin")
        );
        let trace = text(d, "trace");
        if !trace.is_empty() {
            let _ = writeln!(out, "      {trace}");
        }
        let _ = writeln!(out, "      verdict: {}", text(d, "verdict"));
        for g in d["guards"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "      guard:   {}", g.as_str().unwrap_or_default());
        }
        let _ = writeln!(out, "      action:  {}", text(d, "action"));
        let inputs: Vec<String> = d["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(input_text)
            .collect();
        if !inputs.is_empty() {
            let _ = writeln!(out, "      inputs:  {}", inputs.join("; "));
        }
    }
}

fn input_text(i: &Value) -> String {
    let values: Vec<String> = i["values"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut s = format!("VM {}", text(i, "vm_id"));
    if !values.is_empty() {
        let _ = write!(s, " {}", values.join(" "));
    }
    let _ = write!(s, " ({} s old)", i["age_seconds"]);
    if let Some(why) = i["left_out"].as_str() {
        let _ = write!(s, " left out: {why}");
    }
    s
}
