//! The bodies of the `/service_template` routes (`api/templates.rs`) as the OpenAPI document describes them.

use super::json_schema;

json_schema!(ElasticityPolicy, {
    "type": "object",
    "required": ["type", "adjust", "expression"],
    "properties": {
        "type": {
            "type": "string",
            "enum": ["CHANGE", "CARDINALITY", "PERCENTAGE_CHANGE"]
        },
        "adjust": {
            "type": "integer"
        },
        "min_adjust_step": {
            "type": ["integer", "null"],
            "minimum": 1
        },
        "expression": {
            "type": "string",
            "minLength": 1,
            "examples": ["CPU > 80"]
        },
        "period": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "Seconds between evaluations."
        },
        "period_number": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "Consecutive true evaluations needed."
        },
        "cooldown": {
            "type": ["integer", "null"],
            "minimum": 0
        },
        "last_eval": {
            "type": "integer",
            "readOnly": true
        },
        "true_evals": {
            "type": "integer",
            "readOnly": true
        },
        "expression_evaluated": {
            "type": "string",
            "readOnly": true
        }
    }
});

json_schema!(ScheduledPolicy, {
    "type": "object",
    "description": "Exactly one of start_time and recurrence.",
    "required": ["type", "adjust"],
    "properties": {
        "type": {
            "type": "string",
            "enum": ["CHANGE", "CARDINALITY", "PERCENTAGE_CHANGE"]
        },
        "adjust": {
            "type": "integer"
        },
        "min_adjust_step": {
            "type": ["integer", "null"],
            "minimum": 1
        },
        "start_time": {
            "type": ["string", "null"],
            "description": "A one-shot time: epoch seconds, RFC 3339, or YYYY-MM-DD HH:MM[:SS] in time_zone."
        },
        "recurrence": {
            "type": ["string", "null"],
            "description": "Cron: five fields (or six, seconds first), with ranges, steps, lists, names, L, # and W; read in time_zone. A pattern that never matches is refused.",
            "examples": ["0 9 * * MON-FRI"]
        },
        "time_zone": {
            "type": ["string", "null"],
            "description": "IANA time zone name in which recurrence and a local start_time are read; UTC when absent.",
            "examples": ["Europe/Madrid"]
        },
        "catch_up": {
            "type": ["string", "null"],
            "enum": ["latest", "skip", null],
            "description": "An occurrence that passed while the server was down: latest (default) fires once for the latest; skip does not fire."
        },
        "cooldown": {
            "type": ["integer", "null"],
            "minimum": 0
        },
        "last_eval": {
            "type": "integer",
            "readOnly": true
        }
    },
    "oneOf": [
        {
            "required": ["start_time"]
        },
        {
            "required": ["recurrence"]
        }
    ]
});

json_schema!(Role, {
    "type": "object",
    "description": "A role. Whole numbers may also be sent as strings of decimal digits. min_vms <= cardinality <= max_vms; policies need both min_vms and max_vms. Unknown keys are kept. A OneFlow 6 role (vm_template, vm_template_contents, custom_attrs; no type) is converted as OneFlow 7 converts it when every role has vm_template.",
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_]+$"
        },
        "type": {
            "type": "string",
            "enum": ["vm", "vr"],
            "description": "vm: VMs; vr: a virtual router."
        },
        "template_id": {
            "type": "integer",
            "minimum": 0,
            "description": "VM template the role's VMs are made from."
        },
        "cardinality": {
            "type": ["integer", "null"],
            "minimum": 0,
            "default": 0
        },
        "parents": {
            "type": ["array", "null"],
            "items": {
                "type": "string"
            },
            "description": "Roles that must be RUNNING first (straight deployment); must exist, no cycles."
        },
        "min_vms": {
            "type": ["integer", "null"],
            "minimum": 0
        },
        "max_vms": {
            "type": ["integer", "null"],
            "minimum": 0
        },
        "cooldown": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "Seconds after a scale; 300 when unset."
        },
        "on_hold": {
            "type": ["boolean", "null"],
            "default": false
        },
        "affinity": {
            "type": ["string", "null"],
            "enum": ["AFFINED", "ANTI_AFFINED", null],
            "description": "On a server with hosts: the role's VMs on one host (AFFINED) or each on a host of its own (ANTI_AFFINED)."
        },
        "shutdown_action": {
            "type": ["string", "null"],
            "enum": ["terminate", "terminate-hard", "shutdown", "shutdown-hard", null],
            "description": "How the role's VMs are terminated on undeploy; shutdown-hard means terminate-hard, shutdown means terminate."
        },
        "template_contents": {
            "type": ["object", "null"],
            "description": "VM template attributes overlaid on the VM template; NIC must be an array of objects.",
            "properties": {
                "NIC": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object"
                    }
                }
            }
        },
        "user_inputs": {
            "type": ["object", "null"],
            "additionalProperties": {
                "type": "string"
            }
        },
        "user_inputs_values": {
            "type": ["object", "null"]
        },
        "elasticity_policies": {
            "type": ["array", "null"],
            "items": {
                "$ref": "#/components/schemas/ElasticityPolicy"
            }
        },
        "scheduled_policies": {
            "type": ["array", "null"],
            "items": {
                "$ref": "#/components/schemas/ScheduledPolicy"
            }
        },
        "vm_template": {
            "type": ["integer", "string"],
            "minimum": 0,
            "pattern": "^[0-9]+$",
            "description": "OneFlow 6 name of template_id."
        },
        "vm_template_contents": {
            "type": ["string", "object"],
            "description": "OneFlow 6: the VM template attributes as OpenNebula template text (KEY = \"value\" lines), converted to template_contents."
        },
        "custom_attrs": {
            "type": "object",
            "additionalProperties": {
                "type": "string"
            },
            "description": "OneFlow 6 name of user_inputs."
        },
        "custom_attrs_values": {
            "type": "object",
            "description": "OneFlow 6 name of user_inputs_values."
        }
    },
    "anyOf": [
        {
            "required": ["type", "template_id"]
        },
        {
            "required": ["vm_template"]
        }
    ]
});

json_schema!(ServiceTemplateBody, {
    "type": "object",
    "description": "A service template. Every problem is reported at once, each in `fields`. Unknown keys are kept.",
    "required": ["name", "roles"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128
        },
        "deployment": {
            "type": ["string", "null"],
            "enum": ["straight", "none", null],
            "default": "none",
            "description": "straight: roles in parent order; none: all at once."
        },
        "description": {
            "type": ["string", "null"],
            "default": ""
        },
        "roles": {
            "type": "array",
            "minItems": 1,
            "items": {
                "$ref": "#/components/schemas/Role"
            }
        },
        "networks": {
            "type": ["object", "null"],
            "additionalProperties": {
                "type": "string"
            },
            "description": "{NET: \"M|network|desc||type:id\"}."
        },
        "networks_values": {
            "type": ["array", "null"],
            "items": {
                "type": "object"
            }
        },
        "user_inputs": {
            "type": ["object", "null"],
            "additionalProperties": {
                "type": "string"
            },
            "description": "{KEY: \"M|type|desc|params|default\"}."
        },
        "user_inputs_values": {
            "type": ["object", "null"]
        },
        "custom_attrs": {
            "type": ["object", "null"],
            "additionalProperties": {
                "type": "string"
            },
            "description": "OneFlow 6 name of user_inputs."
        },
        "ready_status_gate": {
            "type": ["boolean", "null"],
            "default": false
        },
        "automatic_deletion": {
            "type": ["boolean", "null"],
            "default": false
        },
        "on_hold": {
            "type": ["boolean", "null"],
            "default": false
        },
        "shutdown_action": {
            "type": ["string", "null"],
            "enum": ["terminate", "terminate-hard", "shutdown", "shutdown-hard", null],
            "description": "How the role's VMs are terminated on undeploy; shutdown-hard means terminate-hard, shutdown means terminate."
        },
        "registration_time": {
            "type": "integer",
            "readOnly": true,
            "description": "Epoch seconds; set by the server, cannot be changed."
        },
        "custom_attrs_values": {
            "type": ["object", "null"],
            "description": "OneFlow 6 name of user_inputs_values."
        }
    }
});

json_schema!(ListServiceTemplatesResponse, {
    "type": "object",
    "description": "An empty pool is {\"DOCUMENT_POOL\": {}}.",
    "required": ["DOCUMENT_POOL"],
    "properties": {
        "DOCUMENT_POOL": {
            "type": "object",
            "properties": {
                "DOCUMENT": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/ServiceTemplateDocument"
                    }
                }
            }
        }
    }
});

json_schema!(CreateServiceTemplateResponse, {
    "type": "object",
    "required": ["DOCUMENT"],
    "properties": {
        "DOCUMENT": {
            "$ref": "#/components/schemas/ServiceTemplateDocument"
        },
        "warnings": {
            "type": "array",
            "items": {
                "type": "string"
            },
            "description": "Attributes of the template OneFlow's schema does not have (kept), and user input values no user input declares, each as `field: unknown attribute, did you mean …?`. Also sent as one Flotilla-Warning header each. With server.strict_attributes they are a 400 instead."
        }
    }
});

json_schema!(GetServiceTemplateResponse, {
    "type": "object",
    "required": ["DOCUMENT"],
    "properties": {
        "DOCUMENT": {
            "$ref": "#/components/schemas/ServiceTemplateDocument"
        }
    }
});

json_schema!(UpdateServiceTemplateResponse, {
    "type": "object",
    "required": ["DOCUMENT"],
    "properties": {
        "DOCUMENT": {
            "$ref": "#/components/schemas/ServiceTemplateDocument"
        },
        "warnings": {
            "type": "array",
            "items": {
                "type": "string"
            },
            "description": "Attributes of the template OneFlow's schema does not have (kept), and user input values no user input declares, each as `field: unknown attribute, did you mean …?`. Also sent as one Flotilla-Warning header each. With server.strict_attributes they are a 400 instead."
        }
    }
});

// `null` is accepted as no body: OpenNebula's Go client sends it on
// every DELETE without options.
json_schema!(DeleteServiceTemplateRequest, {
    "type": ["object", "null"],
    "properties": {
        "delete_type": {
            "type": ["string", "null"],
            "enum": ["none", "templates", "all", null],
            "default": "none"
        }
    }
});

json_schema!(ServiceTemplateActionRequest, {
    "oneOf": [
        {
            "type": "object",
            "required": ["action"],
            "properties": {
                "action": {
                    "type": "object",
                    "required": ["perform"],
                    "properties": {
                        "perform": {
                            "const": "instantiate"
                        },
                        "params": {
                            "type": ["object", "null"],
                            "properties": {
                                "merge_template": {
                                    "type": "object",
                                    "description": "Merged into the template: objects recursively, arrays concatenated, roles matched by name, networks_values by network; name renames the service."
                                }
                            }
                        }
                    }
                }
            }
        },
        {
            "type": "object",
            "required": ["action"],
            "properties": {
                "action": {
                    "type": "object",
                    "required": ["perform", "params"],
                    "properties": {
                        "perform": {
                            "const": "clone"
                        },
                        "params": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {
                                    "type": "string",
                                    "minLength": 1
                                },
                                "recursive": {
                                    "type": ["string", "boolean", "null"],
                                    "enum": ["none", "templates", "all", true, false, null],
                                    "default": "none",
                                    "description": "templates (or true) also clones the VM templates; all also their images."
                                }
                            }
                        }
                    }
                }
            }
        },
        {
            "type": "object",
            "required": ["action"],
            "properties": {
                "action": {
                    "type": "object",
                    "required": ["perform", "params"],
                    "properties": {
                        "perform": {
                            "const": "update"
                        },
                        "params": {
                            "type": "object",
                            "required": ["template_json"],
                            "properties": {
                                "template_json": {
                                    "type": ["string", "object"],
                                    "description": "The template, as JSON text or an object."
                                },
                                "append": {
                                    "type": ["boolean", "null"],
                                    "default": false,
                                    "description": "true merges top-level keys into the template."
                                }
                            }
                        }
                    }
                }
            }
        },
        {
            "$ref": "#/components/schemas/RenameAction"
        },
        {
            "$ref": "#/components/schemas/ChmodAction"
        },
        {
            "$ref": "#/components/schemas/ChownAction"
        },
        {
            "$ref": "#/components/schemas/ChgrpAction"
        }
    ]
});

json_schema!(ServiceTemplateActionResponse, {
    "oneOf": [
        {
            "type": "object",
            "required": ["DOCUMENT"],
            "properties": {
                "DOCUMENT": {
                    "$ref": "#/components/schemas/ServiceDocument"
                }
            }
        },
        {
            "type": "object",
            "required": ["DOCUMENT"],
            "properties": {
                "DOCUMENT": {
                    "$ref": "#/components/schemas/ServiceTemplateDocument"
                }
            }
        }
    ],
    "properties": {
        "warnings": {
            "type": "array",
            "items": {
                "type": "string"
            },
            "description": "Attributes of the template OneFlow's schema does not have (kept), and user input values no user input declares, each as `field: unknown attribute, did you mean …?`. Also sent as one Flotilla-Warning header each. With server.strict_attributes they are a 400 instead."
        }
    }
});

json_schema!(SimulateRequest, {
    "type": "object",
    "properties": {
        "role": {"type": "string", "description": "The role whose policies are replayed; by default the first with policies."},
        "load": {"type": "string", "description": "constant:V, step:BEFORE:AFTER:AT_S, ramp:FROM:TO:SECONDS, sine:MIN:MAX:PERIOD_S or spike:BASE:PEAK:AT_S:FOR_S (default sine:20:250:3600)."},
        "metric": {"type": "string", "description": "The value the load is reported as (default CPU)."},
        "per_vm": {"type": "boolean", "description": "The load is what each VM reports; by default it is the role's total demand in percent of one VM, shared by its running VMs."},
        "duration_seconds": {"type": "integer", "minimum": 1, "maximum": 604800, "description": "How long to simulate (default a day)."},
        "every_seconds": {"type": "integer", "minimum": 1, "maximum": 86400, "description": "Evaluation cadence (default the server's engine.policy_evaluation_seconds)."},
        "boot_seconds": {"type": "integer", "minimum": 0, "maximum": 86400, "description": "How long a new VM takes to run (default 60)."},
        "target": {"type": "number", "description": "Count the time each VM's value is above and below this."}
    }
});

json_schema!(SimulateResponse, {
    "type": "object",
    "required": ["role", "warnings", "events", "samples", "flaps", "vm_minutes", "evaluations"],
    "properties": {
        "role": {"type": "string"},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "events": {"type": "array", "items": {
            "type": "object",
            "required": ["time_seconds", "from", "to", "policy", "says", "guards"],
            "properties": {
                "time_seconds": {"type": "integer", "minimum": 0},
                "from": {"type": "integer", "minimum": 0},
                "to": {"type": "integer", "minimum": 0},
                "policy": {"type": "string"},
                "says": {"type": "string"},
                "guards": {"type": "array", "items": {"type": "string"}}
            }
        }},
        "samples": {"type": "array", "description": "[seconds, VMs, value each VM reported], at most 2,000.", "items": {"type": "array", "items": {"type": "number"}}},
        "flaps": {"type": "integer", "minimum": 0},
        "vm_minutes": {"type": "number"},
        "above_target_seconds": {"type": "integer", "minimum": 0},
        "below_target_seconds": {"type": "integer", "minimum": 0},
        "evaluations": {"type": "integer", "minimum": 0}
    }
});
