//! The bodies of the `/host` routes (`api/hosts.rs`) as the OpenAPI
//! document describes them.

use super::json_schema;

json_schema!(HostCreate, {
    "type": "object",
    "required": ["name", "driver", "address"],
    "additionalProperties": false,
    "properties": {
        "name": {
            "type": "string", "minLength": 1, "maxLength": 128,
            "pattern": "^[A-Za-z0-9._-]+$",
            "description": "Letters, digits, `.`, `-` and `_`; not a number."
        },
        "driver": {"type": "string", "description": "The driver plugin that reaches it: this server's driver (engine.driver)."},
        "address": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "How the driver reaches it: a libvirt URI (qemu+tcp://10.0.0.2/system), a simulated host's name."},
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 256},
            "maxProperties": 64,
            "description": "Attributes SCHED_REQUIREMENTS and SCHED_RANK read (ZONE=a); names are letters, digits and `_`, starting with a letter."
        }
    }
});

json_schema!(HostAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform"],
            "properties": {
                "perform": {"type": "string", "enum": ["enable", "disable", "offline"]},
                "params": {"type": ["object", "null"]}
            }
        }
    }
});

json_schema!(Host, {
    "type": "object",
    "required": ["id", "name", "driver", "address", "labels", "mode", "state", "state_number", "allocated", "vm_ids"],
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "name": {"type": "string"},
        "driver": {"type": "string"},
        "address": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "mode": {"type": "string", "enum": ["enabled", "disabled", "offline"], "description": "What the operator asked."},
        "state": {"type": "string", "enum": ["INIT", "MONITORED", "ERROR", "DISABLED", "OFFLINE"]},
        "state_number": {"type": "integer", "description": "OpenNebula's: INIT 0, MONITORED 2, ERROR 3, DISABLED 4, OFFLINE 8."},
        "reason": {"type": "string", "description": "Why it is in ERROR."},
        "total": {"$ref": "#/components/schemas/HostCapacity"},
        "used": {"$ref": "#/components/schemas/HostCapacity"},
        "allocated": {
            "type": "object",
            "description": "What the VMs placed on it take: what placement counts.",
            "properties": {
                "cpu": {"type": "number"},
                "memory_mb": {"type": "integer"},
                "vms": {"type": "integer"}
            }
        },
        "vm_ids": {"type": "array", "items": {"type": "string"}, "description": "The VMs its hypervisor had at its last monitoring."},
        "monitored_ms": {"type": "integer", "description": "When its monitoring last answered (ms since the epoch)."},
        "error_since_ms": {"type": "integer"},
        "stale_vm_ids": {"type": "array", "items": {"type": "string"}, "description": "VMs terminated while it was lost, destroyed when it answers again."}
    }
});

json_schema!(HostCapacity, {
    "type": "object",
    "properties": {
        "cpu": {"type": "number", "description": "CPUs"},
        "memory_mb": {"type": "integer"}
    }
});

json_schema!(HostResponse, {"$ref": "#/components/schemas/Host"});

json_schema!(HostPool, {
    "type": "object",
    "required": ["hosts"],
    "properties": {
        "hosts": {"type": "array", "items": {"$ref": "#/components/schemas/Host"}}
    }
});
