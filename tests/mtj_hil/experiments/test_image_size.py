"""An image size beside a data set whose images are not down-sampled (digits) is refused,
not ignored: by the library's settings, the commands and (tests/mtj_hil/campaigns) the
campaign files, all through ``check_image_size``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.experiments.borders import BordersConfig
from mtj_hil.experiments.single import TrainSpec


def test_settings_refuse_an_image_size_digits_would_ignore() -> None:
    with pytest.raises(ConfigError, match="image_size = 20 works with the mnist5k and idx"):
        BordersConfig(dataset="digits", image_size=20)
    with pytest.raises(ConfigError, match="--image-size 12 works with the mnist5k and idx"):
        TrainSpec(method="unaware", die=0, out=Path("x.h5"), dataset="digits", image_size=12)
    assert BordersConfig(dataset="mnist5k", image_size=20).image_size == 20
    assert BordersConfig(dataset="digits").image_size == 10  # the default is no request


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--method", "unaware", "--die", "0", "--out", "{out}"],
        ["experiment", "borders", "--dies", "1", "--out-dir", "{out}"],
    ],
)
@pytest.mark.parametrize("size", ["20", "10"])  # typed, the default is a request too
def test_commands_refuse_image_size_with_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], size: str
) -> None:
    out = tmp_path / "out"
    args = [a.format(out=out) for a in command]
    assert main([*args, "--dataset", "digits", "--image-size", size]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"--image-size {size} works with the mnist5k and idx data sets only" in err
    assert not out.exists()


@pytest.mark.parametrize("size", [-3, 0, 3, 29, 2.5, "x", 10**6])
def test_settings_refuse_an_image_size_the_commands_refuse(size) -> None:
    """TrainSpec and BordersConfig took any image size (0, 2.5, a million) the commands'
    range 4..28 refuses; one range (experiments.data) serves them all."""
    with pytest.raises(ConfigError, match=r"image.size"):
        TrainSpec(method="unaware", die=0, out=Path("x.h5"), image_size=size)
    with pytest.raises(ConfigError, match=r"image_size"):
        BordersConfig(image_size=size)
