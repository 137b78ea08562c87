//! Zendesk tickets for loyalty purchases, the way the pipeline's rule opens them, with the faults
//! reconciliation looks for, and [`TicketTruth`]: what was made, class by class, which
//! `reconcile` with the same window and SLA must report exactly.
//!
//! About 3% of purchases get no ticket, 2% two, 5% a late one (after the SLA, within the
//! window), and one purchase in a hundred is followed by an orphan ticket naming an event or a
//! client that does not exist. A ticket carries the event id in `external_id` (70%, the README's
//! input transformer), the client id in a custom field (20%) or nothing (10%, as the sample
//! pipeline's tickets), except where that would leave the answer open under reconcile's matching
//! rules; then it carries the event id:
//! - a client's ticket, when the client made another purchase between this one and the ticket
//!   (the ticket would go to that later purchase);
//! - a ticket carrying nothing, when another purchase lies within the window before it (time
//!   order would offer it that one), or when it is a purchase's second ticket (it could not be
//!   told from an orphan).
//!
//! So where purchases come every few seconds, as in the demo, no ticket carries nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::reconcile::ReconcileSummary;

/// The seed, and the reconcile window and SLA the tickets are made for.
#[derive(Debug, Clone)]
pub struct TicketOptions {
    pub seed: u64,
    /// A ticket comes at most this long after its purchase.
    pub window_seconds: i64,
    /// A late ticket comes after this; every other first ticket within it.
    pub sla_seconds: i64,
}

impl TicketOptions {
    /// The demo's window (1 hour) and SLA (15 minutes).
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            window_seconds: 3_600,
            sla_seconds: 900,
        }
    }
}

/// What [`tickets_for`] made: the counts `reconcile` must report, named as in its summary.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TicketTruth {
    pub purchases: u64,
    pub tickets: u64,
    pub matched: u64,
    pub missing_ticket: u64,
    pub duplicate_ticket: u64,
    pub late_ticket: u64,
    pub orphan_ticket: u64,
    /// Tickets by how reconcile must match them: event_id, client_window, time_order, none.
    pub by_match_mode: BTreeMap<String, u64>,
}

/// One count: what the generator made and what reconcile reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedCount {
    pub name: String,
    pub generated: u64,
    pub reported: u64,
}

impl TicketTruth {
    /// Each count next to what `summary` reported: totals, classes, then tickets by match mode.
    pub fn against(&self, summary: &ReconcileSummary) -> Vec<ComparedCount> {
        let mut counts: Vec<ComparedCount> = [
            ("purchases", self.purchases, summary.purchases),
            ("tickets", self.tickets, summary.tickets),
            ("matched", self.matched, summary.matched),
            (
                "missing_ticket",
                self.missing_ticket,
                summary.missing_ticket,
            ),
            (
                "duplicate_ticket",
                self.duplicate_ticket,
                summary.duplicate_ticket,
            ),
            ("late_ticket", self.late_ticket, summary.late_ticket),
            ("orphan_ticket", self.orphan_ticket, summary.orphan_ticket),
        ]
        .into_iter()
        .map(|(name, generated, reported)| ComparedCount {
            name: name.to_owned(),
            generated,
            reported,
        })
        .collect();
        let modes: BTreeSet<&String> = self
            .by_match_mode
            .keys()
            .chain(summary.by_match_mode.keys())
            .collect();
        for mode in modes {
            counts.push(ComparedCount {
                name: format!("matched_by {mode}"),
                generated: self.by_match_mode.get(mode).copied().unwrap_or(0),
                reported: summary.by_match_mode.get(mode).copied().unwrap_or(0),
            });
        }
        counts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carries {
    EventId,
    ClientId,
    Nothing,
}

impl Carries {
    fn match_mode(self) -> &'static str {
        match self {
            Carries::EventId => "event_id",
            Carries::ClientId => "client_window",
            Carries::Nothing => crate::reconcile::TIME_ORDER,
        }
    }
}

/// Tickets for loyalty purchases `(event id, client id, time in micros)`, all within the
/// reconcile window `[from, to)`, and what reconcile must find in them.
pub fn tickets_for(
    purchases: &[(String, String, i64)],
    options: &TicketOptions,
) -> Result<(Vec<serde_json::Value>, TicketTruth)> {
    let (window, sla) = (options.window_seconds, options.sla_seconds);
    if sla < 60 || window < sla + 120 {
        return Err(Error::InvalidArgument(format!(
            "tickets need an SLA of a minute or more and a window at least two minutes longer \
             (SLA {sla}s, window {window}s)"
        )));
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut all_times: Vec<i64> = purchases.iter().map(|(_, _, time)| *time).collect();
    all_times.sort_unstable();
    let mut by_client: HashMap<&str, Vec<i64>> = HashMap::new();
    for (_, client_id, time) in purchases {
        by_client.entry(client_id).or_default().push(*time);
    }
    for times in by_client.values_mut() {
        times.sort_unstable();
    }
    // Purchases made in [from, to], inclusive: the matching rules compare with `<=`.
    let made_in = |times: &[i64], from: i64, to: i64| {
        times.partition_point(|&time| time <= to) - times.partition_point(|&time| time < from)
    };

    let mut truth = TicketTruth::default();
    let mut tickets = Vec::new();
    let mut next_id = 100_000i64;
    let mut push = |created: i64, external_id: Option<&str>, client: Option<&str>| {
        next_id += 1;
        tickets.push(ticket_json(next_id, created, external_id, client));
    };
    for (event_id, client_id, time) in purchases {
        truth.purchases += 1;
        let fate: f64 = rng.gen();
        let drawn: f64 = rng.gen();
        let on_time = rng.gen_range(10..=(sla - 30).min(300));
        let lags: Vec<i64> = if fate < 0.03 {
            truth.missing_ticket += 1;
            vec![]
        } else if fate < 0.05 {
            truth.duplicate_ticket += 1;
            vec![
                on_time,
                (on_time + rng.gen_range(60..=600)).min(window - 30),
            ]
        } else if fate < 0.10 {
            truth.late_ticket += 1;
            vec![rng.gen_range(sla + 60..=window - 30)]
        } else {
            truth.matched += 1;
            vec![on_time]
        };
        // Zendesk keeps whole seconds: the checks below see the times reconcile will see.
        let created: Vec<i64> = lags
            .iter()
            .map(|lag| (time + lag * 1_000_000).div_euclid(1_000_000) * 1_000_000)
            .collect();
        let last = created.last().copied().unwrap_or(*time);
        let client_times = by_client
            .get(client_id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let carries = match drawn {
            drawn if drawn < 0.7 => Carries::EventId,
            drawn if drawn < 0.9 && made_in(client_times, *time, last) == 1 => Carries::ClientId,
            drawn
                if drawn >= 0.9
                    && created.len() == 1
                    && made_in(&all_times, last - window * 1_000_000, last) == 1 =>
            {
                Carries::Nothing
            }
            _ => Carries::EventId,
        };
        for &created in &created {
            match carries {
                Carries::EventId => push(created, Some(event_id.as_str()), None),
                Carries::ClientId => push(created, None, Some(client_id.as_str())),
                Carries::Nothing => push(created, None, None),
            }
        }
        if !created.is_empty() {
            truth.tickets += created.len() as u64;
            *truth
                .by_match_mode
                .entry(carries.match_mode().to_owned())
                .or_default() += created.len() as u64;
        }
        if rng.gen::<f64>() < 0.01 {
            // An id no purchase has: a test event, or one outside the window.
            let unknown = super::uuid_from(&mut rng);
            let created = (time + rng.gen_range(10..=window - 30) * 1_000_000)
                .div_euclid(1_000_000)
                * 1_000_000;
            if rng.gen_bool(0.7) {
                push(created, Some(unknown.as_str()), None);
            } else {
                push(created, None, Some(unknown.as_str()));
            }
            truth.orphan_ticket += 1;
            truth.tickets += 1;
            *truth
                .by_match_mode
                .entry(crate::reconcile::NONE.to_owned())
                .or_default() += 1;
        }
    }
    Ok((tickets, truth))
}

/// A ticket as Zendesk's export returns it, as the pipeline's rule opens it.
fn ticket_json(
    id: i64,
    created: i64,
    external_id: Option<&str>,
    client: Option<&str>,
) -> serde_json::Value {
    let stamp = crate::time::CivilTime::from_micros(created).rfc3339();
    serde_json::json!({
        "id": id, "external_id": external_id,
        "subject": "Loyalty customer purchase", "description": "This customer has made a loyalty purchase",
        "status": "new", "tags": ["loyalty"],
        "custom_fields": [{"id": 360_001, "value": client}],
        "requester_id": 9_000_000 + id,
        "created_at": stamp, "updated_at": stamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Purchases `gap_seconds` apart, by `clients` clients in turn.
    fn purchases(count: i64, gap_seconds: i64, clients: i64) -> Vec<(String, String, i64)> {
        (0..count)
            .map(|index| {
                (
                    format!("6f1c2a4e-0000-4000-8000-{index:012}"),
                    format!("c0ffee00-0000-4000-8000-{:012}", index % clients),
                    (1_793_491_200 + index * gap_seconds) * 1_000_000,
                )
            })
            .collect()
    }

    #[test]
    fn the_truth_adds_up_and_the_same_seed_makes_the_same_tickets() {
        let made = purchases(2_000, 7_200, 3);
        let (tickets, truth) = tickets_for(&made, &TicketOptions::new(3)).unwrap();
        assert_eq!(
            truth.matched + truth.missing_ticket + truth.duplicate_ticket + truth.late_ticket,
            truth.purchases
        );
        assert_eq!(tickets.len() as u64, truth.tickets);
        assert_eq!(truth.by_match_mode.values().sum::<u64>(), truth.tickets);
        // Purchases two hours apart leave no reference in doubt: every kind of ticket is made.
        for mode in ["event_id", "client_window", "time_order", "none"] {
            assert!(
                truth.by_match_mode.get(mode).is_some_and(|&n| n > 0),
                "{truth:?}"
            );
        }
        assert_eq!(
            tickets_for(&made, &TicketOptions::new(3)).unwrap().0,
            tickets
        );
    }

    #[test]
    fn close_purchases_get_no_ticket_that_carries_nothing_and_no_ambiguous_client_id() {
        // A purchase every 10 seconds by the same client: only the last has no later purchase
        // its client's ticket could go to.
        let (_, truth) = tickets_for(&purchases(2_000, 10, 1), &TicketOptions::new(5)).unwrap();
        assert_eq!(truth.by_match_mode.get("time_order"), None, "{truth:?}");
        assert!(
            truth
                .by_match_mode
                .get("client_window")
                .copied()
                .unwrap_or(0)
                <= 1,
            "{truth:?}"
        );
        assert!(truth
            .by_match_mode
            .get("event_id")
            .is_some_and(|&n| n > 1_500));
    }

    #[test]
    fn a_window_no_late_ticket_fits_in_is_refused() {
        let options = TicketOptions {
            seed: 1,
            window_seconds: 900,
            sla_seconds: 900,
        };
        assert!(tickets_for(&purchases(3, 60, 1), &options).is_err());
    }
}
