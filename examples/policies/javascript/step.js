// The `step` elasticity policy: AWS-style step scaling on the role's average
// of one metric.
//
// Parameters (strings from the role's policy in the service template; keys
// are case-insensitive):
// - `metric` (default `CPU`): the value each VM reports;
// - `steps` (required): comma-separated `threshold:change` pairs, like
//   `90:+2,70:+1,20:-1`. A positive change applies when the average is at or
//   above its threshold (the largest such threshold wins); a negative change
//   when the average is at or below its threshold (the smallest such
//   threshold wins). Nothing matches: no change.
//
// The average is rounded to two decimals; the trace reads `CPU[93.5] >= 90 → +2`.
//
// The policy is pure: it reads no clock (the evaluation carries `now`), keeps
// no state (each call runs in a fresh instance), and leaves clamping to the
// role's min/max VMs to the host.
//
// Built with jco/componentize-js against the world
// `flotilla:elasticity/elasticity-plugin@0.1.0` (see build.sh).

import { log } from 'flotilla:host/log@0.1.0';

const NAME = 'step';
const VERSION = '0.1.0';
const DESCRIPTION =
  'Step scaling: adds or removes VMs by the step the role\'s average of one metric reaches';

// The largest cardinality a recommendation can carry (the WIT's u32).
const U32_MAX = 4294967295;

// An `error` variant of flotilla:types; thrown, it becomes the `err` of the
// `result` that `evaluate` returns.
function invalid(message) {
  return { tag: 'invalid-input', val: message };
}

// A parameter from the service template, its key case-insensitively.
function param(input, key) {
  const kv = input.params.find((p) => p.key.toLowerCase() === key);
  return kv === undefined ? undefined : kv.value;
}

// A number as a trace shows it: 90, 93.5, 0.25 (two decimals at most).
function number(value) {
  return String(Math.round(value * 100) / 100);
}

// `90:+2,70:+1,20:-1` → [{ threshold: 90, change: 2 }, …], or throws an
// invalid-input error naming `steps`.
function parseSteps(raw) {
  if (raw === undefined || raw.trim() === '') {
    throw invalid('steps: missing; set comma-separated threshold:change pairs, like 90:+2,70:+1,20:-1');
  }
  const steps = [];
  for (const item of raw.split(',')) {
    const text = item.trim();
    const match = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*:\s*([+-]?\d+)$/.exec(text);
    if (match === null) {
      throw invalid(`steps: \`${text}\` is not threshold:change (like 90:+2 or 20:-1)`);
    }
    const threshold = Number(match[1]);
    const change = Number(match[2]);
    if (change === 0 || !Number.isSafeInteger(change)) {
      throw invalid(`steps: \`${text}\` must change the cardinality by a non-zero whole number`);
    }
    if (steps.some((s) => s.threshold === threshold && Math.sign(s.change) === Math.sign(change))) {
      throw invalid(`steps: threshold ${threshold} appears twice`);
    }
    steps.push({ threshold, change });
  }
  const up = steps.filter((s) => s.change > 0);
  const down = steps.filter((s) => s.change < 0);
  const lowestUp = Math.min(...up.map((s) => s.threshold));
  const highestDown = Math.max(...down.map((s) => s.threshold));
  if (up.length > 0 && down.length > 0 && highestDown >= lowestUp) {
    throw invalid(
      `steps: scale-in threshold ${highestDown} must be below every scale-out threshold (lowest ${lowestUp})`,
    );
  }
  return { up, down };
}

// The metric's value on each VM that reports it.
function reported(input, metric) {
  const values = [];
  for (const vm of input.vms) {
    const m = vm.values.find((v) => v.name.toUpperCase() === metric);
    if (m !== undefined && Number.isFinite(m.value)) {
      values.push(m.value);
    }
  }
  return values;
}

function recommendation(desired, reason, trace) {
  return { desired, reason, trace, cooldown: undefined, state: undefined };
}

function signed(change) {
  return change > 0 ? `+${change}` : String(change);
}

export const policy = {
  info() {
    return { name: NAME, version: VERSION, description: DESCRIPTION };
  },

  evaluate(input) {
    const metric = (param(input, 'metric') ?? 'CPU').trim().toUpperCase() || 'CPU';
    const { up, down } = parseSteps(param(input, 'steps'));

    const values = reported(input, metric);
    if (values.length === 0) {
      return recommendation(undefined, `metric missing: ${metric}`, `${metric}[--]`);
    }
    const average = Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 100) / 100;
    const shown = `${metric}[${number(average)}]`;

    // Scale out: the largest threshold the average reaches; scale in: the
    // smallest threshold the average is at or below.
    const out = up
      .filter((s) => average >= s.threshold)
      .reduce((best, s) => (best === undefined || s.threshold > best.threshold ? s : best), undefined);
    const inn = down
      .filter((s) => average <= s.threshold)
      .reduce((best, s) => (best === undefined || s.threshold < best.threshold ? s : best), undefined);
    const step = out ?? inn;
    if (step === undefined) {
      const bounds = [];
      if (up.length > 0) bounds.push(`< ${number(Math.min(...up.map((s) => s.threshold)))}`);
      if (down.length > 0) bounds.push(`> ${number(Math.max(...down.map((s) => s.threshold)))}`);
      const trace = `${shown} ${bounds.join(', ')}`;
      return recommendation(undefined, `${shown} matches no step`, trace);
    }

    const op = step.change > 0 ? '>=' : '<=';
    const trace = `${shown} ${op} ${number(step.threshold)} → ${signed(step.change)}`;
    const cardinality = input.role.cardinality;
    const desired = Math.min(U32_MAX, Math.max(0, cardinality + step.change));
    if (desired === cardinality) {
      return recommendation(undefined, `${trace}: the role stays at ${cardinality} VMs`, trace);
    }
    log('debug', `${input.role.roleName}: ${trace}`);
    return recommendation(desired, `${trace}: scale from ${cardinality} to ${desired} VMs`, trace);
  },
};
