"""The rain model layer: the trained artifact and its model card, importable as a package.

On Lambda the layer is unpacked under /opt/python, so ``import raincast_model`` finds it;
in development pyproject.toml puts ``layers/model/python`` on the path. The artifact is
read by ``raincast.model.artifact.RainModel.load()`` (numpy only, no pickle).
"""

from pathlib import Path

ARTIFACT_DIR = Path(__file__).resolve().parent
METADATA_PATH = ARTIFACT_DIR / "rain_model.json"
ARRAYS_PATH = ARTIFACT_DIR / "rain_model.npz"
MODEL_CARD_PATH = ARTIFACT_DIR / "MODEL_CARD.md"
