//! The bodies of the `/user` and `/group` routes (`api/accounts.rs`) as the OpenAPI document describes them.

use super::json_schema;

json_schema!(User, {
    "type": "object",
    "required": ["ID", "NAME", "GID"],
    "properties": {
        "ID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "NAME": {
            "type": "string"
        },
        "GID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "GNAME": {
            "type": "string"
        }
    }
});

json_schema!(UserResponse, {
    "type": "object",
    "required": ["USER"],
    "properties": {
        "USER": {
            "$ref": "#/components/schemas/User"
        }
    }
});

json_schema!(UserPool, {
    "type": "object",
    "required": ["USER_POOL"],
    "properties": {
        "USER_POOL": {
            "type": "object",
            "properties": {
                "USER": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/User"
                    }
                }
            }
        }
    }
});

json_schema!(Group, {
    "type": "object",
    "required": ["ID", "NAME"],
    "properties": {
        "ID": {
            "type": "string",
            "pattern": "^[0-9]+$"
        },
        "NAME": {
            "type": "string"
        }
    }
});

json_schema!(GroupResponse, {
    "type": "object",
    "required": ["GROUP"],
    "properties": {
        "GROUP": {
            "$ref": "#/components/schemas/Group"
        }
    }
});

json_schema!(GroupPool, {
    "type": "object",
    "required": ["GROUP_POOL"],
    "properties": {
        "GROUP_POOL": {
            "type": "object",
            "properties": {
                "GROUP": {
                    "type": "array",
                    "items": {
                        "$ref": "#/components/schemas/Group"
                    }
                }
            }
        }
    }
});

json_schema!(CreateUserRequest, {
    "type": "object",
    "required": ["name", "password"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1
        },
        "password": {
            "type": "string",
            "minLength": 1
        },
        "group_id": {
            "type": ["integer", "string", "null"],
            "minimum": 0,
            "pattern": "^[0-9]+$",
            "description": "Defaults to the users group (1)."
        }
    }
});

json_schema!(UserActionRequest, {
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
                            "const": "passwd"
                        },
                        "params": {
                            "type": "object",
                            "required": ["password"],
                            "properties": {
                                "password": {
                                    "type": "string",
                                    "minLength": 1
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
        }
    ]
});

json_schema!(CreateGroupRequest, {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1
        }
    }
});
