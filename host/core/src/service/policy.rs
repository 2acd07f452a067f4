//! A role's policies, typed: an `elasticity_policies` entry is an
//! [`ElasticityPolicy`] (OneFlow's metric policy with its expression
//! parsed, or a policy plugin's id and params), a `scheduled_policies`
//! entry a [`ScheduledPolicy`] (its schedule parsed). Each is read once:
//! validation reads a template's (`validate/roles.rs`), and a service read
//! back from the store reads its own; evaluations, the lint, `explain` and
//! the simulator read the typed policy, never the JSON.
//!
//! A policy is written back as the OneFlow attributes it was read from,
//! the same JSON: keywords as they were spelled, attributes Flotilla does
//! not read (annotations, the runtime keys a client copied from a service
//! document) kept in `extra`, and a policy an older release stored that no
//! longer reads kept whole, with the reason, and never evaluated.

use flotilla_model::{FieldError, KeyValue};
use flotilla_policy::builtin::{self, OnMissing};
use flotilla_policy::{Adjustment, AdjustmentKind, CatchUp, ParsedExpression, Schedule};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Policy attributes the server writes into a policy in a service's
/// document (OneFlow's runtime keys): never handed to a plugin.
pub const RUNTIME_KEYS: &[&str] = &["last_eval", "true_evals", "expression_evaluated"];

/// A keyword attribute as it was written and what it reads as: written
/// back as it was written (`on_missing: "TRUE"` stays upper case).
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword<T> {
    pub text: String,
    pub value: T,
}

/// A policy's `type`, `adjust` and `min_adjust_step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjust {
    pub kind: Keyword<AdjustmentKind>,
    pub adjust: i64,
    pub min_adjust_step: Option<u64>,
}

impl Adjust {
    /// The adjustment maths reads; a `min_adjust_step` past any role's
    /// size counts as none.
    pub fn adjustment(&self) -> Adjustment {
        Adjustment {
            kind: self.kind.value,
            adjust: self.adjust,
            min_adjust_step: self
                .min_adjust_step
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        }
    }
}

/// One of a role's `elasticity_policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct ElasticityPolicy {
    /// What evaluates it; `Err` names why a policy stored by an older
    /// release does not read (its attributes are all in `extra`).
    pub rule: Result<PolicyRule, FieldError>,
    /// Seconds between evaluations (OneFlow's `period`; none: every
    /// round).
    pub period: Option<u64>,
    /// Consecutive true evaluations before the policy fires.
    pub period_number: Option<u64>,
    /// Seconds the role waits after a scale before this policy may scale
    /// it again; overrides the role's cooldowns.
    pub cooldown: Option<u64>,
    /// The attributes not read, as written.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyRule {
    /// OneFlow's metric policy, evaluated by the built-in `expression`
    /// plugin.
    Metric(MetricPolicy),
    /// A policy plugin by id, with its own parameters.
    Plugin(PluginPolicy),
}

/// OneFlow's metric policy: `type`, `adjust`, `min_adjust_step`,
/// `expression` and Flotilla's `on_missing`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPolicy {
    pub adjust: Adjust,
    pub expression: ParsedExpression,
    pub on_missing: Option<Keyword<OnMissing>>,
}

/// `{"plugin": "<id>", "params": {...}}`: the params are the plugin's
/// (strings, numbers, booleans), kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginPolicy {
    pub plugin: String,
    pub params: Option<Map<String, Value>>,
}

/// One of a role's `scheduled_policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledPolicy {
    /// When it fires and what it does; `Err` as for [`ElasticityPolicy`]:
    /// such a policy never fires.
    pub plan: Result<Plan, FieldError>,
    pub cooldown: Option<u64>,
    pub extra: Map<String, Value>,
}

/// A scheduled policy's adjustment and schedule.
#[derive(Debug, Clone)]
pub struct Plan {
    pub adjust: Adjust,
    pub recurrence: Option<String>,
    pub start_time: Option<String>,
    pub time_zone: Option<String>,
    /// Read from `recurrence`, `start_time` and `time_zone`.
    pub schedule: Schedule,
    pub catch_up: Option<Keyword<CatchUp>>,
}

impl PartialEq for Plan {
    /// The schedule is read from the attributes: they are compared.
    fn eq(&self, other: &Plan) -> bool {
        let Plan {
            adjust,
            recurrence,
            start_time,
            time_zone,
            schedule: _,
            catch_up,
        } = self;
        *adjust == other.adjust
            && *recurrence == other.recurrence
            && *start_time == other.start_time
            && *time_zone == other.time_zone
            && *catch_up == other.catch_up
    }
}

impl Plan {
    pub fn catch_up(&self) -> CatchUp {
        self.catch_up.as_ref().map(|c| c.value).unwrap_or_default()
    }
}

/// A policy attribute as the text a plugin gets; `None` for null, an
/// object or an array.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl ElasticityPolicy {
    /// Read from its attributes. Never fails: a policy that does not read
    /// is kept whole, with the reason.
    pub fn read(attributes: Map<String, Value>) -> ElasticityPolicy {
        ElasticityPolicy::read_parsed(attributes, None)
    }

    /// Read, taking the expression validation already parsed from the
    /// same text.
    pub(crate) fn read_parsed(
        attributes: Map<String, Value>,
        parsed: Option<ParsedExpression>,
    ) -> ElasticityPolicy {
        let mut rest = attributes.clone();
        match read_elasticity(&mut rest, parsed) {
            Ok((rule, period, period_number, cooldown)) => ElasticityPolicy {
                rule: Ok(rule),
                period,
                period_number,
                cooldown,
                extra: rest,
            },
            Err(reason) => ElasticityPolicy {
                rule: Err(reason),
                period: None,
                period_number: None,
                cooldown: None,
                extra: attributes,
            },
        }
    }

    /// The plugin that evaluates it (`expression` for OneFlow's
    /// policies); `None` for a policy that does not read.
    pub fn plugin(&self) -> Option<&str> {
        match &self.rule {
            Ok(PolicyRule::Metric(_)) => Some(builtin::ID),
            Ok(PolicyRule::Plugin(p)) => Some(&p.plugin),
            Err(_) => None,
        }
    }

    /// Seconds between evaluations (default 0: every round).
    pub fn period_s(&self) -> u64 {
        self.period.unwrap_or(0)
    }

    /// The policy's own cooldown, in seconds.
    pub fn cooldown_s(&self) -> Option<u32> {
        self.cooldown.and_then(|c| u32::try_from(c).ok())
    }

    /// What the plugin gets as its params: a OneFlow policy's own
    /// attributes but the server's runtime keys, a plugin policy's
    /// `params` and its `period_number` (a plugin that counts consecutive
    /// evaluations reads it as the built-in one does).
    pub fn params(&self) -> Vec<KeyValue> {
        match &self.rule {
            Ok(PolicyRule::Metric(_)) => self
                .to_map()
                .iter()
                .filter(|(k, _)| !RUNTIME_KEYS.contains(&k.as_str()))
                .filter_map(|(k, v)| Some(KeyValue::new(k.clone(), scalar(v)?)))
                .collect(),
            Ok(PolicyRule::Plugin(p)) => {
                let mut params: Vec<KeyValue> = p
                    .params
                    .iter()
                    .flatten()
                    .filter_map(|(k, v)| Some(KeyValue::new(k.clone(), scalar(v)?)))
                    .collect();
                if let Some(n) = self.period_number {
                    params.push(KeyValue::new("period_number", n.to_string()));
                }
                params
            }
            Err(_) => Vec::new(),
        }
    }

    /// The values the policy reads (the names in a OneFlow expression, a
    /// plugin's `metric` param), for the decision record: empty when
    /// unknown (all of a VM's values are recorded).
    pub fn metrics(&self) -> Vec<String> {
        match &self.rule {
            Ok(PolicyRule::Metric(m)) => m
                .expression
                .names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            Ok(PolicyRule::Plugin(p)) => p
                .params
                .as_ref()
                .and_then(|params| {
                    params
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("metric"))
                        .and_then(|(_, v)| scalar(v))
                })
                .map(|m| vec![m.trim().to_string()])
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// The built-in policy's rule, for the host to evaluate natively what
    /// the `expression` plugin evaluates from the params; `None` for a
    /// plugin policy, or one whose numbers only the params can say are
    /// out of range (the plugin then refuses it as it always did).
    pub fn builtin_rule(&self) -> Option<builtin::Rule> {
        let Ok(PolicyRule::Metric(m)) = &self.rule else {
            return None;
        };
        let step = m.adjust.min_adjust_step.unwrap_or(0);
        Some(builtin::Rule {
            adjustment: Adjustment {
                kind: m.adjust.kind.value,
                adjust: m.adjust.adjust,
                min_adjust_step: u32::try_from(step).ok()?,
            },
            expression: m.expression.clone(),
            period_number: u32::try_from(self.period_number.unwrap_or(0)).ok()?,
            on_missing: m.on_missing.as_ref().map(|o| o.value).unwrap_or_default(),
        })
    }

    /// Its attributes, as read.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = self.extra.clone();
        match &self.rule {
            Ok(PolicyRule::Metric(m)) => {
                put_adjust(&mut map, &m.adjust);
                map.insert("expression".into(), m.expression.text().into());
                if let Some(o) = &m.on_missing {
                    map.insert("on_missing".into(), o.text.clone().into());
                }
            }
            Ok(PolicyRule::Plugin(p)) => {
                map.insert("plugin".into(), p.plugin.clone().into());
                if let Some(params) = &p.params {
                    map.insert("params".into(), Value::Object(params.clone()));
                }
            }
            Err(_) => return map,
        }
        for (key, value) in [
            ("period", self.period),
            ("period_number", self.period_number),
            ("cooldown", self.cooldown),
        ] {
            if let Some(v) = value {
                map.insert(key.into(), v.into());
            }
        }
        map
    }
}

impl ScheduledPolicy {
    /// Read from its attributes; never fails, as [`ElasticityPolicy::read`].
    pub fn read(attributes: Map<String, Value>) -> ScheduledPolicy {
        ScheduledPolicy::read_parsed(attributes, None)
    }

    /// Read, taking the schedule validation already parsed from the same
    /// attributes.
    pub(crate) fn read_parsed(
        attributes: Map<String, Value>,
        parsed: Option<Schedule>,
    ) -> ScheduledPolicy {
        let mut rest = attributes.clone();
        match read_scheduled(&mut rest, parsed) {
            Ok((plan, cooldown)) => ScheduledPolicy {
                plan: Ok(plan),
                cooldown,
                extra: rest,
            },
            Err(reason) => ScheduledPolicy {
                plan: Err(reason),
                cooldown: None,
                extra: attributes,
            },
        }
    }

    /// Its attributes, as read.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = self.extra.clone();
        let Ok(plan) = &self.plan else {
            return map;
        };
        put_adjust(&mut map, &plan.adjust);
        for (key, value) in [
            ("recurrence", &plan.recurrence),
            ("start_time", &plan.start_time),
            ("time_zone", &plan.time_zone),
        ] {
            if let Some(v) = value {
                map.insert(key.into(), v.clone().into());
            }
        }
        if let Some(c) = &plan.catch_up {
            map.insert("catch_up".into(), c.text.clone().into());
        }
        if let Some(c) = self.cooldown {
            map.insert("cooldown".into(), c.into());
        }
        map
    }
}

fn put_adjust(map: &mut Map<String, Value>, adjust: &Adjust) {
    map.insert("type".into(), adjust.kind.text.clone().into());
    map.insert("adjust".into(), adjust.adjust.into());
    if let Some(step) = adjust.min_adjust_step {
        map.insert("min_adjust_step".into(), step.into());
    }
}

/// A policy's attribute that does not read, naming it.
type Read<T> = Result<T, FieldError>;

/// The attribute `key` taken out of `rest` when it has a value; a null
/// stays where it is, to be written back as it was.
fn take(rest: &mut Map<String, Value>, key: &str) -> Option<Value> {
    match rest.get(key) {
        None | Some(Value::Null) => None,
        Some(_) => rest.remove(key),
    }
}

fn text(rest: &mut Map<String, Value>, key: &str) -> Read<Option<String>> {
    match take(rest, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldError::new(key, "not a string")),
    }
}

fn keyword<T>(
    rest: &mut Map<String, Value>,
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Read<Option<Keyword<T>>> {
    let Some(text) = text(rest, key)? else {
        return Ok(None);
    };
    match parse(&text) {
        Some(value) => Ok(Some(Keyword { text, value })),
        None => Err(FieldError::new(key, format!("`{text}` is not {expected}"))),
    }
}

/// A whole number, 0 or more: a JSON number or a string of digits (as
/// OneFlow's clients send them).
fn whole(rest: &mut Map<String, Value>, key: &str) -> Read<Option<u64>> {
    let value = match take(rest, key) {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    value
        .map(Some)
        .ok_or_else(|| FieldError::new(key, "not a whole number, 0 or more"))
}

fn read_adjust(rest: &mut Map<String, Value>) -> Read<Adjust> {
    let kind = keyword(
        rest,
        "type",
        AdjustmentKind::parse,
        "CHANGE, CARDINALITY or PERCENTAGE_CHANGE",
    )?
    .ok_or_else(|| FieldError::new("type", "missing"))?;
    let adjust = match take(rest, "adjust") {
        None => return Err(FieldError::new("adjust", "missing")),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    }
    .ok_or_else(|| FieldError::new("adjust", "not a whole number"))?;
    Ok(Adjust {
        kind,
        adjust,
        min_adjust_step: whole(rest, "min_adjust_step")?,
    })
}

type ElasticityRead = (PolicyRule, Option<u64>, Option<u64>, Option<u64>);

fn read_elasticity(
    rest: &mut Map<String, Value>,
    parsed: Option<ParsedExpression>,
) -> Read<ElasticityRead> {
    let rule = if rest.contains_key("plugin") {
        let plugin = match rest.remove("plugin") {
            Some(Value::String(s)) => s,
            _ => return Err(FieldError::new("plugin", "not a string")),
        };
        let params = match take(rest, "params") {
            None => None,
            Some(Value::Object(params)) => Some(params),
            Some(_) => return Err(FieldError::new("params", "not an object")),
        };
        PolicyRule::Plugin(PluginPolicy { plugin, params })
    } else {
        let adjust = read_adjust(rest)?;
        let text =
            text(rest, "expression")?.ok_or_else(|| FieldError::new("expression", "missing"))?;
        let expression = match parsed {
            Some(parsed) if parsed.text() == text => parsed,
            _ => ParsedExpression::parse(&text)
                .map_err(|e| FieldError::new("expression", e.to_string()))?,
        };
        let on_missing = keyword(rest, "on_missing", OnMissing::parse, "hold, true or false")?;
        PolicyRule::Metric(MetricPolicy {
            adjust,
            expression,
            on_missing,
        })
    };
    let period_number = whole(rest, "period_number")?;
    let period = whole(rest, "period")?;
    let cooldown = whole(rest, "cooldown")?;
    Ok((rule, period, period_number, cooldown))
}

fn read_scheduled(
    rest: &mut Map<String, Value>,
    parsed: Option<Schedule>,
) -> Read<(Plan, Option<u64>)> {
    let adjust = read_adjust(rest)?;
    let recurrence = text(rest, "recurrence")?;
    let start_time = text(rest, "start_time")?;
    let time_zone = text(rest, "time_zone")?;
    let schedule = match parsed {
        Some(schedule) => schedule,
        None => Schedule::parse(
            recurrence.as_deref(),
            start_time.as_deref(),
            time_zone.as_deref(),
        )
        .map_err(|e| FieldError::new(e.attribute, e.message))?,
    };
    let catch_up = keyword(rest, "catch_up", CatchUp::parse, "latest or skip")?;
    let cooldown = whole(rest, "cooldown")?;
    Ok((
        Plan {
            adjust,
            recurrence,
            start_time,
            time_zone,
            schedule,
            catch_up,
        },
        cooldown,
    ))
}

impl Serialize for ElasticityPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ElasticityPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(ElasticityPolicy::read)
    }
}

impl Serialize for ScheduledPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ScheduledPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(ScheduledPolicy::read)
    }
}

#[cfg(test)]
mod tests;
