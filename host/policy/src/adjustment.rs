//! How a policy that fired changes a role's cardinality: OneFlow's
//! `calculate_new_cardinality`, with the host's clamp to `min_vms` and
//! `max_vms`.
//!
//! The maths are OneFlow's (`type` CHANGE, CARDINALITY, PERCENTAGE_CHANGE,
//! `adjust`, `min_adjust_step`, truncation, at least one VM), with three
//! deviations listed in `docs/compatibility.md`:
//! - the result is clamped to `[min_vms, max_vms]` on both sides, and the
//!   clamp is reported; OneFlow clamped one side, chosen by the sign of
//!   `adjust`, and let the scale be refused (and only logged) otherwise;
//! - a policy never moves a role against its own direction: a scale-out
//!   policy on a role already above `max_vms` (a user forced it there)
//!   leaves it alone, as OneFlow did, rather than shrinking it;
//! - PERCENTAGE_CHANGE takes its direction from `adjust`: OneFlow took it
//!   from the computed change, so on a role of 0 VMs a positive
//!   percentage removed one, and `adjust` 0 removed one.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentKind {
    /// `adjust` VMs more (or fewer, if negative).
    Change,
    /// Exactly `adjust` VMs.
    Cardinality,
    /// `adjust` percent more or fewer, truncated, at least one VM and at
    /// least `min_adjust_step`.
    PercentageChange,
}

impl AdjustmentKind {
    /// OneFlow's `type`, in any case.
    pub fn parse(text: &str) -> Option<AdjustmentKind> {
        match text.trim().to_ascii_uppercase().as_str() {
            "CHANGE" => Some(AdjustmentKind::Change),
            "CARDINALITY" => Some(AdjustmentKind::Cardinality),
            "PERCENTAGE_CHANGE" => Some(AdjustmentKind::PercentageChange),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdjustmentKind::Change => "CHANGE",
            AdjustmentKind::Cardinality => "CARDINALITY",
            AdjustmentKind::PercentageChange => "PERCENTAGE_CHANGE",
        }
    }
}

/// A policy's `type`, `adjust` and `min_adjust_step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjustment {
    pub kind: AdjustmentKind,
    pub adjust: i64,
    /// PERCENTAGE_CHANGE only: the least number of VMs a change makes.
    pub min_adjust_step: u32,
}

/// A role's `min_vms` and `max_vms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
}

/// The cardinality a policy asks for, and what the bounds made of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// What the policy's maths gave, before any bound (may be negative or
    /// past `max_vms`).
    pub wanted: i64,
    /// What the role should scale to.
    pub cardinality: u32,
    pub held: Option<Hold>,
}

/// Why [`Target::cardinality`] differs from [`Target::wanted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Clamped to `min_vms`.
    Min(u32),
    /// Clamped to `max_vms`.
    Max(u32),
    /// The role is outside its bounds already (a user forced it there) and
    /// the policy would take it further out: left as it is.
    Outside,
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::Min(n) => write!(f, "clamped to min_vms {n}"),
            Hold::Max(n) => write!(f, "clamped to max_vms {n}"),
            Hold::Outside => f.write_str("outside min_vms..max_vms: left as it is"),
        }
    }
}

impl Adjustment {
    /// The policy's maths alone, unbounded.
    pub fn wanted(&self, cardinality: u32) -> i64 {
        let current = i64::from(cardinality);
        match self.kind {
            AdjustmentKind::Change => current.saturating_add(self.adjust),
            AdjustmentKind::Cardinality => self.adjust,
            AdjustmentKind::PercentageChange => {
                if self.adjust == 0 {
                    return current;
                }
                let change = (current as f64 * self.adjust as f64 / 100.0).abs();
                // OneFlow: less than one VM is one VM; otherwise truncated.
                let vms = if change < 1.0 { 1 } else { change as i64 };
                let vms = vms.max(i64::from(self.min_adjust_step));
                if self.adjust > 0 {
                    current.saturating_add(vms)
                } else {
                    current.saturating_sub(vms)
                }
            }
        }
    }

    /// The cardinality to scale a role of `cardinality` VMs to: the
    /// policy's maths, held within `bounds`. A role a user forced outside
    /// its bounds is not pulled back by a policy: the bounds only ever
    /// limit how far a policy moves it.
    pub fn target(&self, cardinality: u32, bounds: Bounds) -> Target {
        let wanted = self.wanted(cardinality);
        let current = i64::from(cardinality);
        let (min, max) = (bounds.min, bounds.max.max(bounds.min));
        let low = i64::from(min).min(current);
        let high = i64::from(max).max(current);
        let clamped = wanted.clamp(low, high);
        let outside = cardinality < min || cardinality > max;
        let held = if clamped == wanted {
            None
        } else if clamped == current && outside {
            Some(Hold::Outside)
        } else if clamped == low {
            Some(Hold::Min(min))
        } else {
            Some(Hold::Max(max))
        };
        Target {
            wanted,
            // Within `low..=high`, both of which fit in a u32.
            cardinality: u32::try_from(clamped).unwrap_or(cardinality),
            held,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adj(kind: AdjustmentKind, adjust: i64, step: u32) -> Adjustment {
        Adjustment {
            kind,
            adjust,
            min_adjust_step: step,
        }
    }

    const WIDE: Bounds = Bounds { min: 0, max: 1000 };

    #[test]
    fn oneflow_maths_within_the_bounds() {
        use AdjustmentKind::*;
        // (kind, adjust, min_adjust_step, cardinality, wanted)
        let table = [
            (Change, 2, 0, 3, 5),
            (Change, -2, 0, 3, 1),
            (Cardinality, 7, 0, 3, 7),
            // The reference's example: 5 VMs, -10 %, step 2 -> 0.5 -> 1 -> 2 -> 3.
            (PercentageChange, -10, 2, 5, 3),
            (PercentageChange, 50, 0, 5, 7), // 2.5 truncated to 2
            (PercentageChange, 10, 0, 5, 6), // 0.5 is at least one VM
            (PercentageChange, 200, 0, 4, 12),
            (PercentageChange, -50, 0, 5, 3),  // 2.5 -> 2
            (PercentageChange, 20, 3, 10, 13), // 2 VMs, but the step is 3
            (PercentageChange, 0, 0, 5, 5),    // OneFlow removed one
            (PercentageChange, 50, 0, 0, 1),   // OneFlow removed one
        ];
        for (kind, adjust, step, cardinality, wanted) in table {
            let a = adj(kind, adjust, step);
            let t = a.target(cardinality, WIDE);
            assert_eq!(t.wanted, wanted, "{a:?} at {cardinality}");
            assert_eq!(i64::from(t.cardinality), wanted, "{a:?} at {cardinality}");
            assert_eq!(t.held, None);
        }
    }

    #[test]
    fn the_bounds_clamp_both_ways_and_say_so() {
        use AdjustmentKind::*;
        let b = Bounds { min: 2, max: 6 };
        let t = adj(Change, 10, 0).target(5, b);
        assert_eq!(
            (t.wanted, t.cardinality, t.held),
            (15, 6, Some(Hold::Max(6)))
        );
        let t = adj(Change, -10, 0).target(5, b);
        assert_eq!(
            (t.wanted, t.cardinality, t.held),
            (-5, 2, Some(Hold::Min(2)))
        );
        // CARDINALITY below min_vms: OneFlow's scale was refused; here it
        // goes to min_vms.
        let t = adj(Cardinality, 1, 0).target(4, b);
        assert_eq!((t.cardinality, t.held), (2, Some(Hold::Min(2))));
        let t = adj(Cardinality, 9, 0).target(4, b);
        assert_eq!((t.cardinality, t.held), (6, Some(Hold::Max(6))));
        let t = adj(PercentageChange, -100, 0).target(4, b);
        assert_eq!((t.wanted, t.cardinality), (0, 2));
        assert_eq!(Hold::Max(6).to_string(), "clamped to max_vms 6");
    }

    #[test]
    fn a_policy_never_moves_a_role_against_its_direction() {
        use AdjustmentKind::*;
        let b = Bounds { min: 2, max: 6 };
        // Forced to 9 by a user: a scale-out policy leaves it there.
        let t = adj(Change, 1, 0).target(9, b);
        assert_eq!((t.cardinality, t.held), (9, Some(Hold::Outside)));
        // A scale-in policy brings it down, but not below what it asks.
        let t = adj(Change, -1, 0).target(9, b);
        assert_eq!((t.cardinality, t.held), (8, None));
        let t = adj(Change, -5, 0).target(9, b);
        assert_eq!((t.cardinality, t.held), (4, None));
        // Below min_vms, a scale-in policy leaves it.
        let t = adj(Change, -1, 0).target(1, b);
        assert_eq!((t.cardinality, t.held), (1, Some(Hold::Outside)));
        // A CARDINALITY policy asks for a number: bounded, in either direction.
        let t = adj(Cardinality, 4, 0).target(9, b);
        assert_eq!((t.cardinality, t.held), (4, None));
    }

    #[test]
    fn extremes_do_not_overflow() {
        use AdjustmentKind::*;
        let b = Bounds {
            min: 0,
            max: u32::MAX,
        };
        assert_eq!(
            adj(Change, i64::MAX, 0).target(u32::MAX, b).cardinality,
            u32::MAX
        );
        assert_eq!(adj(Change, i64::MIN, 0).target(u32::MAX, b).cardinality, 0);
        assert_eq!(adj(Cardinality, -3, 0).target(2, b).cardinality, 0);
        let t = adj(PercentageChange, i64::MAX, u32::MAX).target(u32::MAX, b);
        assert_eq!(t.cardinality, u32::MAX);
        let t = adj(PercentageChange, i64::MIN, 0).target(7, b);
        assert_eq!(t.cardinality, 0);
        // min above max: min wins.
        let t = adj(Change, 5, 0).target(3, Bounds { min: 4, max: 2 });
        assert_eq!((t.cardinality, t.held), (4, Some(Hold::Max(4))));
    }

    #[test]
    fn types_are_read_in_any_case() {
        assert_eq!(
            AdjustmentKind::parse(" percentage_change "),
            Some(AdjustmentKind::PercentageChange)
        );
        assert_eq!(
            AdjustmentKind::parse("Change"),
            Some(AdjustmentKind::Change)
        );
        assert_eq!(AdjustmentKind::parse("SIZE"), None);
        assert_eq!(AdjustmentKind::Cardinality.as_str(), "CARDINALITY");
    }
}
