//! OneFlow's `period` and `period_number`: a metric policy is evaluated at
//! most once every `period` seconds, and fires after `period_number`
//! consecutive true evaluations (0 and 1 both mean the first).

use crate::expression::Truth;
use serde::{Deserialize, Serialize};

/// What a policy remembers between evaluations. The caller stores it with
/// the role; times are milliseconds on the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Streak {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_eval_ms: Option<u64>,
    #[serde(default)]
    pub true_evals: u32,
}

/// The outcome of one evaluation for the streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// True, `of` needed: fires when `true_evals` reaches `of`.
    True { true_evals: u32, of: u32 },
    /// False: the streak starts over.
    False,
    /// A value was missing: the streak starts over (the evaluations
    /// were not consecutive), and nothing fires.
    Missing,
}

impl Count {
    pub fn fires(self) -> bool {
        matches!(self, Count::True { true_evals, of } if true_evals >= of)
    }
}

impl Streak {
    /// When the next evaluation is due, with `period_s` between
    /// evaluations (now if never evaluated).
    pub fn due_ms(&self, period_s: u64) -> u64 {
        self.last_eval_ms
            .map_or(0, |last| last.saturating_add(period_s.saturating_mul(1000)))
    }

    /// Count an evaluation made at `now_ms`.
    pub fn count(&mut self, now_ms: u64, truth: Truth, period_number: u32) -> Count {
        self.last_eval_ms = Some(now_ms);
        let of = period_number.max(1);
        match truth {
            Truth::True => {
                self.true_evals = self.true_evals.saturating_add(1).min(of);
                Count::True {
                    true_evals: self.true_evals,
                    of,
                }
            }
            Truth::False => {
                self.true_evals = 0;
                Count::False
            }
            Truth::Missing => {
                self.true_evals = 0;
                Count::Missing
            }
        }
    }

    /// The policy fired and its role scales: the next firing needs a new
    /// streak. (OneFlow kept the count and fired again at every pass until
    /// the role entered SCALING.)
    pub fn fired(&mut self) {
        self.true_evals = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_after_period_number_consecutive_true_evaluations() {
        let mut s = Streak::default();
        assert_eq!(s.due_ms(60), 0);
        let c = s.count(0, Truth::True, 3);
        assert_eq!(
            c,
            Count::True {
                true_evals: 1,
                of: 3
            }
        );
        assert!(!c.fires());
        assert_eq!(s.due_ms(60), 60_000);
        assert!(!s.count(60_000, Truth::True, 3).fires());
        assert!(s.count(120_000, Truth::True, 3).fires());
        // Still true without a new streak: fires again, capped at `of`.
        assert_eq!(
            s.count(180_000, Truth::True, 3),
            Count::True {
                true_evals: 3,
                of: 3
            }
        );
        s.fired();
        assert!(!s.count(240_000, Truth::True, 3).fires());
    }

    #[test]
    fn a_false_or_missing_evaluation_starts_the_streak_over() {
        for breaker in [Truth::False, Truth::Missing] {
            let mut s = Streak::default();
            s.count(0, Truth::True, 2);
            let c = s.count(1, breaker, 2);
            assert!(!c.fires());
            assert_eq!(s.true_evals, 0);
            assert!(!s.count(2, Truth::True, 2).fires());
            assert!(s.count(3, Truth::True, 2).fires());
        }
    }

    #[test]
    fn period_number_zero_or_one_fires_at_the_first_true() {
        for n in [0, 1] {
            let mut s = Streak::default();
            assert!(s.count(5, Truth::True, n).fires(), "period_number {n}");
        }
    }

    #[test]
    fn huge_periods_do_not_overflow() {
        let s = Streak {
            last_eval_ms: Some(u64::MAX - 1),
            true_evals: 0,
        };
        assert_eq!(s.due_ms(u64::MAX), u64::MAX);
    }
}
