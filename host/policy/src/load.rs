//! A load over time: what a simulated VM reports over its running time
//! (`SIM_LOAD`), and the demand `flotilla policy simulate` replays against
//! a role. Written `shape:n:n…`: `constant:V`, `sine:MIN:MAX:PERIOD_S`,
//! `ramp:FROM:TO:SECONDS`, `step:BEFORE:AFTER:AT_S`,
//! `spike:BASE:PEAK:AT_S:FOR_S`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum LoadShape {
    Constant {
        value: f64,
    },
    Sine {
        min: f64,
        max: f64,
        period_s: f64,
    },
    Ramp {
        from: f64,
        to: f64,
        seconds: f64,
    },
    Step {
        before: f64,
        after: f64,
        at_s: f64,
    },
    /// `base`, then `peak` for `for_s` seconds from `at_s`, then `base`.
    Spike {
        base: f64,
        peak: f64,
        at_s: f64,
        for_s: f64,
    },
}

impl Default for LoadShape {
    fn default() -> Self {
        LoadShape::Constant { value: 5.0 }
    }
}

/// Why a load's text is refused; the caller names where it was written
/// (`SIM_LOAD`, `--load`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// The whole text, one of whose values is not a number.
    NotANumber(String),
    /// A shape given the wrong count of numbers.
    Count {
        shape: String,
        takes: usize,
    },
    SinePeriod,
    Unknown(String),
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShapeError::NotANumber(text) => write!(f, "`{text}` has a value that is not a number"),
            ShapeError::Count { shape, takes } => write!(f, "`{shape}` takes {takes} numbers"),
            ShapeError::SinePeriod => f.write_str("a sine's period must be above 0"),
            ShapeError::Unknown(shape) => write!(
                f,
                "unknown shape `{shape}` (constant, sine, ramp, step, spike)"
            ),
        }
    }
}

impl std::error::Error for ShapeError {}

impl LoadShape {
    pub fn parse(text: &str) -> Result<LoadShape, ShapeError> {
        let parts: Vec<&str> = text.split(':').map(str::trim).collect();
        let nums: Result<Vec<f64>, _> = parts[1..].iter().map(|p| p.parse::<f64>()).collect();
        let nums = nums.map_err(|_| ShapeError::NotANumber(text.to_string()))?;
        let want = |n: usize| {
            if nums.len() == n {
                Ok(())
            } else {
                Err(ShapeError::Count {
                    shape: parts[0].to_string(),
                    takes: n,
                })
            }
        };
        Ok(match parts[0].to_ascii_lowercase().as_str() {
            "constant" => {
                want(1)?;
                LoadShape::Constant { value: nums[0] }
            }
            "sine" => {
                want(3)?;
                if nums[2] <= 0.0 {
                    return Err(ShapeError::SinePeriod);
                }
                LoadShape::Sine {
                    min: nums[0],
                    max: nums[1],
                    period_s: nums[2],
                }
            }
            "ramp" => {
                want(3)?;
                LoadShape::Ramp {
                    from: nums[0],
                    to: nums[1],
                    seconds: nums[2],
                }
            }
            "step" => {
                want(3)?;
                LoadShape::Step {
                    before: nums[0],
                    after: nums[1],
                    at_s: nums[2],
                }
            }
            "spike" => {
                want(4)?;
                LoadShape::Spike {
                    base: nums[0],
                    peak: nums[1],
                    at_s: nums[2],
                    for_s: nums[3],
                }
            }
            other => {
                return Err(ShapeError::Unknown(other.to_string()));
            }
        })
    }

    /// The value `t` seconds from the start (a VM's: since it started
    /// running).
    pub fn at(&self, t: f64) -> f64 {
        let v = match *self {
            LoadShape::Constant { value } => value,
            LoadShape::Sine { min, max, period_s } => {
                let phase = (t / period_s) * std::f64::consts::TAU;
                min + (max - min) * (1.0 - phase.cos()) / 2.0
            }
            LoadShape::Ramp { from, to, seconds } => {
                if seconds <= 0.0 || t >= seconds {
                    to
                } else {
                    from + (to - from) * t / seconds
                }
            }
            LoadShape::Step {
                before,
                after,
                at_s,
            } => {
                if t < at_s {
                    before
                } else {
                    after
                }
            }
            LoadShape::Spike {
                base,
                peak,
                at_s,
                for_s,
            } => {
                if t >= at_s && t < at_s + for_s {
                    peak
                } else {
                    base
                }
            }
        };
        (v * 100.0).round() / 100.0
    }
}
