//! The bodies of the `/service` routes (`api/services.rs`) as the OpenAPI document describes them.

use super::json_schema;

json_schema!(BatchParams, {
    "type": "object",
    "description": "Defaults period 60, number 1 only when both are absent; 0 in either means all VMs at once. Numbers may be strings of digits.",
    "properties": {
        "period": {
            "type": ["integer", "string", "null"],
            "minimum": 0,
            "maximum": 31536000,
            "pattern": "^[0-9]+$",
            "description": "Seconds between batches (a whole number, or a string of digits as some OneFlow clients send), at most a year."
        },
        "number": {
            "type": ["integer", "string", "null"],
            "minimum": 0,
            "maximum": 1000000,
            "pattern": "^[0-9]+$",
            "description": "VMs per batch (a whole number, or a string of digits), at most 1,000,000."
        },
        "args": {
            "type": ["string", "object", "null"],
            "additionalProperties": {
                "type": ["string", "number", "boolean"]
            },
            "description": "Arguments of the VM action: OneFlow's comma-separated string in OpenNebula's order (snapshot-*: name; disk-snapshot-*: disk_id,name), or an object of named values passed to the driver as they are. More values than the action takes is a 400."
        }
    }
});

json_schema!(ListServicesResponse, {
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
                        "$ref": "#/components/schemas/ServiceDocument"
                    }
                }
            }
        }
    }
});

json_schema!(GetServiceResponse, {
    "type": "object",
    "required": ["DOCUMENT"],
    "properties": {
        "DOCUMENT": {
            "$ref": "#/components/schemas/ServiceDocument"
        }
    }
});

json_schema!(UpdateServiceRequest, {
    "oneOf": [
        {
            "$ref": "#/components/schemas/ServiceTemplateBody"
        },
        {
            "type": "object",
            "required": ["append", "template"],
            "properties": {
                "append": {
                    "const": true
                },
                "template": {
                    "type": ["string", "object"],
                    "description": "The top-level keys to merge, as JSON text or an object."
                }
            }
        }
    ]
});

json_schema!(ServiceActionRequest, {
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
                            "const": "recover"
                        },
                        "params": {
                            "type": ["object", "null"],
                            "properties": {
                                "delete": {
                                    "type": ["boolean", "null"],
                                    "default": false
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
                    "required": ["perform"],
                    "properties": {
                        "perform": {
                            "const": "release"
                        }
                    }
                }
            },
            "description": "Release the roles in HOLD."
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
        },
        {
            "type": "object",
            "required": ["action"],
            "description": "A VM action on every role's VMs.",
            "properties": {
                "action": {
                    "type": "object",
                    "required": ["perform"],
                    "properties": {
                        "perform": {
                            "type": "string",
                            "enum": ["terminate", "terminate-hard", "undeploy", "undeploy-hard", "hold", "stop", "suspend", "resume", "reboot", "reboot-hard", "poweroff", "poweroff-hard", "snapshot-create", "snapshot-revert", "snapshot-delete", "disk-snapshot-create", "disk-snapshot-revert", "disk-snapshot-delete"]
                        },
                        "params": {
                            "oneOf": [{"$ref": "#/components/schemas/BatchParams"}, {"type": "null"}]
                        }
                    }
                }
            }
        }
    ]
});

json_schema!(ScaleServiceRequest, {
    "type": "object",
    "required": ["role_name", "cardinality"],
    "properties": {
        "role_name": {
            "type": "string"
        },
        "cardinality": {
            "type": ["integer", "string"],
            "minimum": 0,
            "pattern": "^[0-9]+$"
        },
        "force": {
            "type": ["boolean", "null"],
            "default": false
        }
    }
});

json_schema!(ServiceRoleActionRequest, {
    "oneOf": [
        {
            "type": "object",
            "required": ["action"],
            "properties": {
                "action": {
                    "type": "object",
                    "required": ["perform", "params"],
                    "properties": {
                        "perform": {
                            "const": "add_role"
                        },
                        "params": {
                            "type": "object",
                            "required": ["role"],
                            "properties": {
                                "role": {
                                    "oneOf": [
                                        {
                                            "$ref": "#/components/schemas/Role"
                                        },
                                        {
                                            "type": "string",
                                            "description": "The role as JSON text."
                                        }
                                    ]
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
                            "const": "remove_role"
                        },
                        "params": {
                            "type": "object",
                            "required": ["role"],
                            "properties": {
                                "role": {
                                    "type": "string",
                                    "description": "Role name."
                                }
                            }
                        }
                    }
                }
            }
        }
    ]
});

json_schema!(RoleVmActionRequest, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform"],
            "properties": {
                "perform": {
                    "type": "string",
                    "enum": ["terminate", "terminate-hard", "undeploy", "undeploy-hard", "hold", "release", "stop", "suspend", "resume", "reboot", "reboot-hard", "poweroff", "poweroff-hard", "snapshot-create", "snapshot-revert", "snapshot-delete", "disk-snapshot-create", "disk-snapshot-revert", "disk-snapshot-delete"]
                },
                "params": {
                    "oneOf": [{"$ref": "#/components/schemas/BatchParams"}, {"type": "null"}]
                }
            }
        }
    }
});
