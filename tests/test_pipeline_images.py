"""The committed pipeline maps are what tools/pipeline_svg.py draws (run it after changing a stage)."""

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_tool():
    spec = importlib.util.spec_from_file_location("pipeline_svg", REPO_ROOT / "tools" / "pipeline_svg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_pipeline_images_are_current():
    tool = load_tool()
    for name, text in tool.images().items():
        path = REPO_ROOT / "notebooks" / "images" / name
        assert path.exists() and path.read_text() == text, f"{path} is stale: run python tools/pipeline_svg.py"


def test_each_lesson_highlights_its_own_stages():
    tool = load_tool()
    for lesson, stages in tool.LESSONS.items():
        drawn = tool.images()[f"pipeline-{lesson}.svg"]
        assert drawn.count('fill="#ff9900"') == len(stages) and f"Notebook {lesson}: you are here" in drawn
