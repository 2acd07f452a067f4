//! The bodies of bodies several routes share, and the system routes (`api/mod.rs`) as the OpenAPI document describes them.

use super::json_schema;

json_schema!(ActionRequest, {
    "type": "object",
    "description": "Generic action request; params defaults to {}.",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform"],
            "properties": {
                "perform": {
                    "type": "string"
                },
                "params": {
                    "type": ["object", "null"],
                    "default": {}
                }
            }
        }
    }
});

json_schema!(RenameAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "rename"
                },
                "params": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 128,
                            "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$",
                            "description": "At most 128 characters, no control characters."
                        }
                    }
                }
            }
        }
    }
});

json_schema!(ChmodAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "chmod"
                },
                "params": {
                    "type": "object",
                    "required": ["octet"],
                    "properties": {
                        "octet": {
                            "type": "string",
                            "pattern": "^[0-7]{3}$",
                            "examples": ["640"]
                        }
                    }
                }
            }
        }
    }
});

json_schema!(ChownAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "chown"
                },
                "params": {
                    "type": "object",
                    "required": ["owner_id"],
                    "properties": {
                        "owner_id": {
                            "type": ["integer", "string"],
                            "minimum": 0,
                            "pattern": "^[0-9]+$",
                            "description": "An id, as a number or a string of digits."
                        },
                        "group_id": {
                            "type": ["integer", "string", "null"],
                            "minimum": -1,
                            "pattern": "^(-1|[0-9]+)$",
                            "description": "An id, as a number or a string of digits; absent or -1 keeps the group."
                        }
                    }
                }
            }
        }
    },
    "description": "Giving to another user needs the oneadmin group; group_id absent keeps the group."
});

json_schema!(ChgrpAction, {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {
            "type": "object",
            "required": ["perform", "params"],
            "properties": {
                "perform": {
                    "const": "chgrp"
                },
                "params": {
                    "type": "object",
                    "required": ["group_id"],
                    "properties": {
                        "group_id": {
                            "type": ["integer", "string"],
                            "minimum": 0,
                            "pattern": "^[0-9]+$",
                            "description": "An id, as a number or a string of digits."
                        }
                    }
                }
            }
        }
    }
});

json_schema!(GetOpenApiResponse, {
    "type": "object"
});

json_schema!(ListPluginsResponse, {
    "type": "object",
    "required": ["plugins"],
    "properties": {
        "plugins": {
            "type": "array",
            "items": {
                "$ref": "#/components/schemas/PluginSummary"
            }
        }
    }
});
