"""JSON schemas for the KEDA objects deploy/k8s uses, for the fields it uses.

KEDA's CRDs are not among the Kubernetes schemas that kubernetes-validate bundles, so these
stand in for them: written from KEDA's documentation (keda.sh/v1alpha1), closed to unknown
fields so that a misspelled one fails instead of being ignored by the cluster.
"""

from __future__ import annotations

from typing import Any

import jsonschema

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _NAME, "namespace": _NAME, "labels": _STRING_MAP, "annotations": _STRING_MAP},
    "additionalProperties": False,
}
_COUNT = {"type": "integer", "minimum": 0}
# Metadata of the two scalers, as strings (KEDA reads every trigger field as a string).
_REDIS_TRIGGER = {
    "type": "object",
    "required": ["listName", "listLength"],
    "properties": {
        "listName": {"type": "string", "minLength": 1},
        "listLength": {"type": "string", "pattern": r"^[1-9][0-9]*$"},
        "activationListLength": {"type": "string", "pattern": r"^[0-9]+$"},
        "databaseIndex": {"type": "string", "pattern": r"^[0-9]+$"},
        "enableTLS": {"enum": ["true", "false"]},
    },
    "additionalProperties": False,
}
_RABBITMQ_TRIGGER = {
    "type": "object",
    "required": ["queueName", "mode", "value"],
    "properties": {
        "protocol": {"enum": ["amqp", "http", "auto"]},
        "queueName": {"type": "string", "minLength": 1},
        "mode": {"enum": ["QueueLength", "MessageRate"]},
        "value": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
        "activationValue": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
    },
    "additionalProperties": False,
}

SCALED_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": _NAME,
                        "kind": {"type": "string"},
                        "apiVersion": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": _COUNT,
                "minReplicaCount": _COUNT,
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "advanced": {
                    "type": "object",
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                # The HPA's own behavior field (autoscaling/v2), which Kubernetes validates.
                                "behavior": {"type": "object"},
                            },
                            "additionalProperties": False,
                        },
                    },
                    "additionalProperties": False,
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"enum": ["redis", "rabbitmq"]},
                            "name": {"type": "string"},
                            "metadata": {"type": "object"},
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": _NAME, "kind": {"enum": ["TriggerAuthentication"]}},
                                "additionalProperties": False,
                            },
                        },
                        "additionalProperties": False,
                        "allOf": [
                            {
                                "if": {"properties": {"type": {"const": "redis"}}},
                                "then": {"properties": {"metadata": _REDIS_TRIGGER}},
                            },
                            {
                                "if": {"properties": {"type": {"const": "rabbitmq"}}},
                                "then": {"properties": {"metadata": _RABBITMQ_TRIGGER}},
                            },
                        ],
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

TRIGGER_AUTHENTICATION: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["secretTargetRef"],
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "properties": {
                            "parameter": {"enum": ["address", "host", "port", "username", "password"]},
                            "name": _NAME,
                            "key": {"type": "string", "minLength": 1},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

SCHEMAS = {"ScaledObject": SCALED_OBJECT, "TriggerAuthentication": TRIGGER_AUTHENTICATION}


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when a KEDA object breaks its schema."""
    schema = SCHEMAS[obj["kind"]]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(obj)
