"""The models the simulated account can see, and what a generation on each costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.simulator import model_inputs as mi
from worker.simulator.timefmt import iso_ms

# Stands for the owner of the configured API key; swapped for the real owner id on output.
YOU = "@you"
OTHER_TEAM_OWNER = "team_other0000000000000"
SCENARIO_OWNER = "scenario"
_CREATED_AT = iso_ms(1_735_689_600.0)  # 2025-01-01, fixed so answers are stable
# Job types that are inferences, the only ones a cancel may stop.
CANCELABLE_JOB_TYPES = frozenset({"flux", "inference", "custom"})
# What each output kind is served as: (mime type, file extension).
OUTPUTS = {"image": ("image/png", "png"), "audio": ("audio/wav", "wav"), "3d": ("model/gltf-binary", "glb")}
# Image sizes the service refuses unless a multiple of this, beyond the published schema.
SIZE_STEP_PX = 8
_IMAGE_WHOLE = frozenset({"numSamples", "width", "height", "numInferenceSteps"})


@dataclass(frozen=True)
class Model:
    """One model: what GET /models answers and how its generations behave."""

    id: str
    name: str
    type: str
    job_type: str
    owner: str
    custom: bool
    privacy: str
    default_steps: int = 28
    default_guidance: float = 3.5
    # Image models: creative units for one 1024x1024 sample at the default steps. Others: fixed_cu per job.
    base_cu: int = 0
    fixed_cu: int = 0
    training_images: int = 0
    output: str = "image"
    capabilities: tuple[str, ...] = ("txt2img",)
    inputs: tuple[dict[str, Any], ...] = ()
    # Number inputs that must be whole numbers, and those that must be multiples of SIZE_STEP_PX.
    whole_numbers: frozenset[str] = field(default=frozenset())
    multiples_of_step: frozenset[str] = field(default=frozenset())

    @property
    def cancelable(self) -> bool:
        return self.job_type in CANCELABLE_JOB_TYPES

    @property
    def is_text_to_image(self) -> bool:
        return "txt2img" in self.capabilities

    def visible_to(self, owner_id: str) -> bool:
        return self.privacy == "public" or self.owner in (YOU, owner_id)

    def takes(self, name: str) -> bool:
        return any(d["name"] == name for d in self.inputs)

    def to_json(self, owner_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "status": "trained",
            "capabilities": list(self.capabilities),
            "inputs": [dict(d) for d in self.inputs],
            "source": "scenario",
            "privacy": self.privacy,
            "custom": self.custom,
            "tags": [],
            "collectionIds": [],
            "exampleAssetIds": [],
            "trainingImagesNumber": self.training_images,
            "ownerId": owner_id if self.owner == YOU else self.owner,
            "authorId": owner_id if self.owner == YOU else self.owner,
            "createdAt": _CREATED_AT,
            "updatedAt": _CREATED_AT,
        }


def _image_model(
    model_id: str, name: str, type_: str, owner: str, privacy: str, steps: int, guidance: float, base_cu: int, **kw: Any
) -> Model:
    return Model(
        model_id,
        name,
        type_,
        "flux",
        owner,
        owner != SCENARIO_OWNER,
        privacy,
        steps,
        guidance,
        base_cu,
        inputs=mi.image_inputs(default_guidance=guidance, default_steps=steps),
        whole_numbers=_IMAGE_WHOLE,
        multiples_of_step=frozenset({"width", "height"}),
        **kw,
    )


CATALOGUE: dict[str, Model] = {
    m.id: m
    for m in (
        _image_model("flux.1-dev", "Flux.1 [dev]", "flux.1", SCENARIO_OWNER, "public", 28, 3.5, 10),
        _image_model("flux.1-schnell", "Flux.1 [schnell]", "flux.1", SCENARIO_OWNER, "public", 4, 0.0, 3),
        _image_model(
            "model_scenario-game-icons", "Game icons", "flux.1-lora", YOU, "private", 28, 3.5, 12, training_images=24
        ),
        _image_model(
            "model_private-other-team",
            "Another team's style",
            "flux.1-lora",
            OTHER_TEAM_OWNER,
            "private",
            28,
            3.5,
            12,
            training_images=30,
        ),
        Model(
            "model_upscale",
            "Upscale",
            "upscale",
            "upscale",
            SCENARIO_OWNER,
            False,
            "public",
            fixed_cu=5,
            capabilities=("upscale",),
            inputs=mi.UPSCALE_INPUTS,
        ),  # fmt: skip
        Model(
            "model_edit",
            "Image edit",
            "flux.1-kontext",
            "inference",
            SCENARIO_OWNER,
            False,
            "public",
            fixed_cu=8,
            capabilities=("img2img", "inpaint"),
            inputs=mi.EDIT_INPUTS,
        ),  # fmt: skip
        Model(
            "model_audio-sfx",
            "Sound effects",
            "audio",
            "custom",
            SCENARIO_OWNER,
            False,
            "public",
            fixed_cu=4,
            output="audio",
            capabilities=("txt2audio",),
            inputs=mi.AUDIO_INPUTS,
        ),  # fmt: skip
        Model(
            "model_3d-mesh",
            "Image to 3D",
            "3d",
            "image-to-3d",
            SCENARIO_OWNER,
            False,
            "public",
            fixed_cu=20,
            output="3d",
            capabilities=("img23d",),
            inputs=mi.MESH_INPUTS,
        ),  # fmt: skip
    )
}


def cost_cu(model: Model, num_samples: int, width: int, height: int, steps: int) -> int:
    """Creative units: base_cu x samples x megapixels x steps / default steps, rounded up, at least 1."""
    numerator = model.base_cu * num_samples * width * height * steps
    denominator = 1024 * 1024 * model.default_steps
    return max(1, -(-numerator // denominator))


def cost_of(model: Model, inputs: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(creative units, their details) for a generation with these inputs (defaults applied)."""
    if not model.base_cu:
        return model.fixed_cu, {"fixedCu": model.fixed_cu}
    samples, width, height = int(inputs["numSamples"]), int(inputs["width"]), int(inputs["height"])
    steps = int(inputs["numInferenceSteps"])
    details = {"baseCu": model.base_cu, "numSamples": samples, "width": width, "height": height, "steps": steps}
    return cost_cu(model, samples, width, height, steps), details
