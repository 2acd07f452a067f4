//! The bodies of the `/vm_template` and `/image` routes (`api/resources.rs`) as the OpenAPI document describes them.

use super::json_schema;

json_schema!(AttributesDocument, {
    "type": "object",
    "description": "A VM template or image. Every attribute except TEMPLATE is a string.",
    "required": ["ID", "UID", "GID", "UNAME", "GNAME", "NAME", "PERMISSIONS", "TEMPLATE"],
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
        "PERMISSIONS": {
            "$ref": "#/components/schemas/Permissions"
        },
        "TEMPLATE": {
            "type": "object",
            "description": "The attributes, as given."
        }
    }
});

json_schema!(VmTemplateResponse, {
    "type": "object",
    "required": ["VMTEMPLATE"],
    "properties": {
        "VMTEMPLATE": {
            "$ref": "#/components/schemas/AttributesDocument"
        }
    }
});

json_schema!(VmTemplatePool, {
    "type": "object",
    "description": "An empty pool is {\"VMTEMPLATE_POOL\": {}}.",
    "required": ["VMTEMPLATE_POOL"],
    "properties": {
        "VMTEMPLATE_POOL": {
            "type": "object",
            "properties": {
                "VMTEMPLATE": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/AttributesDocument"
                    }
                }
            }
        }
    }
});

json_schema!(ImageResponse, {
    "type": "object",
    "required": ["IMAGE"],
    "properties": {
        "IMAGE": {
            "$ref": "#/components/schemas/AttributesDocument"
        }
    }
});

json_schema!(ImagePool, {
    "type": "object",
    "description": "An empty pool is {\"IMAGE_POOL\": {}}.",
    "required": ["IMAGE_POOL"],
    "properties": {
        "IMAGE_POOL": {
            "type": "object",
            "properties": {
                "IMAGE": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/AttributesDocument"
                    }
                }
            }
        }
    }
});

json_schema!(Disk, {
    "type": "object",
    "properties": {
        "IMAGE_ID": {
            "type": ["integer", "string"],
            "minimum": 0,
            "pattern": "^[0-9]+$"
        }
    }
});

json_schema!(VmTemplateCreate, {
    "type": "object",
    "required": ["name", "template"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$",
            "description": "At most 128 characters, no control characters."
        },
        "template": {
            "type": "object",
            "description": "VM attributes; NIC must be an array of objects.",
            "properties": {
                "CPU": {
                    "type": ["string", "number"]
                },
                "MEMORY": {
                    "type": ["string", "integer"],
                    "description": "MiB."
                },
                "DISK": {
                    "anyOf": [
                        {
                            "type": "array",
                            "items": {
                                "$ref": "#/components/schemas/Disk"
                            }
                        },
                        {
                            "$ref": "#/components/schemas/Disk"
                        }
                    ],
                    "description": "One disk or a list; IMAGE_ID must exist."
                },
                "NIC": {
                    "type": "array",
                    "items": {
                        "type": "object"
                    }
                },
                "CONTEXT": {
                    "type": "object"
                }
            }
        }
    },
    "examples": [
        {
            "name": "small",
            "template": {
                "CPU": "1",
                "MEMORY": "512"
            }
        }
    ]
});

json_schema!(ImageCreate, {
    "type": "object",
    "required": ["name", "template"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$",
            "description": "At most 128 characters, no control characters."
        },
        "template": {
            "type": "object",
            "description": "Image attributes.",
            "properties": {
                "PATH": {
                    "type": "string"
                },
                "SIZE": {
                    "type": ["string", "integer"],
                    "description": "MiB."
                },
                "TYPE": {
                    "type": "string",
                    "examples": ["OS", "DATABLOCK", "CDROM"]
                }
            }
        }
    }
});

json_schema!(AttributesUpdate, {
    "type": "object",
    "required": ["template"],
    "properties": {
        "template": {
            "type": "object"
        },
        "append": {
            "type": ["boolean", "null"],
            "default": false,
            "description": "true merges into the attributes; false replaces them."
        }
    }
});

json_schema!(VmTemplateActionRequest, {
    "oneOf": [
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

json_schema!(ImageActionRequest, {
    "oneOf": [
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
