//! Report phrases and fields every scenario shares: latency, CPU (server per unit of work, server and
//! tool shares of a core, noise on the server's core) and the machine's load.

use crate::report::{Percentiles, Report, Value, ms};
use crate::usage::{Meter, Usage};

/// Above this share of a core the load tool may be what limits the run.
pub const SATURATED: f64 = 0.80;

/// Adds latency p50/p99/max (milliseconds) and the sample count.
pub fn latency(report: &mut Report, summary: Option<Percentiles>) {
    match summary {
        Some(p) => {
            report
                .field("latency_p50_ms", Value::Num(ms(p.p50), 3))
                .field("latency_p99_ms", Value::Num(ms(p.p99), 3))
                .field("latency_max_ms", Value::Num(ms(p.max), 3))
                .field("latency_samples", Value::Int(p.count as u64));
            report.say(format!(
                "latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms ({} samples)",
                ms(p.p50),
                ms(p.p99),
                ms(p.max),
                p.count
            ));
        }
        None => {
            report
                .field("latency_p50_ms", Value::Missing)
                .field("latency_p99_ms", Value::Missing)
                .field("latency_max_ms", Value::Missing)
                .field("latency_samples", Value::Int(0));
            report.warn("no latency samples".into());
        }
    }
}

/// Adds server CPU per `unit` (µs), server and tool CPU shares, and the saturation warning.
pub fn cpu(report: &mut Report, usage: &Usage, units: u64, unit: &'static str) {
    let field: &'static str = match unit {
        "delivery" => "server_cpu_us_per_delivery",
        _ => "server_cpu_us_per_round_trip",
    };
    match usage.server_cpu {
        Some(cpu) if units > 0 => {
            let per = cpu.as_secs_f64() * 1e6 / units as f64;
            report.field(field, Value::Num(per, 3));
            report.say(format!(
                "server CPU {per:.2} µs/{unit} ({:.0}% of a core)",
                usage.server_share().unwrap_or(0.0) * 100.0
            ));
        }
        _ => {
            report.field(field, Value::Missing);
        }
    }
    if usage.each_cpu.len() > 1 {
        // Each process's share of a core, in --server-pid order ("-": it could not be read).
        let each: Vec<String> = usage
            .each_cpu
            .iter()
            .map(|c| {
                c.map_or("-".into(), |c| {
                    format!("{:.1}", c.as_secs_f64() / usage.wall.as_secs_f64() * 100.0)
                })
            })
            .collect();
        report.field("server_cpu_each_pct", Value::Str(each.join(",")));
        report.say(format!("per process {}% of a core", each.join("/")));
    }
    report.field(
        "server_cpu_pct",
        usage
            .server_share()
            .map_or(Value::Missing, |s| Value::Num(s * 100.0, 1)),
    );
    let own = usage.own_share();
    report.field("client_cpu_pct", Value::Num(own * 100.0, 1));
    report.say(format!("client CPU {:.0}% of a core", own * 100.0));
    if let Some(other) = usage.other_on_server_core() {
        report.field("server_core_other_pct", Value::Num(other * 100.0, 1));
        report.say(format!("others on the server's core {:.0}%", other * 100.0));
        if other > 0.10 {
            report.warn(format!(
                "other work used {:.0}% of the server's core: figures are noisy",
                other * 100.0
            ));
        }
    } else {
        report.field("server_core_other_pct", Value::Missing);
    }
    report.field("client_saturated", Value::Bool(own > SATURATED));
    if own > SATURATED {
        report.warn(format!(
            "the load tool used {:.0}% of a core: it may be the bottleneck, not the server",
            own * 100.0
        ));
    }
}

/// Adds the server core and the load average.
pub fn environment(report: &mut Report, meter: &Meter) {
    report
        .field(
            "server_core",
            meter
                .server_core()
                .map_or(Value::Missing, |c| Value::Int(c as u64)),
        )
        .field("loadavg", Value::Str(crate::usage::load_average()));
}
