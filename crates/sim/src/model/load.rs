//! The load a simulated VM reports: a shape over its running time.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum LoadShape {
    Constant { value: f64 },
    Sine { min: f64, max: f64, period_s: f64 },
    Ramp { from: f64, to: f64, seconds: f64 },
    Step { before: f64, after: f64, at_s: f64 },
}

impl Default for LoadShape {
    fn default() -> Self {
        LoadShape::Constant { value: 5.0 }
    }
}

impl LoadShape {
    pub(super) fn parse(text: &str) -> Result<LoadShape, String> {
        let parts: Vec<&str> = text.split(':').map(str::trim).collect();
        let nums: Result<Vec<f64>, _> = parts[1..].iter().map(|p| p.parse::<f64>()).collect();
        let nums =
            nums.map_err(|_| format!("SIM_LOAD: `{text}` has a value that is not a number"))?;
        let want = |n: usize| -> Result<(), String> {
            if nums.len() == n {
                Ok(())
            } else {
                Err(format!("SIM_LOAD: `{}` takes {n} numbers", parts[0]))
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
                    return Err("SIM_LOAD: a sine's period must be above 0".into());
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
            other => {
                return Err(format!(
                    "SIM_LOAD: unknown shape `{other}` (constant, sine, ramp, step)"
                ));
            }
        })
    }

    /// The value `t` seconds after the VM started running.
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
        };
        (v * 100.0).round() / 100.0
    }
}
