from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import worker
from worker.batches.manifest import (
    MAX_ITEMS,
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestError,
    ManifestItem,
    Problem,
    load_manifest,
    parse_manifest,
)
from worker.generation import GenerationRequest

MANIFESTS = Path(__file__).parent / "manifests"
EXAMPLES = Path(worker.__file__).parent / "examples"


def problems_of(text: str, kind: str = "yaml", **options) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, kind=kind, **options)
    return caught.value.problems


def one_item(**fields) -> str:
    """A YAML manifest of one item whose keys start on line 3."""
    lines = ["batch: b", "items:", "  - name: a", "    prompt: p"]
    lines += [f"    {key}: {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


# --- valid manifests -------------------------------------------------------------------


def test_a_valid_yaml_manifest_applies_the_defaults_and_lets_each_items_values_win():
    manifest = load_manifest(MANIFESTS / "valid.yaml")
    sword, knight, potion = manifest.items

    assert manifest.name == "fantasy-item-icons"
    assert manifest.source == str(MANIFESTS / "valid.yaml")
    assert sword == ManifestItem(
        name="sword-iron",
        request=GenerationRequest(
            prompt="an iron sword icon, game item, flat shading",
            model_id="flux.1-dev",
            width=512,
            height=512,
            num_samples=1,
            guidance=3.5,
            num_inference_steps=28,
            negative_prompt="blurry, text",
            seed=42,
        ),
        tags=("weapon", "common"),
        line=11,
    )
    assert (knight.request.model_id, knight.request.width, knight.request.height) == ("flux.1-schnell", 512, 768)
    assert (knight.request.num_samples, knight.request.num_inference_steps) == (2, 12)
    assert knight.request.negative_prompt == ""
    assert knight.line == 15
    assert (potion.name, potion.tags, potion.request.seed) == ("potion.red_v2", (), None)


def test_a_csv_manifest_is_named_after_its_file_and_reads_numbers_tags_and_quoted_lines():
    manifest = load_manifest(MANIFESTS / "valid.csv")
    ring, scroll = manifest.items

    assert manifest.name == "valid"
    assert ring.tags == ("jewellery", "common")
    assert (ring.request.width, ring.request.seed, ring.request.num_samples) == (512, "7", 1)
    assert ring.line == 2
    assert scroll.request.prompt == "a scroll\ntied with string"
    # No width: the model's own default applies when the item is sent.
    assert (scroll.request.num_samples, scroll.request.guidance, scroll.request.width) == (2, 4.5, None)
    assert scroll.line == 3


def test_a_batch_name_given_by_the_caller_wins_over_the_files_own():
    assert load_manifest(MANIFESTS / "valid.yaml", batch_name="renamed").name == "renamed"
    assert load_manifest(MANIFESTS / "valid.csv", batch_name="rings").name == "rings"


def test_defaults_given_by_the_caller_win_over_the_files_defaults_but_not_over_an_items_values():
    manifest = load_manifest(MANIFESTS / "valid.yaml", defaults={"width": 768, "samples": 3})
    sword, knight, _ = manifest.items
    assert (sword.request.width, sword.request.num_samples) == (768, 3)
    assert knight.request.num_samples == 2


def test_csv_rows_take_the_callers_defaults():
    text = "name,prompt\nring,a ring\n"
    manifest = parse_manifest(text, kind="csv", batch_name="rings", defaults={"model": "flux.1-schnell", "steps": 4})
    assert (manifest.items[0].request.model_id, manifest.items[0].request.num_inference_steps) == ("flux.1-schnell", 4)


def test_a_yaml_merge_key_brings_shared_values_into_an_item_without_counting_as_a_repeat():
    text = (
        "batch: b\nshared: &big {width: 1024, seed: 1}\nitems:\n  - name: a\n    prompt: p\n    <<: *big\n    seed: 2\n"
    )
    # `shared` is not a manifest key, so this text is refused; the item itself must not be.
    assert [(p.field, p.line) for p in problems_of(text)] == [("shared", 2)]
    text = "batch: b\nitems:\n  - &first {name: a, prompt: p, width: 768}\n  - <<: *first\n    name: b\n"
    second = parse_manifest(text, kind="yaml").items[1]
    assert (second.name, second.request.width) == ("b", 768)


def test_a_byte_order_mark_from_a_spreadsheet_export_is_ignored(tmp_path):
    path = tmp_path / "icons.csv"
    path.write_text("name,prompt\nring,a ring\n", encoding="utf-8-sig")
    assert load_manifest(path).items[0].name == "ring"


@pytest.mark.parametrize("name", ["game-icons.yaml", "game-icons.csv"])
def test_the_shipped_example_loads_cleanly_at_512_pixels(name):
    manifest = load_manifest(EXAMPLES / name)
    assert manifest.name == "game-icons"
    assert len(manifest.items) >= 5
    assert all(item.request.width == 512 for item in manifest.items)
    assert len({item.key(manifest.name) for item in manifest.items}) == len(manifest.items)


# --- item keys -------------------------------------------------------------------------


def key_of(text: str, batch: str = "b") -> str:
    return parse_manifest(text, kind="yaml").items[0].key(batch)


def test_an_item_key_is_32_hex_characters_and_the_same_for_the_same_inputs():
    first, again = key_of(one_item(seed=1)), key_of("# a comment\n" + one_item(seed=1))
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first == again


@pytest.mark.parametrize(
    "changed",
    [
        one_item(seed=2),
        one_item(seed=1, width=512),
        one_item(seed=1, model="flux.1-schnell"),
        one_item(seed=1, guidance=3.5),
        one_item(seed=1, negative_prompt="blurry"),
        one_item(seed=1).replace("prompt: p", "prompt: q"),
        one_item(seed=1).replace("name: a", "name: a2"),
    ],
)
def test_an_item_key_changes_when_anything_sent_to_scenario_or_the_name_changes(changed):
    assert key_of(changed) != key_of(one_item(seed=1))


def test_an_item_key_changes_with_the_batch_name():
    assert key_of(one_item(seed=1), batch="b") != key_of(one_item(seed=1), batch="c")


def test_an_item_key_does_not_change_when_only_its_tags_change():
    assert key_of(one_item(seed=1, tags=["weapon"])) == key_of(one_item(seed=1, tags=["armour", "rare"]))


def test_guidance_written_as_a_whole_number_gives_the_same_key_as_its_decimal_form():
    assert key_of(one_item(guidance=3)) == key_of(one_item(guidance=3.0))


# --- problems, one kind at a time ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "item", "field", "message"),
    [
        ("batch: b\nitems: [\n", 3, None, None, "not valid YAML at column 1"),
        ("batch: b\n  items: x\n", 2, None, None, "not valid YAML"),
        ("", None, None, None, "the manifest is empty"),
        ("- a\n- b\n", None, None, None, "the manifest is a list"),
        ("items:\n  - {name: a, prompt: p}\n", None, None, "batch", "is missing"),
        ("batch: Game Icons\nitems:\n  - {name: a, prompt: p}\n", 1, None, "batch", "'Game Icons' is not allowed"),
        ("batch: b\n", None, None, "items", "is missing"),
        ("batch: b\nitems: []\n", 2, None, "items", "is empty"),
        ("batch: b\nitems:\n  name: a\n", 2, None, "items", "must be a list"),
        ("batch: b\nitems:\n  - {name: a, prompt: p}\n  - just a prompt\n", 4, None, None, "item 2 must be a mapping"),
        ("batch: b\nitems:\n  - prompt: p\n", 3, None, "name", "is missing"),
        ("batch: b\nitems:\n  - name:\n    prompt: p\n", 3, None, "name", "is missing"),
        ("batch: b\nitems:\n  - name: a\n", 3, "a", "prompt", "is missing"),
        ("batch: b\nitems:\n  - name: a\n    prompt: ''\n", 4, "a", "prompt", "must be a non-empty string"),
        (one_item(sed=3), 5, "a", "sed", "did you mean 'seed'?"),
        ("batch: b\nitems:\n  - {name: a, prompt: p}\nitem: []\n", 4, None, "item", "did you mean 'items'?"),
        (
            "batch: b\ndefaults:\n  heigth: 512\nitems:\n  - {name: a, prompt: p}\n",
            3,
            None,
            "defaults.heigth",
            "did you mean 'height'?",
        ),
        (
            "batch: b\ndefaults:\n  prompt: x\nitems:\n  - {name: a, prompt: p}\n",
            3,
            None,
            "defaults.prompt",
            "belongs on each item",
        ),
        ("batch: b\ndefaults: 512\nitems:\n  - {name: a, prompt: p}\n", 2, None, "defaults", "must be a mapping"),
        (
            "batch: b\ndefaults:\n  width: 500\nitems:\n  - {name: a, prompt: p}\n",
            3,
            None,
            "defaults.width",
            "500 px is not allowed",
        ),
        (one_item(samples=9), 5, "a", "samples", "from 1 to 8, got 9"),
        (one_item(steps=0), 5, "a", "steps", "from 1 to 150, got 0"),
        (one_item(width=1001), 5, "a", "width", "1001 px is not allowed"),
        (one_item(height="tall"), 5, "a", "height", "whole number of pixels"),
        (one_item(guidance=25), 5, "a", "guidance", "from 0 to 20"),
        (one_item(seed=-1), 5, "a", "seed", "got -1"),
        (one_item(model=""), 5, "a", "model", "non-empty string"),
        (one_item(width=[512, 768]), 5, "a", "width", "must be a single value, not a list"),
        (one_item(tags="weapon"), 5, "a", "tags", "must be a list of strings"),
        (one_item(tags=["weapon", 3]), 5, "a", "tags", "tag 2 must be a non-empty string"),
        (one_item(seed=1) + "    seed: 2\n", 6, "a", "seed", "is given twice (also on line 5)"),
        ("batch: b\nitems:\n  - name: 7\n    prompt: p\n", 3, None, "name", "must be text, not a number"),
    ],
)
def test_each_kind_of_problem_is_reported_with_its_line_item_and_field(text, line, item, field, message):
    [problem] = problems_of(text)
    assert (problem.line, problem.item, problem.field) == (line, item, field)
    assert message in problem.message


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "..",
        "a..b",
        "/etc/x",
        "a/b",
        "a\\b",
        "C:\\x",
        "con",
        "CON",
        "nul.png",
        "lpt1",
        "com9.txt",
        "has space",
        "tab\tname",
        "café",
        "-dash-first",
        ".hidden",
        "trailing.",
        "x" * 101,
        "",
        "a:b",
        "a*b",
    ],
)
def test_a_name_that_is_not_a_plain_portable_file_name_is_refused(name):
    [problem] = problems_of(f"batch: b\nitems:\n  - name: {json.dumps(name)}\n    prompt: p\n")
    assert (problem.line, problem.field) == (3, "name")


@pytest.mark.parametrize("name", ["a", "sword-iron", "Sword_2.v1", "7", "x" * 100, "console", "con-table", "auxiliary"])
def test_a_plain_file_name_is_accepted(name):
    assert parse_manifest(f"batch: b\nitems:\n  - name: '{name}'\n    prompt: p\n", kind="yaml").items[0].name == name


def test_a_duplicate_name_is_reported_on_its_second_line_naming_both_lines():
    text = "batch: b\nitems:\n  - {name: a, prompt: p}\n  - {name: b, prompt: p}\n  - {name: a, prompt: q}\n"
    [problem] = problems_of(text)
    assert (problem.line, problem.item, problem.field) == (5, "a", "name")
    assert "line 3" in problem.message and "line 5" in problem.message


def test_a_duplicate_name_on_the_same_line_is_still_reported():
    [problem] = problems_of("batch: b\nitems: [{name: a, prompt: p}, {name: a, prompt: q}]\n")
    assert (problem.line, problem.item, problem.field) == (2, "a", "name")


def test_names_differing_only_in_case_are_refused_as_they_would_share_a_file_on_some_systems():
    [problem] = problems_of("batch: b\nitems:\n  - {name: Sword, prompt: p}\n  - {name: sword, prompt: p}\n")
    assert (problem.line, problem.item, problem.field) == (4, "sword", "name")
    assert "'Sword' (line 3)" in problem.message


def test_more_than_the_item_limit_is_refused_as_a_whole():
    text = "name,prompt\n" + "".join(f"i{n},p\n" for n in range(MAX_ITEMS + 1))
    [problem] = problems_of(text, kind="csv", batch_name="big")
    assert problem.field == "items"
    assert f"at most {MAX_ITEMS}" in problem.message


def test_a_manifest_larger_than_the_size_limit_is_refused_before_parsing():
    [problem] = problems_of("#" * (MAX_MANIFEST_BYTES + 1))
    assert "larger than" in problem.message


def test_a_manifest_with_several_problems_reports_all_of_them_in_one_error():
    with pytest.raises(ManifestError) as caught:
        load_manifest(MANIFESTS / "several-problems.yaml")
    found = [(p.line, p.item, p.field) for p in caught.value.problems]
    assert found == [
        (1, None, "batch"),
        (3, None, "defaults.width"),
        (4, None, "defaults.sampels"),
        (8, "sword", "tags"),
        (9, "../escape", "name"),
        (11, "sword", "name"),
        (13, "sword", "samples"),
        (14, "sword", "sede"),
        (15, None, "name"),
    ]
    lines = str(caught.value).splitlines()
    assert len(lines) == len(found)
    source = str(MANIFESTS / "several-problems.yaml")
    assert (
        lines[3] == f"{source}:8: item 'sword': tags: must be a list of strings such as [weapon, common], not a string"
    )
    assert lines[5].startswith(f"{source}:11: item 'sword': name: is used twice, on line 6 and line 11")


# --- CSV problems ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "item", "field", "message"),
    [
        ("", None, None, None, "the file is empty"),
        ("name,prompt\n", 1, None, "items", "is empty"),
        ("name,prompt,sampels\na,p,1\n", 1, None, "sampels", "did you mean 'samples'?"),
        ("name,prompt,seed,seed\na,p,1,2\n", 1, None, "seed", "appears more than once"),
        ("name,width\na,512\n", 1, None, None, "no 'prompt' column"),
        ("\n\nname,prompt\na,p\nb,p,extra\n", 5, "b", None, "1 more cell(s)"),
        ("name,prompt,width\na,p,wide\n", 2, "a", "width", "whole number of pixels, got 'wide'"),
        ("name,prompt,samples\na,p,1.5\n", 2, "a", "samples", "got 1.5"),
        ('name,prompt\na,"p\nstill p"\n../b,p\n', 4, "../b", "name", "not a path"),
        ('name,prompt\na,"never closed\n', 2, None, None, "not valid CSV"),
    ],
)
def test_each_kind_of_csv_problem_is_reported_with_its_row_line(text, line, item, field, message):
    [problem] = problems_of(text, kind="csv", batch_name="b")
    assert (problem.line, problem.item, problem.field) == (line, item, field)
    assert message in problem.message


def test_a_csv_file_name_that_is_not_a_batch_name_asks_for_one(tmp_path):
    path = tmp_path / "Game Icons.csv"
    path.write_text("name,prompt\na,p\n")
    with pytest.raises(ManifestError, match=r"batch: 'Game Icons' \(from the file name\) is not allowed"):
        load_manifest(path)
    assert load_manifest(path, batch_name="game-icons").name == "game-icons"


def test_csv_rows_with_the_same_name_are_reported_with_both_row_lines():
    [problem] = problems_of("name,prompt\na,p\nb,p\na,q\n", kind="csv", batch_name="b")
    assert (problem.line, problem.item, problem.field) == (4, "a", "name")
    assert "line 2 and line 4" in problem.message


# --- files and the error itself --------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("icons.json", b"{}", "unknown manifest type '.json'"),
        ("icons.yaml", b"batch: b\nitems:\n  - {name: a, prompt: \xff}\n", "is not UTF-8 text"),
        ("missing.yaml", None, "cannot be read"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_manifest_is_refused_with_one_problem(tmp_path, file_name, content, message):
    path = tmp_path / file_name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("problem", "rendered"),
    [
        (Problem(3, "a", "seed", "bad"), "m.yaml:3: item 'a': seed: bad"),
        (Problem(None, None, "batch", "is missing"), "m.yaml: batch: is missing"),
        (Problem(7, None, None, "not valid YAML"), "m.yaml:7: not valid YAML"),
        (Problem(None, "a", None, "odd"), "m.yaml: item 'a': odd"),
    ],
)
def test_a_problem_is_rendered_leaving_out_what_is_unknown(problem, rendered):
    assert problem.render("m.yaml") == rendered


def test_a_manifest_error_is_a_value_error_that_lists_its_problems_in_line_order():
    error = ManifestError([Problem(9, None, None, "late"), Problem(2, None, None, "early")], "m.yaml")
    assert isinstance(error, ValueError)
    assert str(error) == "m.yaml:2: early\nm.yaml:9: late"


def test_a_manifest_keeps_its_items_in_file_order():
    manifest = parse_manifest("batch: b\nitems:\n  - {name: z, prompt: p}\n  - {name: a, prompt: p}\n", kind="yaml")
    assert isinstance(manifest, Manifest)
    assert [item.name for item in manifest.items] == ["z", "a"]
    assert manifest.source == "<manifest>"


def test_defaults_given_by_the_caller_are_checked_like_the_files_own():
    problems = problems_of(one_item(), defaults={"sampels": 2, "width": 7})
    assert [(p.line, p.field) for p in problems] == [(None, "defaults.sampels"), (None, "defaults.width")]
    assert "did you mean 'samples'?" in problems[0].message


def test_items_whose_image_files_would_share_a_name_are_refused():
    text = (
        "batch: clash\n"
        "items:\n"
        "  - name: gem\n"
        "    prompt: a gem\n"
        "    samples: 2\n"
        "  - name: gem_1\n"
        "    prompt: another gem\n"
    )
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, kind="yaml", source="clash.yaml")
    [problem] = caught.value.problems
    assert (problem.line, problem.item, problem.field) == (6, "gem_1", "name")
    assert "gem_1.png" in problem.message and "'gem'" in problem.message


# --- job options per item ----------------------------------------------------------------


def test_an_items_priority_and_metadata_are_its_job_options_not_model_inputs():
    manifest = parse_manifest(one_item(priority=1, metadata={"rarity": "epic", "set": 3}), kind="yaml")

    (item,) = manifest.items
    assert (item.priority, item.metadata) == (1, {"rarity": "epic", "set": 3})
    assert "priority" not in item.request.inputs and "metadata" not in item.request.inputs
    plain = parse_manifest(one_item(), kind="yaml").items[0]
    assert (plain.priority, plain.metadata) == (5, {})
    assert item.key("b") == plain.key("b")  # options ask nothing different of Scenario


def test_a_csv_rows_priority_is_read_as_a_number():
    manifest = parse_manifest("name,prompt,priority\nshield,a shield icon,2\n", kind="csv", batch_name="b")

    assert manifest.items[0].priority == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"priority": 12}, "priority", "must be a whole number from 0 to 9, got 12"),
        ({"priority": "high"}, "priority", "must be a whole number from 0 to 9, got 'high'"),
        ({"metadata": ["a"]}, "metadata", "must be a mapping, got list"),
    ],
)
def test_a_wrong_item_option_is_reported_on_its_line_naming_it(fields, field, message):
    (problem,) = problems_of(one_item(**fields))

    assert (problem.line, problem.item, problem.field, problem.message) == (5, "a", field, message)
