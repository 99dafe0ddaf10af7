//! A [`MetricsSnapshot`] as Prometheus text, through `prometheus-client`'s encoder: a
//! [`Collector`] that encodes the snapshot it was given, registered in a registry built per scrape.
//! The metric names and their meaning are in `docs/operations.md#metrics`.

use std::fmt::Error;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{LatencySnapshot, MetricsSnapshot};

pub(crate) use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// `snapshot` in the Prometheus text format (version 0.0.4).
pub(crate) fn encode(snapshot: &MetricsSnapshot) -> String {
    let mut registry = Registry::with_prefix("plezi");
    registry.register_collector(Box::new(Snapshot(snapshot.clone())));
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry) {
        // Writing to a String cannot fail; keep whatever was written.
        log::error!("plezi: encoding the metrics failed: {e}");
    }
    text
}

#[derive(Debug)]
struct Snapshot(MetricsSnapshot);

/// Writes one metric family after another.
struct Families<'a>(DescriptorEncoder<'a>);

impl Families<'_> {
    fn family(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        f: impl FnOnce(&mut MetricEncoder<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut metric = self.0.encode_descriptor(name, help, None, kind)?;
        f(&mut metric)
    }

    fn counter(&mut self, name: &str, help: &str, v: u64) -> Result<(), Error> {
        self.family(name, help, MetricType::Counter, |m| {
            m.encode_counter::<NoLabelSet, u64, f64>(&v, None)
        })
    }

    fn gauge(&mut self, name: &str, help: &str, v: u64) -> Result<(), Error> {
        self.family(name, help, MetricType::Gauge, |m| m.encode_gauge(&v))
    }

    /// One series per `(label value, value)`: label values are names fixed in this file or
    /// status codes, never text from a client.
    fn labelled(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        label: &str,
        values: &[(String, u64)],
    ) -> Result<(), Error> {
        self.family(name, help, kind, |m| {
            for (value, v) in values {
                let labels = [(label, value.as_str())];
                let mut series = m.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => {
                        series.encode_counter::<NoLabelSet, u64, f64>(v, None)?
                    }
                    _ => series.encode_gauge(v)?,
                }
            }
            Ok(())
        })
    }

    fn latency(&mut self, name: &str, help: &str, l: &LatencySnapshot) -> Result<(), Error> {
        // The encoder adds the buckets up itself: give it each bucket's own count.
        let mut below = 0;
        let buckets: Vec<(f64, u64)> = l
            .buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let own = cumulative - below;
                below = cumulative;
                (bound, own)
            })
            .collect();
        self.family(name, help, MetricType::Histogram, |m| {
            m.encode_histogram::<NoLabelSet>(l.sum.as_secs_f64(), l.count, &buckets, None)
        })
    }
}

fn named(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|&(k, v)| (k.to_owned(), v)).collect()
}

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), Error> {
        let s = &self.0;
        let mut out = Families(encoder);
        if let Some(server) = &s.server {
            let http = server.connections.saturating_sub(server.websockets) as u64;
            out.labelled(
                "connections",
                "Open connections by kind.",
                MetricType::Gauge,
                "kind",
                &named(&[("http", http), ("websocket", server.websockets as u64)]),
            )?;
            out.counter(
                "connections_accepted",
                "Connections accepted.",
                server.accepted,
            )?;
            out.counter(
                "connections_refused",
                "Connections refused with 503 at the connection cap.",
                server.refused,
            )?;
            out.counter(
                "websocket_upgrades",
                "Connections upgraded to WebSocket.",
                server.upgrades,
            )?;
            out.counter(
                "websocket_messages_received",
                "WebSocket data messages received.",
                server.messages_in,
            )?;
            out.counter(
                "websocket_messages_sent",
                "WebSocket data messages queued for sending, own writes and fan-out deliveries.",
                server.messages_out,
            )?;
            out.counter(
                "fanouts",
                "Fan-out tasks run (one per event loop per broadcast).",
                server.fanouts,
            )?;
            out.counter(
                "fanout_deliveries",
                "Connections reached by fan-outs.",
                server.fanout_receivers,
            )?;
            out.gauge(
                "outbound_queued_bytes",
                "Bytes queued for connections and not yet written (as of the last timeout sweep).",
                server.queued_bytes,
            )?;
            out.counter(
                "slow_consumers_closed",
                "WebSockets closed by the slow-consumer policy.",
                server.slow_consumers_closed,
            )?;
            out.counter(
                "slow_consumer_dropped_messages",
                "Messages dropped by the slow-consumer policy.",
                server.slow_consumer_drops,
            )?;
            let codes: Vec<(String, u64)> = server
                .http_responses
                .iter()
                .map(|&(code, n)| (code.to_string(), n))
                .collect();
            out.labelled(
                "http_responses",
                "HTTP responses sent, by status code.",
                MetricType::Counter,
                "code",
                &codes,
            )?;
        }
        let bus = &s.bus;
        out.gauge(
            "bus_connected",
            "1 when the bus is connected (in-process: always), 0 while it reconnects.",
            u64::from(bus.connected),
        )?;
        out.gauge(
            "bus_queued_publishes",
            "Publishes waiting for Redis.",
            bus.queued as u64,
        )?;
        out.gauge(
            "bus_peers",
            "Servers listening on the bus, this one included.",
            bus.peers as u64,
        )?;
        out.counter(
            "bus_published",
            "Publishes Redis acknowledged.",
            bus.published,
        )?;
        let k = &bus.received_kinds;
        out.labelled(
            "bus_received",
            "Envelopes received from other servers, by kind.",
            MetricType::Counter,
            "kind",
            &named(&[
                ("multicast", k.multicast),
                ("broadcast", k.broadcast),
                ("unicast", k.unicast),
                ("channel", k.channel),
                ("identity", k.identity),
                ("drain", k.drain),
            ]),
        )?;
        out.counter(
            "bus_rejected",
            "Publishes refused because the queue was full.",
            bus.rejected,
        )?;
        out.counter(
            "bus_dropped",
            "Envelopes from Redis dropped as malformed, of another version or too large.",
            bus.dropped,
        )?;
        out.counter(
            "bus_duplicates",
            "Duplicate envelopes ignored.",
            bus.duplicates,
        )?;
        out.counter(
            "bus_reconnects",
            "Times a Redis connection came back after an outage.",
            bus.reconnects,
        )?;
        out.counter(
            "bus_failed_unicasts",
            "Unicasts that reached no server.",
            bus.failed_unicasts,
        )?;
        out.counter(
            "bus_notify_refused",
            "Notifications refused (full mailbox or store, full queue, Redis unreachable).",
            bus.notify_refused,
        )?;
        if let Some(m) = &s.mailboxes {
            out.gauge(
                "mailbox_identities",
                "Identities with stored messages.",
                m.identities as u64,
            )?;
            out.gauge(
                "mailbox_bytes",
                "Bytes the mailbox store counts against its cap.",
                m.bytes as u64,
            )?;
        }
        out.latency(
            "handler_duration_seconds",
            "Time to handle a WebSocket client message (parse, handler, answer).",
            &s.handler_latency,
        )?;
        out.latency(
            "ajaj_duration_seconds",
            "Time to handle an AJAJ request (handler and JSON answer).",
            &s.ajaj_latency,
        )
    }
}
