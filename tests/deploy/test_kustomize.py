"""The Python rendering of kustomizations that the manifest tests rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.kustomize import UnsupportedKustomization, _split_image, render, strategic_merge


@pytest.mark.parametrize(
    ("base", "patch", "field", "merged"),
    [
        ({"a": 1, "b": {"c": 2}}, {"b": {"d": 3}}, None, {"a": 1, "b": {"c": 2, "d": 3}}),
        ({"a": 1, "b": 2}, {"b": None}, None, {"a": 1}),
        ([1, 2], [3], "args", [3]),
        (
            [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
            "env",
            [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        ),
        (
            [{"name": "worker", "image": "x", "env": [{"name": "A", "value": "1"}]}],
            [{"name": "worker", "env": [{"name": "A", "valueFrom": {"k": "v"}}]}],
            "containers",
            [{"name": "worker", "image": "x", "env": [{"name": "A", "value": "1", "valueFrom": {"k": "v"}}]}],
        ),
    ],
    ids=["maps-merge", "null-removes", "plain-lists-replace", "env-merges-by-name", "nested-containers"],
)
def test_a_strategic_merge_patch_merges_maps_and_keyed_lists(base, patch, field, merged):
    assert strategic_merge(base, patch, field) == merged


def test_a_strategic_merge_leaves_the_base_untouched():
    base = {"a": {"b": 1}}
    strategic_merge(base, {"a": {"b": 2}})
    assert base == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("reference", "split"),
    [
        ("scenario-worker", ("scenario-worker", None)),
        ("scenario-worker:0.1.0", ("scenario-worker", "0.1.0")),
        ("registry:5000/team/scenario-worker", ("registry:5000/team/scenario-worker", None)),
        ("registry:5000/team/scenario-worker:1", ("registry:5000/team/scenario-worker", "1")),
    ],
)
def test_an_image_reference_splits_into_name_and_tag(reference, split):
    assert _split_image(reference) == split


def _kustomization(tmp_path: Path, text: str, resource: str = "") -> Path:
    (tmp_path / "kustomization.yaml").write_text(text)
    (tmp_path / "config.yaml").write_text(
        resource or "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  A: '1'\n"
    )
    return tmp_path


def test_a_field_outside_the_supported_subset_is_named(tmp_path):
    directory = _kustomization(tmp_path, "resources: [config.yaml]\nconfigMapGenerator: []\n")
    with pytest.raises(UnsupportedKustomization, match="configMapGenerator"):
        render(directory)


def test_a_patch_that_matches_nothing_is_refused(tmp_path):
    directory = _kustomization(
        tmp_path,
        "resources: [config.yaml]\npatches:\n  - patch: |\n      kind: ConfigMap\n      metadata: {name: other}\n",
    )
    with pytest.raises(UnsupportedKustomization, match="matches no object"):
        render(directory)


def test_namespace_labels_images_and_patches_are_applied(tmp_path):
    deployment = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, labels: {tier: back}}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: c, image: "scenario-worker", env: [{name: A, value: "1"}]}]
"""
    directory = _kustomization(
        tmp_path,
        """
resources: [config.yaml]
namespace: ns
labels:
  - pairs: {team: t}
    includeTemplates: true
images:
  - {name: scenario-worker, newName: reg/scenario-worker, newTag: "2"}
patches:
  - target: {kind: Deployment, labelSelector: tier=back}
    patch: |
      kind: Deployment
      metadata: {name: placeholder}
      spec: {template: {spec: {containers: [{name: c, env: [{name: A, value: "2"}]}]}}}
""",
        deployment,
    )
    [rendered] = render(directory)
    assert rendered["metadata"] == {"name": "app", "namespace": "ns", "labels": {"tier": "back", "team": "t"}}
    assert rendered["spec"]["selector"] == {"matchLabels": {"app": "x"}}
    assert rendered["spec"]["template"]["metadata"]["labels"] == {"app": "x", "team": "t"}
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg/scenario-worker:2"
    assert container["env"] == [{"name": "A", "value": "2"}]
