"""The models the simulated account can see, and what a generation on each costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.simulator.timefmt import iso_ms

# Stands for the owner of the configured API key; swapped for the real owner id on output.
YOU = "@you"
OTHER_TEAM_OWNER = "team_other0000000000000"
SCENARIO_OWNER = "scenario"
_CREATED_AT = iso_ms(1_735_689_600.0)  # 2025-01-01, fixed so answers are stable


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
    default_steps: int
    default_guidance: float
    # Creative units for one 1024x1024 sample at the model's default number of steps.
    base_cu: int
    training_images: int = 0

    def visible_to(self, owner_id: str) -> bool:
        return self.privacy == "public" or self.owner in (YOU, owner_id)

    def to_json(self, owner_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "status": "trained",
            "capabilities": ["txt2img"],
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


CATALOGUE: dict[str, Model] = {
    m.id: m
    for m in (
        Model("flux.1-dev", "Flux.1 [dev]", "flux.1", "flux", SCENARIO_OWNER, False, "public", 28, 3.5, 10),
        Model("flux.1-schnell", "Flux.1 [schnell]", "flux.1", "flux", SCENARIO_OWNER, False, "public", 4, 0.0, 3),
        Model(
            "model_scenario-game-icons",
            "Game icons",
            "flux.1-lora",
            "flux",
            YOU,
            True,
            "private",
            28,
            3.5,
            12,
            training_images=24,
        ),
        Model(
            "model_private-other-team",
            "Another team's style",
            "flux.1-lora",
            "flux",
            OTHER_TEAM_OWNER,
            True,
            "private",
            28,
            3.5,
            12,
            training_images=30,
        ),
    )
}


def cost_cu(model: Model, num_samples: int, width: int, height: int, steps: int) -> int:
    """Creative units: base_cu x samples x megapixels x steps / default steps, rounded up, at least 1."""
    numerator = model.base_cu * num_samples * width * height * steps
    denominator = 1024 * 1024 * model.default_steps
    return max(1, -(-numerator // denominator))
