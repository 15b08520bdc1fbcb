"""Rendering a kustomization in Python, for the subset of kustomize that deploy/k8s uses.

A `kubectl` binary is not on every machine that runs the tests, so the manifests are rendered
here: resources (files and directories holding a kustomization), namespace, labels, images
and strategic-merge patches (by file or inline, with or without a target). A field outside
that subset raises `UnsupportedKustomization` naming it, rather than being silently skipped
into a rendering that differs from kustomize's. Where `kubectl` is on the PATH the tests
compare this rendering with `kubectl kustomize`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
# Kinds that live outside any namespace, among those these manifests could hold.
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
# Where kustomize's `labels` with includeTemplates puts the labels, per kind.
TEMPLATE_LABEL_PATHS = {
    "Deployment": ("spec", "template", "metadata", "labels"),
    "StatefulSet": ("spec", "template", "metadata", "labels"),
    "DaemonSet": ("spec", "template", "metadata", "labels"),
    "ReplicaSet": ("spec", "template", "metadata", "labels"),
    "Job": ("spec", "template", "metadata", "labels"),
}
# List fields whose items a strategic merge patch matches by a key instead of replacing the list.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


class UnsupportedKustomization(ValueError):
    """A kustomization uses a feature this renderer does not implement."""


def render(directory: Path) -> list[Obj]:
    """Every object the kustomization in `directory` produces, in kustomize's order of resources."""
    kustomization = _read_kustomization(directory)
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        objects.extend(_load_resource(directory / entry))
    for patch in kustomization.get("patches", []):
        _apply_patch(objects, patch, directory)
    if "namespace" in kustomization:
        _set_namespace(objects, kustomization["namespace"])
    for labels in kustomization.get("labels", []):
        _add_labels(objects, labels)
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    return objects


def load_documents(text: str) -> list[Obj]:
    """The non-empty YAML documents of a multi-document text."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _read_kustomization(directory: Path) -> Obj:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            unknown = set(data) - SUPPORTED_FIELDS
            if unknown:
                raise UnsupportedKustomization(f"{path}: unsupported fields {', '.join(sorted(unknown))}")
            return data
    raise UnsupportedKustomization(f"{directory}: no kustomization file")


def _load_resource(path: Path) -> list[Obj]:
    if path.is_dir():
        return render(path)
    return load_documents(path.read_text())


def _matches(obj: Obj, target: Obj) -> bool:
    unknown = set(target) - {"kind", "name", "labelSelector"}
    if unknown:
        raise UnsupportedKustomization(f"patch target fields {', '.join(sorted(unknown))}")
    if "kind" in target and obj.get("kind") != target["kind"]:
        return False
    if "name" in target and obj["metadata"].get("name") != target["name"]:
        return False
    if "labelSelector" in target:
        labels = obj["metadata"].get("labels") or {}
        for requirement in target["labelSelector"].split(","):
            key, sep, value = requirement.partition("=")
            if not sep or value.startswith("=") or key.endswith("!"):
                raise UnsupportedKustomization(f"label selector {requirement!r}: only key=value is supported")
            if labels.get(key.strip()) != value.strip():
                return False
    return True


def _apply_patch(objects: list[Obj], patch: Obj, directory: Path) -> None:
    unknown = set(patch) - {"path", "patch", "target"}
    if unknown:
        raise UnsupportedKustomization(f"patch fields {', '.join(sorted(unknown))}")
    text = (directory / patch["path"]).read_text() if "path" in patch else patch["patch"]
    documents = load_documents(text)
    if len(documents) != 1 or not isinstance(documents[0], dict) or "kind" not in documents[0]:
        raise UnsupportedKustomization("only strategic merge patches of one object are supported")
    body = documents[0]
    target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
    matched = [obj for obj in objects if _matches(obj, target)]
    if not matched:
        raise UnsupportedKustomization(f"patch {patch} matches no object")
    for obj in matched:
        changes = {key: value for key, value in body.items() if key not in ("apiVersion", "kind")}
        # With a target the patch's own name is a placeholder: the object keeps its name.
        changes["metadata"] = {k: v for k, v in (body.get("metadata") or {}).items() if k != "name"}
        merged = strategic_merge(obj, changes)
        obj.clear()
        obj.update(merged)


def strategic_merge(base: Any, patch: Any, field: str | None = None) -> Any:
    """A strategic merge of `patch` onto `base`: mappings merge, keyed lists merge by their key."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    key = MERGE_KEYS.get(field or "")
    if key and isinstance(base, list) and isinstance(patch, list):
        merged_list = copy.deepcopy(base)
        for item in patch:
            same = [i for i, old in enumerate(merged_list) if old.get(key) == item.get(key)]
            if same:
                merged_list[same[0]] = strategic_merge(merged_list[same[0]], item)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _set_namespace(objects: Iterable[Obj], namespace: str) -> None:
    for obj in objects:
        if obj["kind"] in CLUSTER_KINDS:
            raise UnsupportedKustomization(f"namespace on a {obj['kind']}")
        obj["metadata"]["namespace"] = namespace


def _add_labels(objects: Iterable[Obj], entry: Obj) -> None:
    unknown = set(entry) - {"pairs", "includeSelectors", "includeTemplates"}
    if unknown or entry.get("includeSelectors"):
        raise UnsupportedKustomization("labels: only pairs and includeTemplates are supported")
    pairs = {key: str(value) for key, value in entry["pairs"].items()}
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(pairs)
        path = TEMPLATE_LABEL_PATHS.get(obj["kind"])
        if entry.get("includeTemplates") and path:
            node = obj
            for step in path[:-1]:
                node = node.setdefault(step, {})
            node.setdefault(path[-1], {}).update(pairs)


def _set_image(objects: Iterable[Obj], image: Obj) -> None:
    unknown = set(image) - {"name", "newName", "newTag"}
    if unknown:
        raise UnsupportedKustomization(f"images fields {', '.join(sorted(unknown))}")
    for container in _containers(objects):
        name, tag = _split_image(container["image"])
        if name != image["name"]:
            continue
        new_name = image.get("newName", name)
        new_tag = str(image["newTag"]) if "newTag" in image else tag
        container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _split_image(reference: str) -> tuple[str, str | None]:
    """`registry:5000/app:1.2` -> (`registry:5000/app`, `1.2`); a colon before the last slash is a port."""
    head, _, last = reference.rpartition("/")
    name, sep, tag = last.partition(":")
    full = f"{head}/{name}" if head else name
    return full, (tag if sep else None)


def _containers(value: Any) -> Iterable[Obj]:
    """Every container and init container anywhere under `value`."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key in ("containers", "initContainers") and isinstance(child, list):
                yield from child
            else:
                yield from _containers(child)
    elif isinstance(value, list):
        for child in value:
            yield from _containers(child)
