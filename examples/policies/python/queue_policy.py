"""The `queue` elasticity policy: as many VMs as the queue needs.

Each VM of the role reports a value (default `QUEUE`): the length of the
queue it sees. The policy adds them up (the average the VMs report times the
number of VMs reporting) and wants enough VMs for each to handle `per_vm`
items:

    desired = max(1, ceil(total / per_vm))

Parameters (strings from the role's policy in the service template; keys
are case-insensitive):
- `metric` (default `QUEUE`): the value each VM reports;
- `per_vm` (required, > 0): the items one VM should handle.

The policy is pure: it reads no clock (the evaluation carries `now`), keeps
no state (each call runs in a fresh instance), and leaves clamping to the
role's min/max VMs to the host.

Built with componentize-py against the world
`flotilla:elasticity/elasticity-plugin@0.1.0`; `wit_world` is generated at
build time (see build.sh).
"""

import math
from typing import List, Optional

import wit_world
from componentize_py_types import Err
from wit_world.exports import policy
from wit_world.imports import log, types

NAME = "queue"
VERSION = "0.1.0"
DESCRIPTION = "Scales a role to the number of VMs its queue needs: ceil(total / per_vm)"

# The largest cardinality a recommendation can carry (the WIT's u32).
U32_MAX = 2**32 - 1


def param(input: policy.Evaluation, key: str) -> Optional[str]:
    """A parameter from the service template, its key case-insensitively."""
    for kv in input.params:
        if kv.key.lower() == key:
            return kv.value
    return None


def invalid(message: str) -> Err:
    return Err(types.Error_InvalidInput(message))


def per_vm_param(input: policy.Evaluation) -> float:
    raw = param(input, "per_vm")
    if raw is None or not raw.strip():
        raise invalid("per_vm: missing; set the items one VM should handle (a number above 0)")
    try:
        value = float(raw.strip())
    except ValueError:
        raise invalid(f"per_vm: `{raw}` is not a number")
    if not math.isfinite(value) or value <= 0:
        raise invalid(f"per_vm: `{raw}` must be a number above 0")
    return value


def number(value: float) -> str:
    """A number as a trace shows it: 120, 85.3, 0.25 (two decimals at most)."""
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return repr(rounded)


def reported(input: policy.Evaluation, metric: str) -> List[float]:
    """The metric's value on each VM that reports it."""
    values = []
    for vm in input.vms:
        for m in vm.values:
            if m.name.upper() == metric and math.isfinite(m.value):
                values.append(m.value)
                break
    return values


def recommendation(desired: Optional[int], reason: str, trace: str) -> policy.Recommendation:
    return policy.Recommendation(
        desired=desired, reason=reason, trace=trace, cooldown=None, state=None
    )


class Policy(wit_world.exports.Policy):
    def info(self) -> types.PluginInfo:
        return types.PluginInfo(name=NAME, version=VERSION, description=DESCRIPTION)

    def evaluate(self, input: policy.Evaluation) -> policy.Recommendation:
        metric = (param(input, "metric") or "QUEUE").strip().upper() or "QUEUE"
        per_vm = per_vm_param(input)

        values = reported(input, metric)
        if not values:
            return recommendation(None, f"metric missing: {metric}", f"{metric}[--]")

        # The average the VMs report times the number of VMs reporting.
        average = sum(values) / len(values)
        total = max(0.0, average * len(values))
        # Round first, so 119.99999 from the floating-point sum stays 120.
        needed = math.ceil(round(total / per_vm, 6))
        desired = min(max(1, needed), U32_MAX)
        cardinality = input.role.cardinality

        trace = f"{metric}[total={number(total)}] / {number(per_vm)} per VM → {desired}"
        need = (
            f"{metric} total {number(total)} from {len(values)} VM(s) "
            f"needs {desired} VM(s) at {number(per_vm)} per VM"
        )
        if desired == cardinality:
            return recommendation(None, f"{need}: the role has {cardinality}", trace)
        log.log(log.Level.DEBUG, f"{input.role.role_name}: {trace}")
        return recommendation(
            desired, f"{need}: scale from {cardinality} to {desired} VMs", trace
        )
