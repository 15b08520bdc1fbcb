"""Reading the deployment files of the repository, for the tests beside this one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`; `$${...}` is an escaped dollar.
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
_WHOLE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")
_ASSIGNMENT = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")


def load_compose() -> dict[str, Any]:
    """The compose file as plain data, YAML anchors and merge keys resolved."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def variables_used(text: str) -> set[str]:
    """Names of the `${...}` references in a compose file's text."""
    return set(_REFERENCE.findall(text))


def is_reference(value: object) -> bool:
    """True when the value is one `${...}` reference and nothing else."""
    return isinstance(value, str) and bool(_WHOLE_REFERENCE.match(value))


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {name: value for name, value in pairs}
    return {name: "" if value is None else str(value) for name, value in env.items()}


def command_of(service: dict[str, Any]) -> str:
    """A service's command as one string."""
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


@dataclass(frozen=True)
class EnvEntry:
    name: str
    value: str
    comment: str
    commented_out: bool


def read_env_example(text: str) -> dict[str, EnvEntry]:
    """Each variable of a .env file with the comment line just above it.

    A line such as `#NAME=value` counts as a documented variable left unset.
    """
    entries: dict[str, EnvEntry] = {}
    previous = ""
    for line in text.splitlines():
        stripped = line.strip()
        match = _ASSIGNMENT.match(stripped)
        if match:
            hashed, name, value = match.groups()
            comment = previous[1:].strip() if previous.startswith("#") else ""
            entries[name] = EnvEntry(name, value, comment, commented_out=bool(hashed))
        previous = stripped
    return entries


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def read_dockerfile(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions
