//! OpenNebula's `DOCUMENT` shapes the routes answer with (`api/documents.rs` builds them), as the OpenAPI document describes them.

use super::json_schema;

json_schema!(PermissionsSchema as "Permissions", {
    "type": "object",
    "description": "OpenNebula permission bits (Use, Manage, Admin for owner, group, others), each \"0\" or \"1\".",
    "required": ["OWNER_U", "OWNER_M", "OWNER_A", "GROUP_U", "GROUP_M", "GROUP_A", "OTHER_U", "OTHER_M", "OTHER_A"],
    "properties": {
        "OWNER_U": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OWNER_M": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OWNER_A": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "GROUP_U": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "GROUP_M": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "GROUP_A": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OTHER_U": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OTHER_M": {
            "type": "string",
            "enum": ["0", "1"]
        },
        "OTHER_A": {
            "type": "string",
            "enum": ["0", "1"]
        }
    }
});

json_schema!(Document, {
    "type": "object",
    "description": "A OneFlow document. Every attribute except TEMPLATE.BODY is a string.",
    "required": ["ID", "UID", "GID", "UNAME", "GNAME", "NAME", "TYPE", "PERMISSIONS", "TEMPLATE"],
    "properties": {
        "ID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "UID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "GID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "UNAME": {
            "type": "string"
        },
        "GNAME": {
            "type": "string"
        },
        "NAME": {
            "type": "string"
        },
        "TYPE": {
            "type": "string",
            "enum": ["100", "101"],
            "description": "\"100\" service, \"101\" service template."
        },
        "PERMISSIONS": {
            "$ref": "#/components/schemas/Permissions"
        },
        "TEMPLATE": {
            "type": "object",
            "required": ["BODY"],
            "properties": {
                "BODY": {
                    "anyOf": [
                        {
                            "$ref": "#/components/schemas/ServiceBody"
                        },
                        {
                            "$ref": "#/components/schemas/ServiceTemplateBody"
                        }
                    ],
                    "description": "ServiceBody when TYPE is \"100\", ServiceTemplateBody when \"101\"."
                }
            }
        }
    }
});

json_schema!(ServiceTemplateDocument, {
    "allOf": [
        {
            "$ref": "#/components/schemas/Document"
        },
        {
            "type": "object",
            "properties": {
                "TYPE": {
                    "const": "101"
                },
                "TEMPLATE": {
                    "type": "object",
                    "required": ["BODY"],
                    "properties": {
                        "BODY": {
                            "$ref": "#/components/schemas/ServiceTemplateBody"
                        }
                    }
                }
            }
        }
    ]
});

json_schema!(ServiceDocument, {
    "allOf": [
        {
            "$ref": "#/components/schemas/Document"
        },
        {
            "type": "object",
            "properties": {
                "TYPE": {
                    "const": "100"
                },
                "TEMPLATE": {
                    "type": "object",
                    "required": ["BODY"],
                    "properties": {
                        "BODY": {
                            "$ref": "#/components/schemas/ServiceBody"
                        }
                    }
                }
            }
        }
    ]
});

json_schema!(DocumentResponse, {
    "type": "object",
    "required": ["DOCUMENT"],
    "properties": {
        "DOCUMENT": {
            "$ref": "#/components/schemas/Document"
        }
    }
});

json_schema!(DocumentPool, {
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
                        "$ref": "#/components/schemas/Document"
                    }
                }
            }
        }
    }
});

json_schema!(VmNode, {
    "type": "object",
    "required": ["deploy_id", "vm_info"],
    "properties": {
        "deploy_id": {
            "type": ["integer", "string"],
            "description": "The VM id."
        },
        "vm_info": {
            "type": "object",
            "required": ["VM"],
            "properties": {
                "VM": {
                    "type": "object",
                    "required": ["ID", "UID", "GID", "UNAME", "GNAME", "NAME"],
                    "properties": {
                        "ID": {
                            "type": "string"
                        },
                        "UID": {
                            "type": "string",
                            "pattern": "^[0-9]+$"
                        },
                        "GID": {
                            "type": "string",
                            "pattern": "^[0-9]+$"
                        },
                        "UNAME": {
                            "type": "string"
                        },
                        "GNAME": {
                            "type": "string"
                        },
                        "NAME": {
                            "type": "string"
                        },
                        "STATE": {
                            "type": "string",
                            "enum": ["PENDING", "HOLD", "RUNNING", "POWEROFF", "SUSPENDED", "STOPPED", "UNDEPLOYED", "UNKNOWN", "FAILED", "DONE"],
                            "description": "Last observed VM state, once polled."
                        },
                        "HISTORY_RECORDS": {
                            "type": "object",
                            "description": "Present when the VM was placed on a host: HISTORY.HOSTNAME and HISTORY.HID name it.",
                            "properties": {
                                "HISTORY": {
                                    "type": "object",
                                    "properties": {
                                        "SEQ": {"type": "string"},
                                        "HOSTNAME": {"type": "string"},
                                        "HID": {"type": "string"}
                                    }
                                }
                            }
                        },
                        "TEMPLATE": {
                            "type": "object",
                            "description": "Present when the VM holds addresses of Flotilla's networks.",
                            "properties": {
                                "NIC": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["NIC_ID", "IP", "NETWORK_ID"],
                                        "properties": {
                                            "NIC_ID": {
                                                "type": "string"
                                            },
                                            "IP": {
                                                "type": "string"
                                            },
                                            "NETWORK_ID": {
                                                "type": "string"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
        "ready": {
            "type": "boolean",
            "description": "The VM reported READY=YES through OneGate: what a service with ready_status_gate waits for before the role counts as running."
        },
        "reason": {
            "type": "string",
            "description": "Why the VM is as it is (a refused action, a failure)."
        }
    }
});

json_schema!(ScheduledAction, {
    "type": "object",
    "description": "A pending VM action of a batched role action.",
    "required": ["id", "action", "vm_id", "time"],
    "properties": {
        "id": {
            "type": "integer",
            "minimum": 0,
            "description": "The sched_id to cancel it with."
        },
        "action": {
            "type": "string",
            "enum": ["terminate", "terminate-hard", "undeploy", "undeploy-hard", "hold", "release", "stop", "suspend", "resume", "reboot", "reboot-hard", "poweroff", "poweroff-hard", "snapshot-create", "snapshot-revert", "snapshot-delete", "disk-snapshot-create", "disk-snapshot-revert", "disk-snapshot-delete"]
        },
        "vm_id": {
            "type": "string"
        },
        "time": {
            "type": "integer",
            "description": "When it runs, epoch seconds."
        }
    }
});

json_schema!(ServiceRole, {
    "allOf": [
        {
            "$ref": "#/components/schemas/Role"
        },
        {
            "type": "object",
            "required": ["state", "cardinality", "last_vmname", "on_hold", "nodes"],
            "properties": {
                "state": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 11,
                    "description": "Role state: 0 PENDING, 1 DEPLOYING, 2 RUNNING, 3 UNDEPLOYING, 4 WARNING, 5 DONE, 6 FAILED_UNDEPLOYING, 7 FAILED_DEPLOYING, 8 SCALING, 9 FAILED_SCALING, 10 COOLDOWN, 11 HOLD"
                },
                "cardinality": {
                    "type": "integer",
                    "minimum": 0
                },
                "last_vmname": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Number the last VM name used."
                },
                "on_hold": {
                    "type": "boolean"
                },
                "cooldown": {
                    "type": "integer",
                    "minimum": 0
                },
                "nodes": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/VmNode"
                    }
                },
                "pending_vms": {
                    "type": "array",
                    "description": "VMs not created yet because no host can take them, each with the reason.",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "reason": {"type": ["string", "null"]}
                        }
                    }
                },
                "scheduled_actions": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/ScheduledAction"
                    }
                }
            }
        }
    ],
    "description": "A role of a running service."
});

json_schema!(ServiceBody, {
    "allOf": [
        {
            "$ref": "#/components/schemas/ServiceTemplateBody"
        },
        {
            "type": "object",
            "required": ["state", "start_time", "log", "roles"],
            "properties": {
                "state": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 15,
                    "description": "Service state: 0 PENDING, 1 DEPLOYING, 2 RUNNING, 3 UNDEPLOYING, 4 WARNING, 5 DONE, 6 FAILED_UNDEPLOYING, 7 FAILED_DEPLOYING, 8 SCALING, 9 FAILED_SCALING, 10 COOLDOWN, 11 DEPLOYING_NETS, 12 UNDEPLOYING_NETS, 13 FAILED_DEPLOYING_NETS, 14 FAILED_UNDEPLOYING_NETS, 15 HOLD"
                },
                "start_time": {
                    "type": "integer",
                    "description": "Epoch seconds."
                },
                "log": {
                    "type": "array",
                    "description": "The last 50 entries.",
                    "items": {
                        "type": "object",
                        "required": ["timestamp", "severity", "message"],
                        "properties": {
                            "timestamp": {
                                "type": "integer",
                                "description": "Epoch seconds."
                            },
                            "severity": {
                                "type": "string",
                                "enum": ["I", "E"]
                            },
                            "message": {
                                "type": "string"
                            }
                        }
                    }
                },
                "roles": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/ServiceRole"
                    }
                }
            }
        }
    ],
    "description": "A service: its template body plus runtime state."
});
