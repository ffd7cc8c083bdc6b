import shutil
from pathlib import Path

import numpy as np
import pytest

from .servers import postgres_server  # noqa: F401 (a fixture for every test package)

DATA = Path(__file__).parent / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that need espeak-ng/sox or Chromium must not pass by skipping in CI.
    import os

    if os.environ.get("CI"):
        return
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    for item in items:
        if missing and "speech" in item.fixturenames:
            item.add_marker(pytest.mark.skip(reason=f"{missing} not installed"))


@pytest.fixture(scope="session")
def speech() -> dict[str, tuple[np.ndarray, str]]:
    """Synthesised test speech (48 kHz mono) with its text, made once per run."""
    from client.speech import synthesize

    lines = {
        "report": "The quarterly report is ready for review. We shipped the new build to the "
        "testing team this morning. Please send the meeting notes to everyone before Friday.",
        "ada": "Good morning everyone. The budget for next year is finally approved.",
        "bob": "That is great news. I will tell the design team this afternoon.",
        "ada2": "Thank you. Please book the large room for the planning meeting.",
        "bob2": "Sure, I will send the invitation after lunch.",
    }
    voices = {
        "report": "en-us",
        "ada": "en-us",
        "ada2": "en-us",
        "bob": "en-gb+m3",
        "bob2": "en-gb+m3",
    }
    return {key: (synthesize(text, voice=voices[key]), text) for key, text in lines.items()}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Kyutai STT checkpoint in the real on-disk format, written by the operator
    script (the same code path as a real checkpoint from then on)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("kyutai") / "tiny"
    script = Path(__file__).parent.parent / "scripts" / "make_tiny_kyutai_checkpoint.py"
    subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    return out
